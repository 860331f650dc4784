// Small integer helpers used by layouts and validators alike.

/** A positive integer power of two (ring depths, frame sizes, table sizes). */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
