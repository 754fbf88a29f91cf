/**
 * Message search as people type it (issue 19): accents ignored both ways, results shown with and
 * without JavaScript, and the plain words of an empty result.
 */
import { randomUUID } from 'node:crypto';
import { expect, test } from '@playwright/test';
import { conversationWith, signUp, type Person } from './helpers';

async function say(person: Person, conversationId: string, bodies: string[]) {
	const clientId = randomUUID();
	for (const [i, body] of bodies.entries()) {
		const response = await person.context.request.post('/api/messages', {
			data: { id: randomUUID(), conversationId, clientId, clientSeq: i + 1, body }
		});
		expect(response.ok()).toBe(true);
	}
}

for (const javaScriptEnabled of [true, false]) {
	test(`search ignores accents and shows its results (${javaScriptEnabled ? 'with' : 'without'} JavaScript)`, async ({ browser }) => {
		const alice = await signUp(browser, 'alice');
		const bob = await signUp(browser, 'bob', { javaScriptEnabled });
		const id = await conversationWith(alice, bob);
		await say(alice, id, ['Héllo from the café', 'nothing to see here']);

		const page = bob.page;
		await page.goto('/search');
		const box = page.getByRole('searchbox', { name: 'Search messages' });
		await box.fill('hello cafe');
		await box.press('Enter');
		const results = page.getByTestId('search-result');
		await expect(results).toHaveCount(1);
		await expect(results).toContainText('Héllo from the café');
		// The matched words are marked where they are, accents and all.
		await expect(results.locator('mark')).toHaveText(['Héllo', 'café']);
		await expect(page.getByTestId('search-status')).toHaveText('1 message found.');

		await box.fill('zebracorn');
		await box.press('Enter');
		await expect(page.getByTestId('search-status')).toHaveText('No messages found.');
		await expect(results).toHaveCount(0);
		await alice.context.close();
		await bob.context.close();
	});
}
