/**
 * A message's popovers and its delete dialog, loaded the first time any message is hovered,
 * focused or long-pressed: nobody needs them to read a chat, so the chat's first load skips them.
 */
export { default as ConfirmDelete } from './ConfirmDelete.svelte';
export { default as EmojiPicker } from './EmojiPicker.svelte';
export { default as MessageMenu } from './MessageMenu.svelte';
export { default as QuickReactions } from './QuickReactions.svelte';
