/**
 * Floats a message's popover (menu, reaction row, emoji picker) over the message list. It goes
 * into the top layer (Popover API), so the virtualised list's transformed, scrolling rows neither
 * clip it nor grow by it (rows are measured); it follows its anchor while the list scrolls or it
 * resizes itself, and a press outside it dismisses it.
 */
import type { Attachment } from 'svelte/attachments';

export interface Point {
	x: number;
	y: number;
}

export interface FloatingOptions {
	anchor: HTMLElement;
	/** A long-press or right-click: the popover opens there, moving with the anchor. */
	point?: Point | null;
	/** Line the popover up with the anchor's right edge (our own messages, on the right). */
	alignEnd?: boolean;
	/** The button that toggles the popover: pressing it is not "outside" (its click closes it). */
	trigger?: HTMLElement | null;
	/** A press, or focus, outside the popover. */
	ondismiss: () => void;
	/** Shown and placed: the moment focus can move in (a hidden popover cannot take it). */
	onopen?: (node: HTMLElement) => void;
}

const MARGIN = 8;
const GAP = 4;

interface Box {
	top: number;
	bottom: number;
	left: number;
	right: number;
}

/** Below the anchor, or above when only that fits; always inside the viewport. */
export function place(
	anchor: Box,
	size: { width: number; height: number },
	viewport: { width: number; height: number },
	alignEnd: boolean
) {
	let top = anchor.bottom + GAP;
	if (top + size.height > viewport.height - MARGIN && anchor.top - GAP - size.height >= MARGIN) top = anchor.top - GAP - size.height;
	const left = alignEnd ? anchor.right - size.width : anchor.left;
	const clamp = (v: number, max: number) => Math.max(MARGIN, Math.min(v, max - MARGIN));
	return { top: clamp(top, viewport.height - size.height), left: clamp(left, viewport.width - size.width) };
}

export function floating(options: FloatingOptions): Attachment<HTMLElement> {
	return (node) => {
		const { anchor, point, alignEnd = false, trigger, ondismiss, onopen } = options;
		// A point is kept relative to the anchor, so it scrolls with the message.
		const start = anchor.getBoundingClientRect();
		const offset = point ? { x: point.x - start.left, y: point.y - start.top } : null;

		const update = () => {
			const rect = anchor.getBoundingClientRect();
			const box = offset
				? { top: rect.top + offset.y, bottom: rect.top + offset.y, left: rect.left + offset.x, right: rect.left + offset.x }
				: rect;
			const at = place(
				box,
				{ width: node.offsetWidth, height: node.offsetHeight },
				{ width: document.documentElement.clientWidth, height: window.innerHeight },
				alignEnd
			);
			node.style.left = `${at.left}px`;
			node.style.top = `${at.top}px`;
		};

		const outside = (target: EventTarget | null) =>
			target instanceof Node && !node.contains(target) && !(trigger && trigger.contains(target));
		const onpointerdown = (event: PointerEvent) => {
			if (outside(event.target)) ondismiss();
		};
		const onfocusout = (event: FocusEvent) => {
			// relatedTarget is null when focus merely leaves the page or a focused item is removed.
			if (outside(event.relatedTarget)) ondismiss();
		};

		// Without the Popover API (old browsers, jsdom) it still works as a fixed-position box.
		const popover = typeof node.showPopover === 'function';
		if (popover) node.showPopover();
		update();
		const resized = new ResizeObserver(update);
		resized.observe(node);
		document.addEventListener('scroll', update, { capture: true, passive: true });
		window.addEventListener('resize', update);
		document.addEventListener('pointerdown', onpointerdown, true);
		node.addEventListener('focusout', onfocusout);
		onopen?.(node);
		return () => {
			resized.disconnect();
			document.removeEventListener('scroll', update, { capture: true });
			window.removeEventListener('resize', update);
			document.removeEventListener('pointerdown', onpointerdown, true);
			node.removeEventListener('focusout', onfocusout);
			if (popover && node.matches(':popover-open')) node.hidePopover();
		};
	};
}
