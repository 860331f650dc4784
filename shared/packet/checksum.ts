// The Internet checksum (RFC 1071) over a byte view, allocation-free.

/** Below this many bytes the word loop's set-up costs more than it saves. */
const WORDS_MIN_LEN = 24;

// The 16-bit view of the last byte view summed (the net tile sums in one UMEM view, always).
let wordsOf: Uint8Array | undefined;
let words: Uint16Array<ArrayBufferLike> = new Uint16Array(0);

/** A Uint16Array over u8's memory from the same start, or undefined when it starts at an odd address. */
function wordView(u8: Uint8Array): Uint16Array<ArrayBufferLike> | undefined {
  if (u8 === wordsOf) return words;
  if ((u8.byteOffset & 1) !== 0) return undefined;
  words = new Uint16Array(u8.buffer, u8.byteOffset, u8.length >> 1);
  wordsOf = u8;
  return words;
}

/** Adds the big-endian 16-bit words of u8[off, off+len) to sum (an odd last byte is padded with
 *  zero). The result is an unfolded sum; it stays exact in a double for any IPv4 datagram.
 *  One 16-bit load per word where it can (RFC 1071: the ones' complement sum does not depend on
 *  byte order, so words are summed as the CPU loads them, little-endian, and the folded result
 *  is byte-swapped). */
export function onesSum(u8: Uint8Array, off: number, len: number, sum: number): number {
  if (len < WORDS_MIN_LEN || (off & 1) !== 0) return onesSumPairs(u8, off, len, sum);
  const w = wordView(u8);
  if (w === undefined) return onesSumPairs(u8, off, len, sum);
  const end = off + len;
  const wordsEnd = end >> 1;
  let le = 0;
  for (let k = off >> 1; k < wordsEnd; k++) le += w[k];
  le = (le & 0xffff) + (le >>> 16); // le < 2^31 for any datagram: one fold, then one more carry
  le = (le & 0xffff) + (le >>> 16);
  sum += ((le & 0xff) << 8) | (le >>> 8);
  if ((len & 1) !== 0) sum += u8[end - 1] << 8;
  return sum;
}

/** The byte-pair loop (any offset; short spans). */
function onesSumPairs(u8: Uint8Array, off: number, len: number, sum: number): number {
  const end = off + len;
  const pairsEnd = end - (len & 1);
  let i = off;
  for (; i < pairsEnd; i += 2) sum += (u8[i] << 8) | u8[i + 1];
  if (i < end) sum += u8[i] << 8;
  return sum;
}

/** Folds the carries of an unfolded sum into 16 bits (not complemented). */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for data whose unfolded sum (with the field zero) is sum. */
export function checksumOf(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** Sum of the IPv4 UDP/TCP pseudo-header (addresses host-order u32). */
export function pseudoHeaderSum(srcIp: number, dstIp: number, protocol: number, length: number): number {
  return (srcIp >>> 16) + (srcIp & 0xffff) + (dstIp >>> 16) + (dstIp & 0xffff) + protocol + length;
}

/** Sum of the IPv6 pseudo-header (RFC 8200 8.1) of addresses as four words each
 *  (shared/ip6.ts) at src[si..si+3] and dst[di..di+3]; length is the upper-layer length. */
export function pseudoHeaderSum6(
  src: Uint32Array,
  si: number,
  dst: Uint32Array,
  di: number,
  nextHeader: number,
  length: number,
): number {
  let sum = nextHeader + (length >>> 16) + (length & 0xffff);
  for (let i = 0; i < 4; i++) {
    const s = src[si + i];
    const d = dst[di + i];
    sum += (s >>> 16) + (s & 0xffff) + (d >>> 16) + (d & 0xffff);
  }
  return sum;
}
