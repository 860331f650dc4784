// The socket net tile's work with the kernel replaced (fake recvmmsg/sendmmsg over the real
// batch layout, real app channels in memory): each socket's datagrams reach the app owning its
// port with the addresses the app replies to; a reply leaves through the socket of its source
// port, from the address it arrived on, in one sendmmsg per batch; what cannot be delivered or
// sent is dropped and counted by reason; a full app channel bounds what is taken from a socket;
// an app with replicas gets each flow on one replica (flowReplica, as the XDP net tiles), and
// each replica sends from its app's ports only.
import { describe, expect, it } from "vitest";
import { UdpChannelReader, UdpChannelWriter, type UdpMessage } from "../shared/udp/channel";
import { DOORBELL_BYTES } from "../shared/udp/doorbell";
import { flowReplica } from "../shared/udp/flow-hash";
import {
  SOCKET_BATCH_LENGTH,
  SOCKET_BATCH_LOCAL_IP,
  SOCKET_BATCH_META_WORDS,
  SOCKET_BATCH_PEER_IP,
  SOCKET_BATCH_PEER_PORT,
  SOCKET_BATCH_TRUNCATED,
} from "../shared/udp/socket-batch";
import { NetSocketTileBody, type SocketSyscalls } from "../tiles/net-socket/body";
import { type NetSocketTileConfig, netSocketMetrics } from "../tiles/net-socket/definition";
import { ipv4, makeChannel, makeMetrics, metric } from "./support/dataplane-helpers";

const PEER = ipv4("198.18.9.2");
const LOCAL = ipv4("198.18.9.1");
const FD_A = 40; // port 7000, app a
const FD_B = 41; // port 7001, app b

interface Datagram {
  peerIp: number;
  peerPort: number;
  localIp: number;
  bytes: Uint8Array;
}

interface Sent extends Datagram {
  fd: number;
}

/** The kernel side: datagrams waiting per fd; what sendmmsg took; scripted send answers. */
class FakeKernel implements SocketSyscalls {
  readonly waiting = new Map<number, Datagram[]>();
  readonly sent: Sent[] = [];
  sendCalls = 0;
  /** Answers of the next sendmmsg calls (undefined: send everything asked). */
  readonly sendScript: number[] = [];

  udpRecvBatch(fd: number, buf: Uint8Array, slotBytes: number, meta: Uint32Array, max: number): number {
    const q = this.waiting.get(fd) ?? [];
    const n = Math.min(max, q.length);
    for (let i = 0; i < n; i++) {
      const d = q.shift() as Datagram;
      const stored = Math.min(d.bytes.length, slotBytes);
      buf.set(d.bytes.subarray(0, stored), i * slotBytes);
      const m = i * SOCKET_BATCH_META_WORDS;
      meta[m + SOCKET_BATCH_LENGTH] = stored;
      meta[m + SOCKET_BATCH_PEER_IP] = d.peerIp;
      meta[m + SOCKET_BATCH_PEER_PORT] = d.peerPort | (d.bytes.length > slotBytes ? SOCKET_BATCH_TRUNCATED : 0);
      meta[m + SOCKET_BATCH_LOCAL_IP] = d.localIp;
    }
    return n;
  }

  udpSendBatch(
    fd: number,
    buf: Uint8Array,
    slotBytes: number,
    meta: Uint32Array,
    first: number,
    count: number,
  ): number {
    this.sendCalls++;
    const answer = this.sendScript.shift() ?? count;
    for (let i = first; i < first + Math.max(0, answer); i++) {
      const m = i * SOCKET_BATCH_META_WORDS;
      const at = i * slotBytes;
      this.sent.push({
        fd,
        peerIp: meta[m + SOCKET_BATCH_PEER_IP],
        peerPort: meta[m + SOCKET_BATCH_PEER_PORT],
        localIp: meta[m + SOCKET_BATCH_LOCAL_IP],
        bytes: buf.slice(at, at + meta[m + SOCKET_BATCH_LENGTH]),
      });
    }
    return answer;
  }

  pollWake(): number {
    return 0;
  }

  arrive(fd: number, count: number, length = 16, peerPort = 5000): void {
    const q = this.waiting.get(fd) ?? [];
    for (let i = 0; i < count; i++)
      q.push({ peerIp: PEER, peerPort, localIp: LOCAL, bytes: new Uint8Array(length).fill((i + 1) & 0xff) });
    this.waiting.set(fd, q);
  }
}

const DEPTH = 8;
const MAX_PAYLOAD = 512;

function world(kernel = new FakeKernel()) {
  const config: NetSocketTileConfig = {
    apps: [
      { name: "a", ports: [7000] },
      { name: "b", ports: [7001] },
    ],
    channelDepth: DEPTH,
    maxPayload: MAX_PAYLOAD,
    batch: 4,
    idle: "spin",
  };
  const regions = config.apps.map(() => ({
    rx: makeChannel("rx", DEPTH, MAX_PAYLOAD),
    tx: makeChannel("tx", DEPTH, MAX_PAYLOAD),
  }));
  const metrics = makeMetrics("net", "net-socket", netSocketMetrics);
  const body = new NetSocketTileBody({ config, metrics, socketFds: [FD_A, FD_B], apps: regions, syscalls: kernel });
  // The apps' ends of their channels, as tiles/app/body.ts holds them.
  const apps = regions.map((r, i) => ({
    rx: new UdpChannelReader(`rx.${i}`, "rx", r.rx, DEPTH, MAX_PAYLOAD),
    tx: new UdpChannelWriter(`tx.${i}`, "tx", r.tx, DEPTH, MAX_PAYLOAD, () => {}),
  }));
  const received = (app: number): UdpMessage[] => {
    const got: UdpMessage[] = [];
    apps[app].rx.poll(DEPTH, (m) => got.push({ ...m }));
    apps[app].rx.release();
    return got;
  };
  const send = (app: number, srcIp: number, srcPort: number, dstIp: number, dstPort: number, length: number) => {
    const w = apps[app].tx;
    const at = w.begin();
    if (at < 0) throw new Error("tx ring full");
    w.data.u8.fill(0xab, at, at + length);
    w.finish(srcIp, dstIp, srcPort, dstPort, length);
    w.flush();
  };
  return { body, kernel, metrics, received, send };
}

describe("socket net tile body", () => {
  it("delivers each socket's datagrams to the app owning its port, with the addresses to reply to", () => {
    const w = world();
    w.kernel.arrive(FD_A, 3, 16, 5000);
    w.kernel.arrive(FD_B, 2, 20, 5001);
    expect(w.body.poll(0)).toBe(5);
    const a = w.received(0);
    expect(a).toHaveLength(3);
    expect(a[0]).toMatchObject({ srcIp: PEER, srcPort: 5000, dstIp: LOCAL, dstPort: 7000, length: 16 });
    expect(w.received(1).map((m) => [m.dstPort, m.srcPort, m.length])).toEqual([
      [7001, 5001, 20],
      [7001, 5001, 20],
    ]);
    expect(metric(w.metrics, "rx_delivered")).toBe(5);
  });

  it("sends a reply through the socket of its source port, from its address, one sendmmsg per batch", () => {
    const w = world();
    for (let i = 0; i < 3; i++) w.send(0, LOCAL, 7000, PEER, 5000 + i, 10 + i);
    w.send(1, 0, 7001, PEER, 6000, 4); // an app's send: source address the route's (0)
    expect(w.body.poll(0)).toBe(4);
    expect(w.kernel.sendCalls).toBe(2);
    expect(w.kernel.sent.map((s) => [s.fd, s.localIp, s.peerIp, s.peerPort, s.bytes.length])).toEqual([
      [FD_A, LOCAL, PEER, 5000, 10],
      [FD_A, LOCAL, PEER, 5001, 11],
      [FD_A, LOCAL, PEER, 5002, 12],
      [FD_B, 0, PEER, 6000, 4],
    ]);
    expect(w.kernel.sent[0]?.bytes.every((b) => b === 0xab)).toBe(true);
    expect(metric(w.metrics, "tx_packets")).toBe(4);
    expect(metric(w.metrics, "tx_bytes")).toBe(37);
  });

  it("drops what does not fit an app channel's payload, and a send from a port the app does not own", () => {
    const w = world();
    w.kernel.arrive(FD_A, 1, MAX_PAYLOAD + 1);
    w.kernel.arrive(FD_A, 1, 4000); // larger than the slot: the kernel truncates and flags it
    w.kernel.arrive(FD_A, 1, MAX_PAYLOAD);
    w.body.poll(0);
    expect(w.received(0).map((m) => m.length)).toEqual([MAX_PAYLOAD]);
    expect(metric(w.metrics, "rx_drop_oversize")).toBe(2);
    w.send(0, LOCAL, 7001, PEER, 5000, 8);
    w.body.poll(0);
    expect(w.kernel.sent).toEqual([]);
    expect(metric(w.metrics, "tx_bad_source_port")).toBe(1);
  });

  it("skips a datagram the kernel refuses and drops the rest of a batch on EAGAIN, counting both", () => {
    const w = world();
    w.kernel.sendScript.push(1, -22, 1); // the second datagram refused (EINVAL), the third sent
    for (let i = 0; i < 3; i++) w.send(0, LOCAL, 7000, PEER, 5000 + i, 8);
    w.body.poll(0);
    expect(w.kernel.sent.map((s) => s.peerPort)).toEqual([5000, 5002]);
    expect(metric(w.metrics, "tx_send_errors")).toBe(1);
    w.kernel.sendScript.push(-11); // EAGAIN: the socket buffer is full
    for (let i = 0; i < 2; i++) w.send(0, LOCAL, 7000, PEER, 5000, 8);
    w.body.poll(0);
    expect(metric(w.metrics, "tx_socket_full")).toBe(2);
    expect(metric(w.metrics, "tx_packets")).toBe(2);
  });

  it("takes from a socket no more than the app's channel has room for; a stuck app's socket still drains", () => {
    const w = world();
    w.kernel.arrive(FD_A, DEPTH + 3);
    for (let i = 0; i < 4; i++) w.body.poll(i);
    // The channel is full (the app took nothing): the rest waited in the socket, except the one
    // datagram per poll taken so that the socket does not stay readable for ever.
    expect(metric(w.metrics, "rx_delivered")).toBe(DEPTH);
    expect(metric(w.metrics, "rx_app_ring_full")).toBe(2);
    expect(w.kernel.waiting.get(FD_A)).toHaveLength(1);
    expect(w.received(0)).toHaveLength(DEPTH);
  });

  it("spreads an app's flows over its replicas, one replica per flow, and checks each replica's source ports", () => {
    const kernel = new FakeKernel();
    const depth = 64;
    const config: NetSocketTileConfig = {
      apps: [
        { name: "a", ports: [7000], replicas: [{ channel: "a.0" }, { channel: "a.1", doorbell: "bell.a.1" }] },
        { name: "b", ports: [7001] },
      ],
      channelDepth: depth,
      maxPayload: MAX_PAYLOAD,
      batch: 16,
      idle: "spin",
    };
    const regions = [0, 1, 2].map((i) => ({
      rx: makeChannel("rx", depth, MAX_PAYLOAD),
      tx: makeChannel("tx", depth, MAX_PAYLOAD),
      ...(i === 1 ? { doorbell: new ArrayBuffer(DOORBELL_BYTES) } : {}),
    }));
    const metrics = makeMetrics("net", "net-socket", netSocketMetrics);
    const body = new NetSocketTileBody({ config, metrics, socketFds: [FD_A, FD_B], apps: regions, syscalls: kernel });
    const readers = regions.map((r, i) => new UdpChannelReader(`rx.${i}`, "rx", r.rx, depth, MAX_PAYLOAD));
    for (let round = 0; round < 2; round++) for (let p = 0; p < 20; p++) kernel.arrive(FD_A, 1, 8, 6000 + p);
    kernel.arrive(FD_B, 1, 8, 6000);
    body.poll(1);
    body.poll(2);
    body.poll(3);
    const got = readers.map((r) => {
      const ports: number[] = [];
      r.poll(depth, (m) => ports.push(m.srcPort));
      return ports;
    });
    expect(got[0].length + got[1].length).toBe(40);
    for (let p = 0; p < 20; p++) {
      const k = flowReplica(PEER, 6000 + p, LOCAL, 7000, 2);
      expect(got[k].filter((x) => x === 6000 + p)).toHaveLength(2);
    }
    expect(got[0].length).toBeGreaterThan(0);
    expect(got[1].length).toBeGreaterThan(0);
    expect(got[2]).toEqual([6000]);
    // Replica 1 of a sends from a's port (out of FD_A) and from b's port (refused).
    const tx = new UdpChannelWriter("tx.1", "tx", regions[1].tx, depth, MAX_PAYLOAD, () => {});
    for (const srcPort of [7000, 7001]) {
      tx.begin();
      tx.finish(LOCAL, PEER, srcPort, 6000, 4);
    }
    tx.flush();
    body.poll(4);
    expect(kernel.sent.map((d) => d.fd)).toEqual([FD_A]);
    expect(metric(metrics, "tx_bad_source_port")).toBe(1);
  });
});
