/**
 * A message body as the HTML the bubble shows: parsed to the formatting subset, then sanitised. The
 * chat route loads this module on demand (it carries markdown-it and DOMPurify); until then, and on
 * the server, the body is shown as plain text.
 */
import { renderMarkdown } from './markdown';
import { sanitize } from './sanitize';

export function formatMessage(text: string): string {
	return sanitize(renderMarkdown(text));
}
