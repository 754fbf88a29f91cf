import { expect, test } from '@playwright/test';
import { bodies, conversationWith, messageWith, send, serverBodies, signUp, waitLive } from './helpers';

test('two people chat both ways in real time, with typing and server-rendered history', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');

	// Alice finds Bob through the search box and starts the chat.
	await alice.page.goto('/');
	await alice.page.getByLabel('Find people by username').fill(bob.username);
	await alice.page.getByRole('button', { name: `Chat with ${bob.username}` }).click();
	await expect(alice.page).toHaveURL(/\/c\/[0-9a-f-]{36}$/);
	const id = alice.page.url().split('/c/')[1];
	await expect(alice.page.getByRole('heading', { name: bob.username })).toBeVisible();

	await bob.page.goto('/');
	await expect(bob.page.getByTestId('conversation').filter({ hasText: alice.username })).toBeVisible();
	await bob.page.getByTestId('conversation').filter({ hasText: alice.username }).click();
	await expect(bob.page).toHaveURL(`/c/${id}`);
	await waitLive(alice.page);
	await waitLive(bob.page);
	await expect(bob.page.getByTestId('presence')).toHaveText(/online/);

	await send(alice.page, 'Hello Bob');
	await expect(messageWith(bob.page, 'Hello Bob')).toBeVisible();
	await expect(messageWith(alice.page, 'Hello Bob')).toHaveAttribute('data-status', /sent|delivered|read/);

	// Bob types: Alice sees it, and it goes away when his message lands.
	await bob.page.getByLabel('Message', { exact: true }).pressSequentially('Hi Al');
	await expect(alice.page.getByTestId('typing')).toHaveText(`${bob.username} is typing…`);
	await bob.page.getByLabel('Message', { exact: true }).press('Enter');
	await expect(messageWith(alice.page, 'Hi Al')).toBeVisible();
	await expect(alice.page.getByTestId('typing')).toHaveText('');

	// Both were looking: Alice's message ends up read.
	await expect(messageWith(alice.page, 'Hello Bob')).toHaveAttribute('data-status', 'read');

	// The history is in the server-rendered HTML, and a reload shows it in order.
	const html = await (await bob.context.request.get(`/c/${id}`)).text();
	expect(html).toContain('Hello Bob');
	expect(html).toContain('Hi Al');
	await bob.page.reload();
	await expect(bodies(bob.page)).toHaveText(['Hello Bob', 'Hi Al']);
	expect(await serverBodies(alice, id)).toEqual(['Hello Bob', 'Hi Al']);

	await alice.context.close();
	await bob.context.close();
});

test('the sender sees sending, then sent once the server acks', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);

	// Hold Alice's sends between her page and the server until the test lets them through.
	const held: string[] = [];
	let forward: ((message: string) => void) | null = null;
	await alice.page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
		const server = ws.connectToServer();
		forward = (message) => server.send(message);
		ws.onMessage((message) => {
			if (JSON.parse(String(message)).type === 'send') held.push(String(message));
			else server.send(message);
		});
	});

	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	await send(alice.page, 'Are you there?');
	await expect(messageWith(alice.page, 'Are you there?')).toHaveAttribute('data-status', 'sending');
	await expect.poll(() => held.length).toBe(1);

	for (const message of held.splice(0)) forward!(message);
	await expect(messageWith(alice.page, 'Are you there?')).toHaveAttribute('data-status', 'sent');
	await expect(messageWith(alice.page, 'Are you there?')).toHaveCount(1);

	await alice.context.close();
	await bob.context.close();
});

test.describe('without JavaScript', () => {
	test('a message can be sent from the plain HTML form', async ({ browser }) => {
		const carol = await signUp(browser, 'carol', { javaScriptEnabled: false });
		const dave = await signUp(browser, 'dave');
		const id = await conversationWith(dave, carol);
		await dave.page.goto(`/c/${id}`);
		await waitLive(dave.page);

		// Search and open the chat with plain forms, too.
		await carol.page.goto(`/?q=${dave.username}`);
		await carol.page.getByRole('button', { name: `Chat with ${dave.username}` }).click();
		await expect(carol.page).toHaveURL(`/c/${id}`);

		await carol.page.getByLabel('Message', { exact: true }).fill('Sent without JavaScript');
		await carol.page.getByRole('button', { name: 'Send' }).click();
		await expect(carol.page).toHaveURL(`/c/${id}`);
		await expect(bodies(carol.page)).toHaveText(['Sent without JavaScript']);
		await expect(messageWith(dave.page, 'Sent without JavaScript')).toBeVisible();

		// The same rendered form posted twice (a resubmit) stores one message.
		const formId = await carol.page.locator('input[name="id"]').inputValue();
		for (let i = 0; i < 2; i++) {
			const response = await carol.context.request.post(`/c/${id}?/send`, { form: { id: formId, body: 'Posted twice' } });
			expect(response.ok()).toBe(true);
		}
		expect(await serverBodies(dave, id)).toEqual(['Sent without JavaScript', 'Posted twice']);

		// Never live without JavaScript, and it says so instead of "Reconnecting…" forever.
		await expect(carol.page.getByTestId('connection-badge-noscript')).toHaveText(/Not live/);
		await expect(carol.page.getByTestId('connection-badge')).toBeHidden();
		// Two messages: the start of the conversation, no button that cannot work.
		await expect(carol.page.getByText(`This is the start of your conversation with ${dave.username}.`)).toBeVisible();
		await expect(carol.page.getByText('Load older messages')).toHaveCount(0);

		await carol.context.close();
		await dave.context.close();
	});

	test('older messages are a link to the server’s page before them', async ({ browser }) => {
		const carol = await signUp(browser, 'carol', { javaScriptEnabled: false });
		const dave = await signUp(browser, 'dave');
		const id = await conversationWith(dave, carol);
		const clientId = crypto.randomUUID();
		for (let seq = 1; seq <= 60; seq++) {
			const response = await dave.context.request.post('/api/messages', {
				data: { id: crypto.randomUUID(), conversationId: id, clientId, clientSeq: seq, body: `old news ${seq}` }
			});
			expect(response.ok()).toBe(true);
		}
		await carol.page.goto(`/c/${id}`);
		await expect(bodies(carol.page).first()).toHaveText('old news 11');
		await carol.page.getByRole('link', { name: 'Load older messages' }).click();
		await expect(bodies(carol.page).first()).toHaveText('old news 1');
		await expect(carol.page.getByText(`This is the start of your conversation with ${dave.username}.`)).toBeVisible();
		await carol.context.close();
		await dave.context.close();
	});
});

test('scrolling up pages back through older history', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	const clientId = crypto.randomUUID();
	const all = Array.from({ length: 75 }, (_, i) => `old ${i + 1}`);
	for (const [i, body] of all.entries()) {
		const response = await alice.context.request.post('/api/messages', {
			data: { id: crypto.randomUUID(), conversationId: id, clientId, clientSeq: i + 1, body }
		});
		expect(response.ok()).toBe(true);
	}

	await bob.page.goto(`/c/${id}`);
	await waitLive(bob.page);
	// The list is virtualised: it holds every loaded message (data-count) but renders only a window.
	const list = bob.page.getByTestId('messages');
	await expect(list).toHaveAttribute('data-count', '50');
	await expect(bodies(bob.page).last()).toHaveText('old 75');

	await bob.page.getByTestId('messages-scroller').evaluate((scroller) => scroller.scrollTo({ top: 0 }));
	await expect(list).toHaveAttribute('data-count', '75');
	await bob.page.getByTestId('messages-scroller').evaluate((scroller) => scroller.scrollTo({ top: 0 }));
	await expect(bodies(bob.page).first()).toHaveText('old 1');
	await expect(bob.page.getByRole('button', { name: 'Load older messages' })).toHaveCount(0);
	// Every body is there, in order, read through the window as it scrolls down.
	const seen = await bob.page.getByTestId('messages-scroller').evaluate(async (scroller) => {
		const found = new Map<number, string>();
		for (let top = 0; top <= scroller.scrollHeight; top += scroller.clientHeight / 2) {
			scroller.scrollTop = top;
			await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
			for (const el of scroller.querySelectorAll<HTMLElement>('[data-testid="message"]')) {
				found.set(Number(el.dataset.seq), el.querySelector('[data-testid="message-body"]')!.textContent!);
			}
		}
		return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, body]) => body);
	});
	expect(seen).toEqual(all);

	await alice.context.close();
	await bob.context.close();
});

test('a name typed into "Start a chat" before the page has hydrated is kept and searched', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	// Hold the app's scripts until the name is typed: hydration then finds text it did not render.
	let release = () => {};
	const held = new Promise<void>((resolve) => (release = resolve));
	await alice.page.route('**/_app/immutable/**/*.js', async (route) => {
		await held;
		await route.continue();
	});
	await alice.page.goto('/', { waitUntil: 'domcontentloaded' });
	await alice.page.getByLabel('Find people by username').fill(bob.username);
	release();
	await waitLive(alice.page);
	await expect(alice.page.getByLabel('Find people by username')).toHaveValue(bob.username);
	await alice.page.getByRole('button', { name: `Chat with ${bob.username}` }).click();
	await expect(alice.page.getByRole('heading', { name: bob.username })).toBeVisible();
});
