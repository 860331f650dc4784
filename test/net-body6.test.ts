// The AF_XDP net tile body with IPv6, in process (fake rings, the test plays the kernel, a fake
// Netbase6Lookups): IPv6 datagrams reach the app with their family, addresses and interface,
// aligned for word copies; malformed ones are counted by reason; replies are routed with the
// right source (the route's, or the app's own when local), link-local replies leave by the
// interface they came in on from our link-local address, a neighbor miss publishes a solicit.
import { describe, expect, it } from "vitest";
import { formatIp6, parseIp6 } from "../shared/ip6";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseWriter } from "../shared/netbase/writer";
import { PARSE_OK } from "../shared/packet/udp-frame";
import {
  buildUdp6Frame,
  newUdp6FrameFields,
  newUdp6FrameInfo,
  parseUdp6Frame,
  UDP6_PAYLOAD_OFFSET,
} from "../shared/packet/udp6-frame";
import { RingConsumer } from "../shared/ring/consumer";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { UDP6_PAYLOAD_ALIGN, UdpChannelReader, UdpChannelWriter, type UdpMessage } from "../shared/udp/channel";
import { NetTileBody } from "../tiles/net/body";
import { type NetTileConfig, netMetrics } from "../tiles/net/definition";
import { makeChannel, makeMetrics, metric, nonzeroMetrics } from "./support/dataplane-helpers";
import { FakeNetbase6 } from "./support/fake-netbase6";
import { FakeXsk, quietSyscalls } from "./support/fake-xsk";

const GEOMETRY = { frameSize: 2048, frameCount: 64, fillDepth: 32, completionDepth: 32, rxDepth: 32, txDepth: 32 };
const DEPTH = 64;
const MAX_PAYLOAD = 1024;
const PORT = 7000;
const IFINDEX = 2;
const OUR_MAC = [2, 0, 0, 0, 0, 0xaa];
const ip6 = (t: string) => parseIp6(t) as Uint32Array;
const key = (w: ArrayLike<number>) => formatIp6(w[0], w[1], w[2], w[3]);
const OFF = { producer: 0, consumer: 64, desc: 192 };
const HEADROOM = 256;

function world(encodeResult = 0) {
  const solicitRing: RingSpec = { kind: "unreliable", depth: 16, slotSize: 32 };
  const sizes = ringRegionSizes(solicitRing);
  const solicit = { producer: new ArrayBuffer(sizes.producerBytes), consumer: new ArrayBuffer(sizes.consumerBytes) };
  initRingRegions(solicit.producer, solicit.consumer, solicitRing);
  const caps = { routes: 16, neighbors: 16, interfaces: 4, addrsPerInterface: 2 };
  const netbase = new ArrayBuffer(netbaseRegionSize(caps));
  initNetbase(netbase, caps);
  // The interface (its MAC is every frame's source MAC); IPv6 answers come from the fake.
  const writer = new NetbaseWriter(netbase);
  writer.upsertLink({
    ifindex: IFINDEX,
    name: "eth0",
    mac: Uint8Array.from(OUR_MAC),
    mtu: 1500,
    up: true,
    lowerUp: true,
    type: 1,
    flags: 0,
  });
  const nb6 = new FakeNetbase6();
  nb6.locals.add("2001:2::1");
  nb6.locals.add("2001:2::100");
  nb6.locals.add("fe80::aa");
  nb6.linkLocal.set(IFINDEX, ip6("fe80::aa"));
  nb6.routes.push({ prefix: ip6("2001:2::"), len: 64, ifindex: IFINDEX, src: ip6("2001:2::1") });
  nb6.routes.push({ prefix: ip6("::"), len: 0, ifindex: IFINDEX, via: ip6("fe80::1"), src: ip6("2001:2::1") });
  nb6.routes.push({ prefix: ip6("2001:2:0:66::"), len: 64, ifindex: 3, src: ip6("2001:2::1") });
  nb6.routes.push({ prefix: ip6("2001:2:0:99::"), len: 64, ifindex: IFINDEX, type: 6 }); // blackhole
  nb6.neighbors.set(`${IFINDEX}/fe80::1`, [2, 0, 0, 0, 0, 1]);
  nb6.neighbors.set(`${IFINDEX}/2001:2::2`, [2, 0, 0, 0, 0, 2]);
  nb6.neighbors.set(`${IFINDEX}/fe80::9`, [2, 0, 0, 0, 0, 9]);
  const channel = { rx: makeChannel("rx", DEPTH, MAX_PAYLOAD), tx: makeChannel("tx", DEPTH, MAX_PAYLOAD) };
  const xsk = new FakeXsk(GEOMETRY);
  const metrics = makeMetrics("net", "net", netMetrics);
  const config: NetTileConfig = {
    ifindex: IFINDEX,
    queueId: 0,
    ...GEOMETRY,
    apps: [{ name: "svc", ports: [PORT] }],
    channelDepth: DEPTH,
    maxPayload: MAX_PAYLOAD,
    solicitRing,
  };
  const solicited: number[][] = [];
  const body = new NetTileBody({
    config,
    metrics,
    netbase,
    netbase6: nb6,
    encodeSolicit6: (view, off, ifindex, a0, a1, a2, a3) => {
      solicited.push([ifindex, a0 >>> 0, a1 >>> 0, a2 >>> 0, a3 >>> 0]);
      if (encodeResult !== 0) return encodeResult;
      (view as Int32Array).set([ifindex, a0, a1, a2, a3], off >> 2);
      return 0;
    },
    umem: xsk.umem,
    xskFd: -1,
    xskRings: xsk.rings,
    solicit,
    apps: [channel],
    syscalls: quietSyscalls(),
  });
  const solicitReader = new RingConsumer("solicit", solicit.producer, solicit.consumer, solicitRing);
  return {
    body,
    xsk,
    nb6,
    metrics,
    solicited,
    solicitReader,
    txSeen: { n: 0 },
    writer,
    rx: new UdpChannelReader("app.rx", "rx", channel.rx, DEPTH, MAX_PAYLOAD),
    tx: new UdpChannelWriter("app.tx", "tx", channel.tx, DEPTH, MAX_PAYLOAD),
  };
}
type World = ReturnType<typeof world>;

function frame6(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const u8 = new Uint8Array(UDP6_PAYLOAD_OFFSET + payload.length);
  u8.set(payload, UDP6_PAYLOAD_OFFSET);
  const f = newUdp6FrameFields();
  f.dstMac.set(OUR_MAC);
  f.srcMac.set([2, 0, 0, 0, 0, 2]);
  f.src.set(ip6(src));
  f.dst.set(ip6(dst));
  f.srcPort = srcPort;
  f.dstPort = dstPort;
  buildUdp6Frame(u8, 0, f, payload.length);
  return u8;
}

/** The kernel receives one raw frame (the fake's rings, laid out as FakeXsk lays them). */
function receiveRaw(w: World, frame: Uint8Array): void {
  const fill = new Int32Array(w.xsk.rings.fill);
  const fillSlots = new Uint32Array(w.xsk.rings.fill, OFF.desc);
  const rx = new Int32Array(w.xsk.rings.rx);
  const rxSlots = new Uint32Array(w.xsk.rings.rx, OFF.desc);
  const cons = fill[OFF.consumer >> 2] >>> 0;
  expect((fill[0] >>> 0) - cons).toBeGreaterThan(0);
  const addr = fillSlots[(cons & (GEOMETRY.fillDepth - 1)) * 2];
  fill[OFF.consumer >> 2] = cons + 1;
  new Uint8Array(w.xsk.umem).set(frame, addr + HEADROOM);
  const prod = rx[0] >>> 0;
  rxSlots.set([addr + HEADROOM, 0, frame.length, 0], (prod & (GEOMETRY.rxDepth - 1)) * 4);
  Atomics.store(rx, 0, prod + 1);
}

/** Frames the tile put in the TX ring since the last call. */
function sentFrames(w: World): Uint8Array[] {
  const tx = new Int32Array(w.xsk.rings.tx);
  const slots = new Uint32Array(w.xsk.rings.tx, OFF.desc);
  const out: Uint8Array[] = [];
  const umem = new Uint8Array(w.xsk.umem);
  for (; w.txSeen.n < tx[0] >>> 0; w.txSeen.n++) {
    const s = (w.txSeen.n & (GEOMETRY.txDepth - 1)) * 4;
    out.push(umem.slice(slots[s], slots[s] + slots[s + 2]));
  }
  return out;
}

function received(w: World): (UdpMessage & { text: string; align: number })[] {
  const got: (UdpMessage & { text: string; align: number })[] = [];
  w.rx.poll(64, (m) =>
    got.push({
      ...m,
      src6: m.src6.slice(),
      dst6: m.dst6.slice(),
      text: new TextDecoder().decode(w.rx.data.u8.subarray(m.offset, m.offset + m.length)),
      align: m.offset & 7,
    }),
  );
  w.rx.release();
  return got;
}

function send6(w: World, src: string, dst: string, srcPort: number, dstPort: number, text: string, ifindex = 0) {
  const bytes = new TextEncoder().encode(text);
  const at = w.tx.begin(6);
  expect(at & 7).toBe(UDP6_PAYLOAD_ALIGN);
  w.tx.data.u8.set(bytes, at);
  w.tx.finish6(ip6(src), 0, ip6(dst), 0, srcPort, dstPort, bytes.length, ifindex);
  w.tx.flush();
}

let now = 1;
function pump(w: World): void {
  while (w.body.poll(now++) > 0);
}

function parsed(frame: Uint8Array) {
  const info = newUdp6FrameInfo();
  expect(parseUdp6Frame(frame, 0, frame.length, info)).toBe(PARSE_OK);
  return {
    dstMac: [...frame.subarray(0, 6)],
    srcMac: [...frame.subarray(6, 12)],
    src: key(info.srcIp),
    dst: key(info.dstIp),
    ports: [info.srcPort, info.dstPort],
    hopLimit: info.hopLimit,
    text: new TextDecoder().decode(frame.subarray(info.payloadOff, info.payloadOff + info.payloadLen)),
  };
}

describe("net tile body with IPv6", () => {
  it("delivers IPv6 datagrams with family, addresses, interface and a 6 mod 8 payload", () => {
    const w = world();
    receiveRaw(w, frame6("2001:2::2", "2001:2::1", 40000, PORT, new TextEncoder().encode("hello6")));
    receiveRaw(w, frame6("fe80::9", "fe80::aa", 40001, PORT, new TextEncoder().encode("ll")));
    pump(w);
    const got = received(w);
    expect(
      got.map((m) => [m.family, key(m.src6), key(m.dst6), m.srcPort, m.dstPort, m.ifindex, m.text, m.align]),
    ).toEqual([
      [6, "2001:2::2", "2001:2::1", 40000, PORT, IFINDEX, "hello6", 6],
      [6, "fe80::9", "fe80::aa", 40001, PORT, IFINDEX, "ll", 6],
    ]);
    expect(metric(w.metrics, "rx6_delivered")).toBe(2);
    expect(metric(w.metrics, "rx_delivered")).toBe(2);
  });

  it("counts malformed IPv6 frames by reason and a port nobody owns", () => {
    const w = world();
    const ok = () => frame6("2001:2::2", "2001:2::1", 40000, PORT, new Uint8Array(4));
    const zero = ok();
    zero.set([0, 0], 60);
    const bad = ok();
    bad[62] ^= 1;
    const frag = ok();
    frag[20] = 44;
    const hbh = ok();
    hbh[20] = 0;
    for (const f of [zero, bad, frag, hbh, frame6("2001:2::2", "2001:2::1", 1, 9999, new Uint8Array(1))])
      receiveRaw(w, f);
    pump(w);
    expect(received(w)).toHaveLength(0);
    expect(nonzeroMetrics(w.metrics, "rx_drop")).toEqual({
      rx_drop_ip6_zero_udp_checksum: 1,
      rx_drop_ip6_bad_udp_checksum: 1,
      rx_drop_ip6_fragment: 1,
      rx_drop_ip6_not_udp: 1,
      rx_drop_no_app_for_port: 1,
    });
  });

  it("sends a routed reply from the route's source to the on-link neighbor, or via the gateway", () => {
    const w = world();
    send6(w, "::", "2001:2::2", PORT, 40000, "on-link");
    send6(w, "::", "2001:2:5::7", PORT, 53, "via gw");
    send6(w, "2001:2::100", "2001:2::2", PORT, 40000, "own src");
    pump(w);
    const frames = sentFrames(w).map(parsed);
    expect(frames).toEqual([
      {
        dstMac: [2, 0, 0, 0, 0, 2],
        srcMac: OUR_MAC,
        src: "2001:2::1",
        dst: "2001:2::2",
        ports: [PORT, 40000],
        hopLimit: 64,
        text: "on-link",
      },
      {
        dstMac: [2, 0, 0, 0, 0, 1],
        srcMac: OUR_MAC,
        src: "2001:2::1",
        dst: "2001:2:5::7",
        ports: [PORT, 53],
        hopLimit: 64,
        text: "via gw",
      },
      {
        dstMac: [2, 0, 0, 0, 0, 2],
        srcMac: OUR_MAC,
        src: "2001:2::100",
        dst: "2001:2::2",
        ports: [PORT, 40000],
        hopLimit: 64,
        text: "own src",
      },
    ]);
    expect(metric(w.metrics, "tx6_packets")).toBe(3);
  });

  it("answers a link-local source out of the interface it came in on, from our link-local address, without a route", () => {
    const w = world();
    w.nb6.routes.length = 0; // no route at all: link-local needs none
    receiveRaw(w, frame6("fe80::9", "fe80::aa", 40001, PORT, new TextEncoder().encode("ping")));
    pump(w);
    const [req] = received(w);
    // The app's reply: source = the request's destination, out of the request's interface.
    send6(w, key(req.dst6), key(req.src6), PORT, req.srcPort, "pong", req.ifindex);
    // Route's-source form (all zero) picks our link-local address.
    send6(w, "::", "fe80::9", PORT, 40001, "pong2");
    // Another interface's link-local peer is not ours to answer.
    send6(w, "::", "fe80::9", PORT, 40001, "elsewhere", 3);
    pump(w);
    const frames = sentFrames(w).map(parsed);
    expect(frames.map((f) => [f.src, f.dst, f.dstMac, f.text])).toEqual([
      ["fe80::aa", "fe80::9", [2, 0, 0, 0, 0, 9], "pong"],
      ["fe80::aa", "fe80::9", [2, 0, 0, 0, 0, 9], "pong2"],
    ]);
    expect(nonzeroMetrics(w.metrics, "tx6_route_fail")).toEqual({ tx6_route_fail_interface: 1 });
  });

  it("on a neighbor miss drops, counts and publishes one IPv6 solicit per next hop per resolicitMs", () => {
    const w = world();
    for (let i = 0; i < 3; i++) send6(w, "::", "2001:2::77", PORT, 40000, "x");
    pump(w);
    expect(sentFrames(w)).toHaveLength(0);
    expect(w.solicited).toEqual([[IFINDEX, 0x20010002, 0, 0, 0x77]]);
    const words: number[][] = [];
    w.solicitReader.poll(16, (off) => {
      words.push([...new Uint32Array(w.solicitReader.i32.buffer, w.solicitReader.i32.byteOffset + off, 5)]);
    });
    expect(words).toEqual([[IFINDEX, 0x20010002, 0, 0, 0x77]]);
    expect(nonzeroMetrics(w.metrics, "solicits6")).toEqual({ solicits6_published: 1, solicits6_suppressed: 2 });
    expect(metric(w.metrics, "tx6_no_neighbor")).toBe(3);
    // The neighbor resolves (netbase's generation moves with the write): the next one goes out.
    w.nb6.neighbors.set(`${IFINDEX}/2001:2::77`, [2, 0, 0, 0, 0, 0x77]);
    w.writer.upsertNeighbor({
      ifindex: IFINDEX,
      ip: 0xc6120077,
      mac: Uint8Array.of(2, 0, 0, 0, 0, 0x77),
      state: 2,
      flags: 0,
    });
    send6(w, "::", "2001:2::77", PORT, 40000, "now");
    pump(w);
    expect(sentFrames(w).map((f) => parsed(f).dstMac)).toEqual([[2, 0, 0, 0, 0, 0x77]]);
  });

  it("publishes a zeroed slot, counted as solicits6_unsupported, when the encoder refuses (a slot too small)", () => {
    const w = world(2);
    send6(w, "::", "2001:2::77", PORT, 40000, "x");
    pump(w);
    const words: number[][] = [];
    w.solicitReader.poll(16, (off) => {
      words.push([...new Uint32Array(w.solicitReader.i32.buffer, w.solicitReader.i32.byteOffset + off, 8)]);
    });
    expect(words).toEqual([[0, 0, 0, 0, 0, 0, 0, 0]]);
    expect(nonzeroMetrics(w.metrics, "solicits6")).toEqual({ solicits6_unsupported: 1 });
  });

  it("counts no route, a route of another interface, a blackhole, a non-local source and multicast", () => {
    const w = world();
    w.nb6.routes = w.nb6.routes.filter((r) => r.len !== 0); // no default route
    send6(w, "::", "2001:3::1", PORT, 1, "a");
    send6(w, "::", "2001:2:0:66::1", PORT, 1, "b");
    send6(w, "::", "2001:2:0:99::1", PORT, 1, "c");
    send6(w, "2001:2::bad", "2001:2::2", PORT, 1, "d");
    send6(w, "::", "ff02::1", PORT, 1, "e");
    send6(w, "::", "2001:2::2", 9999, 1, "f"); // a port the app does not own
    pump(w);
    expect(sentFrames(w)).toHaveLength(0);
    expect(nonzeroMetrics(w.metrics, "tx")).toMatchObject({
      tx6_route_fail_no_route: 1,
      tx6_route_fail_interface: 1,
      tx6_route_fail_blackhole: 1,
      tx6_bad_source_ip: 1,
      tx6_route_fail_multicast: 1,
      tx_bad_source_port: 1,
    });
  });
});
