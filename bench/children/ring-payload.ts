// The benchmark's per-message work, identical to bench/c/ring_bench.c: the producer writes 64
// bytes derived from the message number (eight 64-bit words, seq * 16 + k, as doubles: exact
// integers), the consumer reads all eight, adds them and folds the sum into a checksum
// (checksum * 31 + (sum mod 2^32)). Float64Array is JS's widest plain access (measured: about
// twice as fast to read as sixteen Int32 words); C does the very same eight double stores and
// loads. Unrolled: one store or load per word, no loop overhead.

/** Writes message seq's 64 bytes at f64 word index w. */
export function writeBenchPayload(f64: Float64Array, w: number, seq: number): void {
  const s = seq * 16;
  f64[w] = s;
  f64[w + 1] = s + 1;
  f64[w + 2] = s + 2;
  f64[w + 3] = s + 3;
  f64[w + 4] = s + 4;
  f64[w + 5] = s + 5;
  f64[w + 6] = s + 6;
  f64[w + 7] = s + 7;
}

/** Sum of the 8 words of a message at f64 word index w, mod 2^32 (as an int32). Added as a tree
 *  (exact: integers below 2^53), so the adds do not wait on each other; C does the same. */
export function foldBenchPayload(f64: Float64Array, w: number): number {
  return (f64[w] + f64[w + 1] + (f64[w + 2] + f64[w + 3]) + (f64[w + 4] + f64[w + 5] + (f64[w + 6] + f64[w + 7]))) | 0;
}

/** The checksum a consumer of messages 0 .. count-1 must report (the sum of message seq's words
 *  is 128 * seq + 28; checked against writeBenchPayload + foldBenchPayload for the first ones). */
export function expectedBenchChecksum(count: number): number {
  const scratch = new Float64Array(8);
  let checksum = 0;
  for (let seq = 0; seq < count; seq++) {
    const sum = (seq * 128 + 28) | 0;
    if (seq < 1024) {
      writeBenchPayload(scratch, 0, seq);
      if (foldBenchPayload(scratch, 0) !== sum) throw new Error(`bench payload sum of message ${seq} is off`);
    }
    checksum = (Math.imul(checksum, 31) + sum) | 0;
  }
  return checksum;
}

/** Microseconds a waiting side spins before sleeping on the futex (same as the C side). */
export const BENCH_SPIN_US = 200;
