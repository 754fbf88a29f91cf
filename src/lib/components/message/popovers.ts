/**
 * What a message shows only once the user acts on it (menu, quick reactions, picker, delete
 * confirmation), loaded on first use so the chat's first load carries none of it.
 */
export { default as ConfirmDelete } from './ConfirmDelete.svelte';
export { default as EmojiPicker } from './EmojiPicker.svelte';
export { default as MessageMenu } from './MessageMenu.svelte';
export { default as QuickReactions } from './QuickReactions.svelte';
