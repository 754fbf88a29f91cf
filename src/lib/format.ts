/** Display formatting shared by server-rendered and client-rendered views. */

/** "14:05" today, "Mon" this week, "3 Mar" before that. */
export function shortTime(iso: string, now = new Date()): string {
	const date = new Date(iso);
	if (Number.isNaN(date.getTime())) return '';
	const sameDay = date.toDateString() === now.toDateString();
	if (sameDay) return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
	const ageDays = (now.getTime() - date.getTime()) / 86_400_000;
	if (ageDays < 6) return date.toLocaleDateString([], { weekday: 'short' });
	return date.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

function clockTime(iso: string): string {
	const date = new Date(iso);
	return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function lastSeen(iso: string | null, now = new Date()): string {
	if (!iso) return 'offline';
	const minutes = Math.round((now.getTime() - new Date(iso).getTime()) / 60_000);
	if (minutes < 1) return 'last seen just now';
	if (minutes < 60) return `last seen ${minutes} min ago`;
	return `last seen ${shortTime(iso, now)}`;
}

/** "just now", "5 min ago" within the hour, then the clock time; the exact time goes in a title. */
export function relativeTime(iso: string, now = new Date()): string {
	const date = new Date(iso);
	if (Number.isNaN(date.getTime())) return '';
	const minutes = Math.floor((now.getTime() - date.getTime()) / 60_000);
	if (minutes < 1) return 'just now';
	if (minutes < 60) return `${minutes} min ago`;
	return clockTime(iso);
}

export function exactTime(iso: string): string {
	const date = new Date(iso);
	return Number.isNaN(date.getTime()) ? '' : date.toLocaleString([], { dateStyle: 'full', timeStyle: 'medium' });
}

/** Local calendar day, to group messages under day separators. */
export function dayKey(iso: string): string {
	const d = new Date(iso);
	return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** "Today", "Yesterday", "Monday" this week, else "3 March 2026". */
export function dayLabel(iso: string, now = new Date()): string {
	const date = new Date(iso);
	if (Number.isNaN(date.getTime())) return '';
	const startOf = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
	const days = Math.round((startOf(now) - startOf(date)) / 86_400_000);
	if (days === 0) return 'Today';
	if (days === 1) return 'Yesterday';
	if (days > 1 && days < 7) return date.toLocaleDateString([], { weekday: 'long' });
	return date.toLocaleDateString([], { day: 'numeric', month: 'long', year: 'numeric' });
}

/** How a conversation's peer is named: a deleted account has no name worth showing any more. */
export function peerName(peer: { username: string; deleted?: boolean }): string {
	return peer.deleted ? 'Deleted account' : peer.username;
}
