/**
 * Draws the app icons (static/icons/*.png) from the same shapes as static/favicon.svg: our own art,
 * no rasteriser dependency. Run after changing the logo: `node scripts/icons.js`; the PNGs are
 * committed so a build needs nothing extra.
 */
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const INDIGO = [0x4f, 0x46, 0xe5];
const WHITE = [0xff, 0xff, 0xff];

function inRoundRect(x, y, x0, y0, x1, y1, r) {
	if (x < x0 || x > x1 || y < y0 || y > y1) return false;
	const cx = Math.min(Math.max(x, x0 + r), x1 - r);
	const cy = Math.min(Math.max(y, y0 + r), y1 - r);
	return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

/** The speech bubble of favicon.svg, in its 64-unit space. */
function inBubble(x, y) {
	if (inRoundRect(x, y, 12, 20, 52, 42, 4)) return true;
	// The tail: the triangle (21,42) (30,42) (21,49).
	return x >= 21 && y >= 42 && y <= 49 && x <= 30 - ((y - 42) * 9) / 7;
}

/**
 * `rounded`: the favicon's rounded square (for "any" icons); otherwise full bleed, as maskable and
 * Apple icons are cropped by the platform. `scale` shrinks the bubble into the maskable safe zone.
 */
function draw(size, { rounded, scale }) {
	const rgba = Buffer.alloc(size * size * 4);
	const S = 4; // supersampling per axis
	for (let py = 0; py < size; py++) {
		for (let px = 0; px < size; px++) {
			let bg = 0;
			let fg = 0;
			for (let sy = 0; sy < S; sy++) {
				for (let sx = 0; sx < S; sx++) {
					const x = ((px + (sx + 0.5) / S) / size) * 64;
					const y = ((py + (sy + 0.5) / S) / size) * 64;
					if (rounded ? !inRoundRect(x, y, 0, 0, 64, 64, 14) : false) continue;
					bg++;
					if (inBubble(32 + (x - 32) / scale, 34.5 + (y - 34.5) / scale)) fg++;
				}
			}
			const n = S * S;
			const i = (py * size + px) * 4;
			const t = bg ? fg / bg : 0;
			for (let c = 0; c < 3; c++) rgba[i + c] = Math.round(INDIGO[c] * (1 - t) + WHITE[c] * t);
			rgba[i + 3] = Math.round((bg / n) * 255);
		}
	}
	return png(size, rgba);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
	let c = n;
	for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
	return c >>> 0;
});
function crc32(buf) {
	let c = 0xffffffff;
	for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
	const head = Buffer.alloc(8);
	head.writeUInt32BE(data.length, 0);
	head.write(type, 4, 'ascii');
	const crc = Buffer.alloc(4);
	crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
	return Buffer.concat([head, data, crc]);
}
function png(size, rgba) {
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(size, 0);
	ihdr.writeUInt32BE(size, 4);
	ihdr[8] = 8; // bit depth
	ihdr[9] = 6; // RGBA
	const raw = Buffer.alloc(size * (size * 4 + 1));
	for (let y = 0; y < size; y++) rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
	return Buffer.concat([
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk('IHDR', ihdr),
		chunk('IDAT', deflateSync(raw, { level: 9 })),
		chunk('IEND', Buffer.alloc(0))
	]);
}

const out = new URL('../static/icons/', import.meta.url);
const icons = {
	'icon-192.png': draw(192, { rounded: true, scale: 1 }),
	'icon-512.png': draw(512, { rounded: true, scale: 1 }),
	// Maskable: the platform may crop to a circle of 80% diameter, so the bubble shrinks into it.
	'maskable-512.png': draw(512, { rounded: false, scale: 0.75 }),
	'apple-touch-icon.png': draw(180, { rounded: false, scale: 0.85 })
};
for (const [name, data] of Object.entries(icons)) writeFileSync(new URL(name, out), data);
console.log(`wrote ${Object.keys(icons).join(', ')}`);
