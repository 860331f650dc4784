// The socket provider's batch buffers, declared once: a payload buffer of equal slots and a
// Uint32Array of metadata, SOCKET_BATCH_META_WORDS words per datagram, both owned by the caller
// and reused for every recvmmsg/sendmmsg (native/udp_batch.cc mirrors these numbers and exports
// them as udpBatchLayout(); a test checks they agree).

export const SOCKET_BATCH_META_WORDS = 4;
/** Payload bytes (received: stored in the slot; to send: taken from the slot). */
export const SOCKET_BATCH_LENGTH = 0;
/** Received: the source IPv4 (host order); to send: the destination. */
export const SOCKET_BATCH_PEER_IP = 1;
/** The peer's port in the low 16 bits; received: SOCKET_BATCH_TRUNCATED when the datagram did
 *  not fit its slot. */
export const SOCKET_BATCH_PEER_PORT = 2;
/** Received: the destination IPv4 (IP_PKTINFO); to send: the source (0: the route's). */
export const SOCKET_BATCH_LOCAL_IP = 3;
export const SOCKET_BATCH_TRUNCATED = 0x10000;
/** Most datagrams one call moves. */
export const SOCKET_BATCH_MAX = 256;

/** One batch's buffers: `slots` datagrams of up to slotBytes each. */
export interface SocketBatchBuffers {
  slotBytes: number;
  slots: number;
  payload: Uint8Array;
  meta: Uint32Array;
}

export function socketBatchBuffers(slots: number, slotBytes: number): SocketBatchBuffers {
  if (!Number.isInteger(slots) || slots < 1 || slots > SOCKET_BATCH_MAX)
    throw new RangeError(`socket batch: ${slots} slots, must be 1..${SOCKET_BATCH_MAX}`);
  return {
    slotBytes,
    slots,
    payload: new Uint8Array(slots * slotBytes),
    meta: new Uint32Array(slots * SOCKET_BATCH_META_WORDS),
  };
}
