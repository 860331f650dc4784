// Timing and run control shared by the ring bench children (same method in bench/c/ring_bench.c).
// Throughput runs last a fixed time in both languages; the consumer reports the median of its
// WINDOW_MS windows next to the overall mean, so a descheduling spoils one window, not the run.

export const WINDOW_MS = 10;
/** Round trips per timed block in ping-pong (one clock read per block keeps the clock's cost out). */
export const RTT_BLOCK = 16;
/** Control region of a throughput run (written by the producer when it stops): done flag (i32)
 *  and total messages published (f64). */
export const CONTROL_DONE = 0;
export const CONTROL_TOTAL = 8;
export const CONTROL_BYTES = 64;

/** Median of the first n values (sorts them in place); 0 when n is 0 (the parent then uses the
 *  overall mean). */
export function medianOf(values: Float64Array, n: number): number {
  const v = values.subarray(0, n).sort();
  if (n === 0) return 0;
  return n % 2 ? v[n >> 1] : (v[(n >> 1) - 1] + v[n >> 1]) / 2;
}
