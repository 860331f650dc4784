// The benchmark's per-message work, identical to bench/c/ring_bench.c: the producer writes 16
// 32-bit words derived from the message number, the consumer adds all 16 and folds the sum into
// a checksum (checksum * 31 + sum). Unrolled: one store or load per word, no loop overhead.

/** Writes message seq's 64 bytes at i32 word index w. */
export function writeBenchPayload(i32: Int32Array, w: number, seq: number): void {
  i32[w] = seq ^ 0x9e3779b9;
  i32[w + 1] = seq ^ 0x3c6ef372;
  i32[w + 2] = seq ^ 0xdaa66d2b;
  i32[w + 3] = seq ^ 0x78dde6e4;
  i32[w + 4] = seq ^ 0x1715609d;
  i32[w + 5] = seq ^ 0xb54cda56;
  i32[w + 6] = seq ^ 0x5384540f;
  i32[w + 7] = seq ^ 0xf1bbcdc8;
  i32[w + 8] = seq ^ 0x8ff34781;
  i32[w + 9] = seq ^ 0x2e2ac13a;
  i32[w + 10] = seq ^ 0xcc623af3;
  i32[w + 11] = seq ^ 0x6a99b4ac;
  i32[w + 12] = seq ^ 0x08d12e65;
  i32[w + 13] = seq ^ 0xa708a81e;
  i32[w + 14] = seq ^ 0x454021d7;
  i32[w + 15] = seq ^ 0xe3779b90;
}

/** Sum of the 16 words of a message at i32 word index w (mod 2^32). */
export function foldBenchPayload(i32: Int32Array, w: number): number {
  return (
    (i32[w] +
      i32[w + 1] +
      i32[w + 2] +
      i32[w + 3] +
      i32[w + 4] +
      i32[w + 5] +
      i32[w + 6] +
      i32[w + 7] +
      i32[w + 8] +
      i32[w + 9] +
      i32[w + 10] +
      i32[w + 11] +
      i32[w + 12] +
      i32[w + 13] +
      i32[w + 14] +
      i32[w + 15]) |
    0
  );
}

/** The checksum a consumer of messages 0 .. count-1 must report. */
export function expectedBenchChecksum(count: number): number {
  const scratch = new Int32Array(16);
  let checksum = 0;
  for (let seq = 0; seq < count; seq++) {
    writeBenchPayload(scratch, 0, seq);
    checksum = (Math.imul(checksum, 31) + foldBenchPayload(scratch, 0)) | 0;
  }
  return checksum;
}

/** Microseconds a waiting side spins before sleeping on the futex (same as the C side). */
export const BENCH_SPIN_US = 200;
