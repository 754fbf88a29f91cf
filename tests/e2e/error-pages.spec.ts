/**
 * Every error is a page of the app (issue 19, bug 8): an unknown conversation shows the signed-in
 * shell with a way back, an unknown address shows the app's own page, with or without JavaScript.
 */
import AxeBuilder from '@axe-core/playwright';
import { randomUUID } from 'node:crypto';
import { expect, test, type Page } from '@playwright/test';
import { E2E_ORIGIN } from '../../playwright.config';
import { signUp } from './helpers';

async function expectNoSeriousAxe(page: Page) {
	const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
	expect(result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
}

for (const javaScriptEnabled of [true, false]) {
	const how = javaScriptEnabled ? 'with JavaScript' : 'without JavaScript';

	test(`an unknown conversation keeps the shell and leads back to the list (${how})`, async ({ browser }) => {
		const me = await signUp(browser, 'lost', { javaScriptEnabled });
		for (const id of [randomUUID(), 'not-a-conversation']) {
			const response = await me.page.goto(`/c/${id}`);
			expect(response?.status()).toBe(404);
			const error = me.page.getByTestId('error-page');
			await expect(error).toHaveAttribute('data-status', '404');
			await expect(error.getByRole('heading', { level: 1 })).toHaveText('Not found');
			await expect(error).toContainText('There is no such conversation.');
			await expect(me.page.getByTestId('current-user')).toHaveText(me.username);
			await expect(me.page).toHaveTitle('Not found · Duet');
		}
		// axe runs as script in the page: only where the page runs script.
		if (javaScriptEnabled) await expectNoSeriousAxe(me.page);
		await me.page.getByRole('link', { name: 'Back to your conversations' }).click();
		await expect(me.page).toHaveURL(`${E2E_ORIGIN}/`);
		await expect(me.page.getByRole('heading', { name: 'Your conversations' })).toBeVisible();
		await me.context.close();
	});

	test(`an unknown address is the app's own page, with a way in (${how})`, async ({ browser }) => {
		const context = await browser.newContext({ baseURL: E2E_ORIGIN, javaScriptEnabled });
		const page = await context.newPage();
		const response = await page.goto('/no/such/page');
		expect(response?.status()).toBe(404);
		const error = page.getByTestId('error-page');
		await expect(error.getByRole('heading', { level: 1 })).toHaveText('Not found');
		// SvelteKit's own stand-in text adds nothing to the heading.
		await expect(error.locator('p')).toHaveCount(1);
		if (javaScriptEnabled) await expectNoSeriousAxe(page);
		await page.getByRole('link', { name: 'Go to Duet' }).click();
		await expect(page).toHaveURL(/\/login/);
		await context.close();
	});
}
