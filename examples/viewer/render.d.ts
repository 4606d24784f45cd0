/** Types of render.js (the viewer's pixel rules; see there). */
export function contrast(v: number, lo: number, hi: number): number;
export function labelColor(lo: number, hi: number): [number, number, number];
export function blend(base: number, color: number, a256: number): number;
export function isLabelType(dtype: string): boolean;
export function autoWindow(dtype: string, data: ArrayLike<number>): [number, number];
export function paint(rgba: Uint8ClampedArray, image: ArrayLike<number> | null, window: [number, number], labels: Uint32Array | null, labelWords: 1 | 2, alpha256: number): void;
