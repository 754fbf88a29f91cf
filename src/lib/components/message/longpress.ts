/**
 * Long-press on touch screens, where there is no hover: holding a finger still for a moment
 * opens the message menu, as in the phone apps. Moving the finger (a scroll) cancels it, and the
 * click that follows a long-press is swallowed so it does not also activate what was under it.
 */
import type { Attachment } from 'svelte/attachments';
import type { Point } from './floating';

const HOLD_MS = 450;
const SLOP_PX = 10;

export function longPress(onpress: (point: Point) => void): Attachment<HTMLElement> {
	return (node) => {
		let timer: ReturnType<typeof setTimeout> | undefined;
		let start: Point = { x: 0, y: 0 };
		let fired = false;

		const cancel = () => {
			clearTimeout(timer);
			timer = undefined;
		};
		const up = () => {
			cancel();
			// A click does not always follow (the finger lifted over the opened menu): do not swallow a later one.
			if (fired) setTimeout(() => (fired = false), 400);
		};
		const down = (event: PointerEvent) => {
			if (event.pointerType !== 'touch' || !event.isPrimary) return;
			fired = false;
			start = { x: event.clientX, y: event.clientY };
			cancel();
			timer = setTimeout(() => {
				timer = undefined;
				fired = true;
				onpress(start);
			}, HOLD_MS);
		};
		const move = (event: PointerEvent) => {
			if (timer !== undefined && Math.hypot(event.clientX - start.x, event.clientY - start.y) > SLOP_PX) cancel();
		};
		const click = (event: MouseEvent) => {
			if (!fired) return;
			fired = false;
			event.preventDefault();
			event.stopPropagation();
		};

		node.addEventListener('pointerdown', down);
		node.addEventListener('pointermove', move);
		node.addEventListener('pointerup', up);
		node.addEventListener('pointercancel', cancel);
		node.addEventListener('click', click, true);
		return () => {
			cancel();
			node.removeEventListener('pointerdown', down);
			node.removeEventListener('pointermove', move);
			node.removeEventListener('pointerup', up);
			node.removeEventListener('pointercancel', cancel);
			node.removeEventListener('click', click, true);
		};
	};
}
