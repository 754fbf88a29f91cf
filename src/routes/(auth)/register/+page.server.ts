import { authPage } from '$lib/server/form';
import type { Actions, PageServerLoad } from './$types';

const page = authPage('register');

export const load: PageServerLoad = page.load;
export const actions: Actions = page.actions;
