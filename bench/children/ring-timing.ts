// Robust timing for the ring bench children (same method in bench/c/ring_bench.c): a run is cut
// into TIMING_WINDOWS windows and the median window is reported next to the overall mean, so a
// descheduling on a loaded machine spoils one window instead of the whole run.

export const TIMING_WINDOWS = 16;
/** Round trips per timed block in ping-pong (one clock read per block keeps the clock's cost out). */
export const RTT_BLOCK = 16;

/** Median of the first n values (sorts them in place). */
export function medianOf(values: Float64Array, n: number): number {
  const v = values.subarray(0, n).sort();
  if (n === 0) return Number.NaN;
  return n % 2 ? v[n >> 1] : (v[(n >> 1) - 1] + v[n >> 1]) / 2;
}
