import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import type { Executor } from '../db';
import { createPreviews } from '.';

const previewsWith = (env: Record<string, string>) => createPreviews(loadConfig(env), {} as Executor);

describe('createPreviews', () => {
	it('is off with PREVIEWS=off', () => {
		expect(previewsWith({ PREVIEWS: 'off' })).toBeUndefined();
	});

	it('has a guard letting through only the test setting’s hosts', () => {
		const previews = previewsWith({ PREVIEW_ALLOW_PRIVATE_HOSTS: '127.0.0.1:8080, Localhost:9000' });
		expect([...(previews?.guard.allow ?? [])]).toEqual(['127.0.0.1:8080', 'localhost:9000']);
		expect([...(previewsWith({})?.guard.allow ?? ['x'])]).toEqual([]);
	});

	it('previews nothing that is not an http(s) link, without touching the database', async () => {
		const previews = previewsWith({});
		for (const url of ['mailto:a@b.example', 'javascript:alert(1)', 'not a link']) expect(await previews?.forMessage('u', url)).toBeNull();
	});
});
