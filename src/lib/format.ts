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

export function clockTime(iso: string): string {
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
