import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import type { Services } from '../services';
import { previewsOf } from '.';

const servicesWith = (env: Record<string, string>) => ({ config: loadConfig(env), database: { db: {} } }) as unknown as Services;

describe('previewsOf', () => {
	it('is off with PREVIEWS=off', () => {
		expect(previewsOf(servicesWith({ PREVIEWS: 'off' }))).toBeUndefined();
	});

	it('is one per process, its guard letting through only the test setting’s hosts', () => {
		const services = servicesWith({ PREVIEW_ALLOW_PRIVATE_HOSTS: '127.0.0.1:8080, Localhost:9000' });
		const previews = previewsOf(services);
		expect(previews).toBe(previewsOf(services));
		expect([...(previews?.guard.allow ?? [])]).toEqual(['127.0.0.1:8080', 'localhost:9000']);
		expect([...(previewsOf(servicesWith({}))?.guard.allow ?? ['x'])]).toEqual([]);
	});

	it('previews nothing for a text without an http(s) link, without touching the database', async () => {
		const previews = previewsOf(servicesWith({}));
		expect(await previews?.forText('no link, `https://in.code.example/`, mailto:a@b.example')).toBeNull();
	});
});
