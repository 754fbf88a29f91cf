import { expect, test } from '@playwright/test';
import { conversationWith, localBodies, signUp, waitLive } from './helpers';

test('a new conversation shows the peer online in both headers without a reload', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	// Both are connected before the conversation exists, so neither was the other's peer then.
	await alice.page.goto('/');
	await bob.page.goto('/');
	await waitLive(alice.page);
	await waitLive(bob.page);

	await alice.page.getByLabel('Find people by username').fill(bob.username);
	await alice.page.getByRole('button', { name: `Chat with ${bob.username}` }).click();
	await expect(alice.page.getByRole('heading', { name: bob.username })).toBeVisible();
	await expect(alice.page.getByTestId('presence')).toHaveText('online');

	await bob.page.getByTestId('conversation').filter({ hasText: alice.username }).click();
	await expect(bob.page.getByRole('heading', { name: alice.username })).toBeVisible();
	await expect(bob.page.getByTestId('presence')).toHaveText('online');
});

test('typing shows again right after a send, and ends as soon as the text is cleared', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	// Alice's page runs on a clock the test holds: no "typing…" can expire there by itself, so
	// whatever ends it is an event from Bob.
	await alice.context.clock.install();
	// What reached Alice, in order: the page shows the last word of it, this shows the sequence.
	const heard: { type: string; message?: { body: string } }[] = [];
	alice.page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => heard.push(JSON.parse(String(payload)))));
	const heardAfter = (body: string) => {
		const at = heard.findIndex((f) => f.type === 'message' && f.message?.body === body);
		return at < 0 ? [] : heard.slice(at + 1).map((f) => f.type);
	};
	await alice.page.goto(`/c/${id}`);
	await bob.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	await waitLive(bob.page);
	await alice.context.clock.pauseAt((await alice.page.evaluate(() => Date.now())) + 1_000);
	const typing = alice.page.getByTestId('typing');
	const box = bob.page.getByLabel('Message', { exact: true });

	// Typed, sent, and typing again at once: well within the half second in which the server
	// forwards one typing, and quicker than the message can be stored and committed.
	await box.pressSequentially('ok');
	await box.press('Enter');
	await box.press('a');
	await expect.poll(() => localBodies(alice.page, alice, id)).toEqual(['ok']);
	// "ok" ended the first typing; the second one comes after it, so it shows.
	await expect.poll(() => heardAfter('ok')).toContain('typing');
	await expect(typing).toHaveText(`${bob.username} is typing…`);

	await box.pressSequentially('nd then');
	await box.fill('');
	await expect.poll(() => heardAfter('ok')).toContain('typing_stopped');
	await expect(typing).toHaveText('');
});

test('while this device is not live the peer is not shown online; back live, it is again', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await bob.page.goto('/');
	await waitLive(bob.page);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	const presence = alice.page.getByTestId('presence');
	await expect(presence).toHaveText('online');

	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-state', 'offline');
	// What is known: Bob was there until the connection went.
	await expect(presence).toHaveText('last seen just now');

	await alice.context.setOffline(false);
	await waitLive(alice.page);
	await expect(presence).toHaveText('online');
});
