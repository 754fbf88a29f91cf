import { expect, test } from '@playwright/test';

const PASSWORD = 'correct horse battery';

function username(prefix: string) {
	return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

test('register, sign out and sign in again in a real browser', async ({ page }) => {
	const name = username('pw');
	await page.goto('/');
	await expect(page).toHaveURL(/\/login$/);

	await page.getByRole('link', { name: 'Create an account' }).click();
	// Until the client-side navigation lands, the sign-in form is still the one on screen.
	await expect(page).toHaveURL(/\/register$/);
	await page.getByLabel('Username').fill(name);
	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByRole('button', { name: 'Create an account' }).click();
	await expect(page.getByTestId('current-user')).toHaveText(name);

	const cookies = await page.context().cookies();
	const session = cookies.find((c) => c.name === 'session');
	expect(session?.httpOnly).toBe(true);
	expect(session?.sameSite).toBe('Lax');

	await page.getByRole('button', { name: 'Sign out', exact: true }).click();
	await expect(page).toHaveURL(/\/login$/);
	await page.goto('/');
	await expect(page).toHaveURL(/\/login$/);

	await page.getByLabel('Username').fill(name);
	await page.getByLabel('Password').fill('wrong password!');
	await page.getByRole('button', { name: 'Sign in' }).click();
	await expect(page.getByRole('alert')).toHaveText('The username or password is incorrect.');

	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByRole('button', { name: 'Sign in' }).click();
	await expect(page.getByTestId('current-user')).toHaveText(name);
});

for (const path of ['/register', '/login'] as const) {
	test(`what is typed into ${path} before the page has started is kept through hydration`, async ({ page }) => {
		const name = username('early');
		if (path === '/login') {
			const made = await page.request.post('/api/auth/register', { data: { username: name, password: PASSWORD } });
			expect(made.status()).toBe(201);
			await page.context().clearCookies();
		}
		// Hold the app's scripts until the form is filled: hydration then finds input it did not render.
		let release = () => {};
		const held = new Promise<void>((resolve) => (release = resolve));
		await page.route('**/_app/immutable/**/*.js', async (route) => {
			await held;
			await route.continue();
		});
		await page.goto(path, { waitUntil: 'domcontentloaded' });
		await page.getByLabel('Username').fill(name);
		await page.getByLabel('Password').fill(PASSWORD);
		release();
		// Every script fetched and run: hydration has had its chance to overwrite the fields.
		await page.waitForLoadState('networkidle');
		await expect(page.getByLabel('Username')).toHaveValue(name);
		await expect(page.getByLabel('Password')).toHaveValue(PASSWORD);
		await page.getByRole('button', { name: path === '/login' ? 'Sign in' : 'Create an account' }).click();
		await expect(page.getByTestId('current-user')).toHaveText(name);
	});
}

test.describe('without JavaScript', () => {
	test.use({ javaScriptEnabled: false });

	test('the forms work as plain HTML', async ({ page }) => {
		const name = username('nojs');
		await page.goto('/register');
		await page.getByLabel('Username').fill(name);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create an account' }).click();
		await expect(page.getByTestId('current-user')).toHaveText(name);
	});
});
