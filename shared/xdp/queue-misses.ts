// The XDP program's count of datagrams for an owned port that arrived on a receive queue with no
// AF_XDP socket (no net tile serves that queue): dropped by the program, counted here, reported by
// the net tiles of that interface. Declared once for the program (writer), the launcher (which
// makes the map) and the net tile (which maps it read-only and reads it).
//
// The counters are a BPF array map made with BPF_F_MMAPABLE: one little-endian u64 per queue id,
// value i at byte 8 * i of the mapping (the kernel lays mmapable array values out from offset 0).

/** Bytes of one counter (the map's value size). */
export const QUEUE_MISS_COUNTER_BYTES = 8;

/** Most receive queues one interface's program serves (the map's entries; ethtool's channel
 *  counts stay far below on the NICs we know). */
export const QUEUE_MISS_MAX_QUEUES = 1024;

/** Bytes to map for `queues` counters: whole pages, as mmap wants. */
export function queueMissMapBytes(queues: number, pageBytes = 4096): number {
  return Math.ceil((queues * QUEUE_MISS_COUNTER_BYTES) / pageBytes) * pageBytes;
}

/** The count of queue `queue` from the mapped counters (exact below 2^53). */
export function readQueueMisses(counters: DataView, queue: number): number {
  const at = queue * QUEUE_MISS_COUNTER_BYTES;
  return counters.getUint32(at, true) + counters.getUint32(at + 4, true) * 2 ** 32;
}
