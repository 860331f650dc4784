// The socket provider's addon calls on real UDP sockets in a fresh namespace: one recvmmsg takes
// every waiting datagram up to the batch (and no more), a datagram larger than its slot arrives
// cut and flagged, nothing waiting is 0 (EAGAIN), sendmmsg sends a batch in one call, stops at a
// datagram the kernel refuses (the caller resumes after it), and sets the source address asked
// for (IP_PKTINFO). The metadata layout of the addon is the TypeScript one.
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseIp } from "../shared/netmodel";
import {
  SOCKET_BATCH_LENGTH,
  SOCKET_BATCH_LOCAL_IP,
  SOCKET_BATCH_MAX,
  SOCKET_BATCH_META_WORDS,
  SOCKET_BATCH_PEER_IP,
  SOCKET_BATCH_PEER_PORT,
  SOCKET_BATCH_TRUNCATED,
  type SocketBatchBuffers,
  socketBatchBuffers,
} from "../shared/udp/socket-batch";
import { addon, createNetns, deleteNetns, inNamespace, ipn } from "./support/netlink-netns";
import { describeAsRoot } from "./support/root";

const A_IP = parseIp("198.18.7.1") ?? 0;
const B_IP = parseIp("198.18.7.2") ?? 0;
const A_PORT = 7001;
const B_PORT = 7002;

/** Puts datagram `i` (bytes i, i+1, ... of `length`) into slot `slot` of a send batch. */
function stage(b: SocketBatchBuffers, slot: number, length: number, dstIp: number, dstPort: number, srcIp = 0): void {
  for (let k = 0; k < length; k++) b.payload[slot * b.slotBytes + k] = (slot + k) & 0xff;
  const m = slot * SOCKET_BATCH_META_WORDS;
  b.meta[m + SOCKET_BATCH_LENGTH] = length;
  b.meta[m + SOCKET_BATCH_PEER_IP] = dstIp;
  b.meta[m + SOCKET_BATCH_PEER_PORT] = dstPort;
  b.meta[m + SOCKET_BATCH_LOCAL_IP] = srcIp;
}

function metaOf(
  b: SocketBatchBuffers,
  slot: number,
): { length: number; peerIp: number; peerPort: number; localIp: number } {
  const m = slot * SOCKET_BATCH_META_WORDS;
  return {
    length: b.meta[m + SOCKET_BATCH_LENGTH],
    peerIp: b.meta[m + SOCKET_BATCH_PEER_IP],
    peerPort: b.meta[m + SOCKET_BATCH_PEER_PORT],
    localIp: b.meta[m + SOCKET_BATCH_LOCAL_IP],
  };
}

/** Receives until `want` datagrams arrived or a second passed (loopback delivery is immediate,
 *  but a bound keeps a broken kernel from hanging the run). */
function receiveAll(fd: number, b: SocketBatchBuffers, max: number): number {
  const deadline = Date.now() + 1000;
  for (;;) {
    const n = addon().udpRecvBatch(fd, b.payload, b.slotBytes, b.meta, max);
    if (n !== 0 || Date.now() > deadline) return n;
  }
}

describeAsRoot("socket provider batches: recvmmsg/sendmmsg in the addon (needs root: a network namespace)", () => {
  let ns: string | undefined;
  let aFd = -1;
  let bFd = -1;

  beforeAll(() => {
    ns = createNetns("sockbatch");
    ipn(ns, "link", "set", "lo", "up");
    // Both addresses on one end of a veth pair in the namespace: traffic between them is local.
    ipn(ns, "link", "add", "va", "type", "veth", "peer", "name", "vb");
    ipn(ns, "link", "set", "va", "up");
    ipn(ns, "addr", "add", "198.18.7.1/24", "dev", "va");
    ipn(ns, "addr", "add", "198.18.7.2/24", "dev", "va");
    const name = ns;
    aFd = inNamespace(name, () => addon().udpSocketOpen(0, A_PORT, 0, 0));
    bFd = inNamespace(name, () => addon().udpSocketOpen(B_IP, B_PORT, 0, 1 << 20));
  });

  afterAll(() => {
    for (const fd of [aFd, bFd]) if (fd >= 0) addon().closeFd(fd);
    deleteNetns(ns);
  });

  it("declares the metadata layout the addon was built with", () => {
    expect(addon().udpBatchLayout()).toEqual({
      metaWords: SOCKET_BATCH_META_WORDS,
      length: SOCKET_BATCH_LENGTH,
      peerIp: SOCKET_BATCH_PEER_IP,
      peerPort: SOCKET_BATCH_PEER_PORT,
      localIp: SOCKET_BATCH_LOCAL_IP,
      truncated: SOCKET_BATCH_TRUNCATED,
      maxBatch: SOCKET_BATCH_MAX,
    });
  });

  it("answers 0 when nothing waits (EAGAIN is not an error)", () => {
    const b = socketBatchBuffers(4, 64);
    expect(addon().udpRecvBatch(aFd, b.payload, b.slotBytes, b.meta, 4)).toBe(0);
  });

  it("sends a batch in one call and receives it in batches of at most the asked size", () => {
    const out = socketBatchBuffers(8, 64);
    for (let i = 0; i < 5; i++) stage(out, i, 10 + i, A_IP, A_PORT);
    expect(addon().udpSendBatch(bFd, out.payload, out.slotBytes, out.meta, 0, 5)).toBe(5);
    const got = socketBatchBuffers(8, 64);
    expect(receiveAll(aFd, got, 2)).toBe(2);
    const lengths = [got.meta[SOCKET_BATCH_LENGTH], got.meta[SOCKET_BATCH_META_WORDS + SOCKET_BATCH_LENGTH]];
    expect(lengths).toEqual([10, 11]);
    expect(receiveAll(aFd, got, 8)).toBe(3);
    for (let i = 0; i < 3; i++) {
      expect(metaOf(got, i)).toEqual({ length: 12 + i, peerIp: B_IP, peerPort: B_PORT, localIp: A_IP });
      const bytes = got.payload.subarray(i * 64, i * 64 + 12 + i);
      expect(Array.from(bytes)).toEqual(Array.from(out.payload.subarray((2 + i) * 64, (2 + i) * 64 + 12 + i)));
    }
    expect(addon().udpRecvBatch(aFd, got.payload, got.slotBytes, got.meta, 8)).toBe(0);
  });

  it("cuts a datagram larger than its slot and flags it, leaving the next one whole", () => {
    const out = socketBatchBuffers(2, 64);
    stage(out, 0, 40, A_IP, A_PORT);
    stage(out, 1, 8, A_IP, A_PORT);
    expect(addon().udpSendBatch(bFd, out.payload, out.slotBytes, out.meta, 0, 2)).toBe(2);
    const got = socketBatchBuffers(2, 16);
    expect(receiveAll(aFd, got, 2)).toBe(2);
    expect(metaOf(got, 0)).toMatchObject({ length: 16, peerPort: B_PORT | SOCKET_BATCH_TRUNCATED });
    expect(metaOf(got, 1)).toMatchObject({ length: 8, peerPort: B_PORT });
  });

  it("stops a send batch at a datagram the kernel refuses; the caller resumes after it", () => {
    const out = socketBatchBuffers(3, 64);
    stage(out, 0, 5, B_IP, B_PORT);
    stage(out, 1, 5, B_IP, 0); // port 0: EINVAL from udp_sendmsg
    stage(out, 2, 5, B_IP, B_PORT);
    const send = (first: number, count: number) =>
      addon().udpSendBatch(aFd, out.payload, out.slotBytes, out.meta, first, count);
    expect(send(0, 3)).toBe(1);
    expect(send(1, 2)).toBe(-22);
    expect(send(2, 1)).toBe(1);
    const got = socketBatchBuffers(4, 64);
    expect(receiveAll(bFd, got, 4)).toBe(2);
  });

  it("sends from the source address asked for (IP_PKTINFO) on a socket bound to 0.0.0.0", () => {
    const out = socketBatchBuffers(2, 64);
    stage(out, 0, 3, B_IP, B_PORT, B_IP);
    stage(out, 1, 3, B_IP, B_PORT, A_IP);
    expect(addon().udpSendBatch(aFd, out.payload, out.slotBytes, out.meta, 0, 2)).toBe(2);
    const got = socketBatchBuffers(2, 64);
    expect(receiveAll(bFd, got, 2)).toBe(2);
    expect([metaOf(got, 0).peerIp, metaOf(got, 1).peerIp]).toEqual([B_IP, A_IP]);
    expect(metaOf(got, 0).peerPort).toBe(A_PORT);
  });
});
