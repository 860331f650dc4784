// The data plane's JavaScript cost per echoed datagram, IPv4 beside IPv6, in process: a net tile
// body and an echo app tile body on shared channels, fake AF_XDP rings (the test plays the
// kernel: receives, takes sent frames, completes them). Prints ns per echo for each family and
// checks that every datagram was answered; the ratio is printed, not asserted (a shared 2-core
// machine is too noisy for a bound).
import { expect, it } from "vitest";
import { parseIp6 } from "../shared/ip6";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseWriter } from "../shared/netbase/writer";
import { buildUdpFrame, newUdpFrameFields, UDP_PAYLOAD_OFFSET } from "../shared/packet/udp-frame";
import { buildUdp6Frame, newUdp6FrameFields, UDP6_PAYLOAD_OFFSET } from "../shared/packet/udp6-frame";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { AppTileBody } from "../tiles/app/body";
import { appMetrics } from "../tiles/app/definition";
import { echoApp } from "../tiles/app/echo";
import { NetTileBody } from "../tiles/net/body";
import { netMetrics } from "../tiles/net/definition";
import { captureLog, ipv4, makeChannel, makeMetrics, metric, nonzeroMetrics } from "./support/dataplane-helpers";
import { FakeNetbase6 } from "./support/fake-netbase6";
import { FakeXsk, quietSyscalls } from "./support/fake-xsk";

const GEOMETRY = { frameSize: 2048, frameCount: 256, fillDepth: 128, completionDepth: 128, rxDepth: 128, txDepth: 128 };
const OFF = { producer: 0, consumer: 64, desc: 192 };
const HEADROOM = 256;
const IFINDEX = 2;
const PORT = 7000;
const MAC = Uint8Array.of(2, 0, 0, 0, 0, 0xaa);
const PEER_MAC = [2, 0, 0, 0, 0, 2];
const ip6 = (t: string) => parseIp6(t) as Uint32Array;

function setUp() {
  const solicitRing: RingSpec = { kind: "unreliable", depth: 16, slotSize: 32 };
  const sizes = ringRegionSizes(solicitRing);
  const solicit = { producer: new ArrayBuffer(sizes.producerBytes), consumer: new ArrayBuffer(sizes.consumerBytes) };
  initRingRegions(solicit.producer, solicit.consumer, solicitRing);
  const caps = { routes: 16, neighbors: 16, interfaces: 4, addrsPerInterface: 2 };
  const netbase = new ArrayBuffer(netbaseRegionSize(caps));
  initNetbase(netbase, caps);
  const nb = new NetbaseWriter(netbase);
  nb.upsertLink({ ifindex: IFINDEX, name: "eth0", mac: MAC, mtu: 1500, up: true, lowerUp: true, type: 1, flags: 0 });
  nb.upsertAddr({ ifindex: IFINDEX, address: ipv4("198.18.0.1"), prefixLen: 24, broadcast: 0, scope: 0 });
  const r = {
    table: 254,
    type: 1,
    gateway: 0,
    prefsrc: ipv4("198.18.0.1"),
    priority: 0,
    scope: 253,
    protocol: 2,
    tos: 0,
  };
  nb.upsertRoute({ ...r, dst: ipv4("198.18.0.0"), dstLen: 24, oif: IFINDEX });
  nb.upsertRoute({ ...r, table: 255, type: 2, scope: 254, dst: ipv4("198.18.0.1"), dstLen: 32, oif: IFINDEX });
  nb.upsertNeighbor({ ifindex: IFINDEX, ip: ipv4("198.18.0.2"), mac: Uint8Array.from(PEER_MAC), state: 2, flags: 0 });
  const nb6 = new FakeNetbase6();
  nb6.locals.add("2001:2::1");
  nb6.routes.push({ prefix: ip6("2001:2::"), len: 64, ifindex: IFINDEX, src: ip6("2001:2::1") });
  nb6.neighbors.set(`${IFINDEX}/2001:2::2`, PEER_MAC);
  const channel = { rx: makeChannel("rx", 256, 1472), tx: makeChannel("tx", 256, 1472) };
  const xsk = new FakeXsk(GEOMETRY);
  const metrics = makeMetrics("net", "net", netMetrics);
  const net = new NetTileBody({
    config: {
      ifindex: IFINDEX,
      queueId: 0,
      ...GEOMETRY,
      apps: [{ name: "echo", ports: [PORT] }],
      channelDepth: 256,
      maxPayload: 1472,
      solicitRing,
    },
    metrics,
    netbase,
    netbase6: nb6,
    umem: xsk.umem,
    xskFd: -1,
    xskRings: xsk.rings,
    solicit,
    apps: [channel],
    syscalls: quietSyscalls(),
  });
  const app = new AppTileBody({
    config: {
      name: "echo",
      modulePath: "builtin:echo",
      ports: [PORT],
      settings: {},
      channelDepth: 256,
      maxPayload: 1472,
    },
    metrics: makeMetrics("app", "app", appMetrics),
    module: echoApp,
    log: captureLog(),
    ...channel,
  });
  return { xsk, net, app, metrics };
}

/** One family's frame, built once: the "kernel" copies it into each receive frame. */
function frame(family: 4 | 6, payload: number): Uint8Array {
  if (family === 4) {
    const u8 = new Uint8Array(UDP_PAYLOAD_OFFSET + payload);
    const f = newUdpFrameFields();
    f.dstMac.set(MAC);
    f.srcIp = ipv4("198.18.0.2");
    f.dstIp = ipv4("198.18.0.1");
    f.srcPort = 40000;
    f.dstPort = PORT;
    buildUdpFrame(u8, 0, f, payload);
    return u8;
  }
  const u8 = new Uint8Array(UDP6_PAYLOAD_OFFSET + payload);
  const f = newUdp6FrameFields();
  f.dstMac.set(MAC);
  f.src.set(ip6("2001:2::2"));
  f.dst.set(ip6("2001:2::1"));
  f.srcPort = 40000;
  f.dstPort = PORT;
  buildUdp6Frame(u8, 0, f, payload);
  return u8;
}

/** Echoes n datagrams in batches of 32; returns ns per echo. */
function run(w: ReturnType<typeof setUp>, f: Uint8Array, n: number): number {
  const r = w.xsk.rings;
  const fill = new Int32Array(r.fill);
  const fillSlots = new Uint32Array(r.fill, OFF.desc);
  const rx = new Int32Array(r.rx);
  const rxSlots = new Uint32Array(r.rx, OFF.desc);
  const tx = new Int32Array(r.tx);
  const txSlots = new Uint32Array(r.tx, OFF.desc);
  const comp = new Int32Array(r.completion);
  const compSlots = new Uint32Array(r.completion, OFF.desc);
  const umem = new Uint8Array(w.xsk.umem);
  let now = 1;
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < n; done += 32) {
    for (let k = 0; k < 32; k++) {
      const cons = fill[16] >>> 0;
      const addr = fillSlots[(cons & (GEOMETRY.fillDepth - 1)) * 2];
      fill[16] = cons + 1;
      umem.set(f, addr + HEADROOM);
      const prod = rx[0] >>> 0;
      const s = (prod & (GEOMETRY.rxDepth - 1)) * 4;
      rxSlots[s] = addr + HEADROOM;
      rxSlots[s + 2] = f.length;
      rx[0] = prod + 1;
    }
    w.net.poll(now++);
    w.app.poll(now++);
    w.net.poll(now++);
    // The kernel sends what is in the TX ring and completes it.
    for (let c = tx[16] >>> 0; c !== tx[0] >>> 0; c++) {
      const p = comp[0] >>> 0;
      compSlots[(p & (GEOMETRY.completionDepth - 1)) * 2] = txSlots[(c & (GEOMETRY.txDepth - 1)) * 4];
      comp[0] = p + 1;
      tx[16] = c + 1;
    }
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

it("echoes IPv4 and IPv6 at a comparable JavaScript cost per datagram", () => {
  const results: string[] = [];
  for (const payload of [64, 1024]) {
    const ns: Record<number, number> = {};
    for (const family of [4, 6] as const) {
      const w = setUp();
      const f = frame(family, payload);
      run(w, f, 64_000); // warm-up (JIT)
      ns[family] = Math.min(run(w, f, 128_000), run(w, f, 128_000));
      expect(metric(w.metrics, "tx_packets"), JSON.stringify(nonzeroMetrics(w.metrics))).toBe(64_000 + 2 * 128_000);
      expect(metric(w.metrics, "tx6_packets")).toBe(family === 6 ? 64_000 + 2 * 128_000 : 0);
    }
    results.push(
      `${payload} B: IPv4 ${ns[4].toFixed(0)} ns, IPv6 ${ns[6].toFixed(0)} ns per echo (IPv6/IPv4 pps ${(ns[4] / ns[6]).toFixed(2)})`,
    );
  }
  console.log(`in-process echo (net body + app body, fake rings):\n  ${results.join("\n  ")}`);
}, 120_000);
