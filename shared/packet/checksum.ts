// The Internet checksum (RFC 1071) over a byte view, allocation-free.

/** Adds the big-endian 16-bit words of u8[off, off+len) to sum (an odd last byte is padded with
 *  zero). The result is an unfolded sum; it stays exact in a double for any IPv4 datagram. */
export function onesSum(u8: Uint8Array, off: number, len: number, sum: number): number {
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
