// Which replica of an app a flow goes to, declared once: every net tile computes the same answer
// for the same 4-tuple (so a flow keeps its replica whichever NIC queue it arrives on), and the
// app uses the same mix to keep one flow on one of its channels. Integer-only: no allocation.

/** A fast mix of the 4-tuple (IPv4 addresses as numbers, ports 0..65535) into 0 .. replicas - 1. */
export function flowReplica(srcIp: number, srcPort: number, dstIp: number, dstPort: number, replicas: number): number {
  if (replicas <= 1) return 0;
  // murmur3-style finalizer steps, one word of the tuple folded in per round.
  let h = Math.imul(srcIp ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ dstIp, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ((srcPort & 0xffff) | (dstPort << 16)), 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) % replicas;
}
