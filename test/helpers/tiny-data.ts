// A few 8 x 8 greyscale images with two alternating labels, from a fixed LCG: the smallest data set
// that trains, embeds and saves, for suites that exercise calls rather than accuracy.
export const side = 8;

export function tiny(n: number, seed: number) {
  const data = new Uint8Array(n * side * side);
  let s = seed;
  for (let i = 0; i < data.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; data[i] = s >>> 24; }
  return { images: { data, shape: [n, side, side, 1] as [number, number, number, number] }, labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}
