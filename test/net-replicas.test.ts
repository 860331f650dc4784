// The AF_XDP net tile body with an app of several replicas, in process (fake rings: the test plays
// the kernel). Proves: every datagram of a flow goes to the same replica (flowReplica's, which any
// other net tile computes alike), many flows spread over all replicas; a replica with a doorbell is
// woken through it; each replica's tx channel sends from its app's ports only; one replica per app
// keeps today's channel order; the XDP queue-miss counters of unserved queues become
// rx_drop_unserved_queue; the config checks the replicas.
import { describe, expect, it } from "vitest";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { SOLICIT_BYTES } from "../shared/solicit/message";
import { UdpChannelReader, UdpChannelWriter } from "../shared/udp/channel";
import { DOORBELL_BYTES } from "../shared/udp/doorbell";
import { flowReplica } from "../shared/udp/flow-hash";
import { type NetChannelRegions, NetTileBody } from "../tiles/net/body";
import { type NetAppPorts, type NetTileConfig, netMetrics, validateNetTileConfig } from "../tiles/net/definition";
import { ipv4, makeChannel, makeMetrics, metric } from "./support/dataplane-helpers";
import { FakeXsk, quietSyscalls } from "./support/fake-xsk";

const GEOMETRY = { frameSize: 2048, frameCount: 512, fillDepth: 256, completionDepth: 256, rxDepth: 256, txDepth: 256 };
const DEPTH = 1024;
const MAX_PAYLOAD = 256;
const SERVER = ipv4("198.18.0.1");
const PORT = 7000;

interface World {
  body: NetTileBody;
  xsk: FakeXsk;
  metrics: ReturnType<typeof makeMetrics>;
  channels: NetChannelRegions[];
  /** The replicas' ends, in channel order. */
  rx: UdpChannelReader[];
  tx: UdpChannelWriter[];
}

function world(apps: NetAppPorts[], over: Partial<NetTileConfig> = {}, queueMisses?: ArrayBuffer): World {
  const solicitRing: RingSpec = { kind: "unreliable", depth: 16, slotSize: SOLICIT_BYTES };
  const sizes = ringRegionSizes(solicitRing);
  const solicit = { producer: new ArrayBuffer(sizes.producerBytes), consumer: new ArrayBuffer(sizes.consumerBytes) };
  initRingRegions(solicit.producer, solicit.consumer, solicitRing);
  const caps = { routes: 16, neighbors: 16, interfaces: 4, addrsPerInterface: 2 };
  const netbase = new ArrayBuffer(netbaseRegionSize(caps));
  initNetbase(netbase, caps);
  const count = apps.reduce((n, a) => n + (a.replicas?.length ?? 1), 0);
  const replicas = apps.flatMap((a) => a.replicas ?? [{ channel: a.name }]);
  const channels: NetChannelRegions[] = replicas.map((r) => ({
    rx: makeChannel("rx", DEPTH, MAX_PAYLOAD),
    tx: makeChannel("tx", DEPTH, MAX_PAYLOAD),
    ...(r.doorbell !== undefined ? { doorbell: new ArrayBuffer(DOORBELL_BYTES) } : {}),
  }));
  expect(channels).toHaveLength(count);
  const xsk = new FakeXsk(GEOMETRY);
  const metrics = makeMetrics("net", "net", netMetrics);
  const config: NetTileConfig = {
    ifindex: 2,
    queueId: 0,
    ...GEOMETRY,
    apps,
    channelDepth: DEPTH,
    maxPayload: MAX_PAYLOAD,
    solicitRing,
    ...over,
  };
  const body = new NetTileBody({
    config,
    metrics,
    netbase,
    umem: xsk.umem,
    xskFd: -1,
    xskRings: xsk.rings,
    solicit,
    apps: channels,
    syscalls: quietSyscalls(),
    ...(queueMisses ? { queueMisses } : {}),
  });
  return {
    body,
    xsk,
    metrics,
    channels,
    rx: channels.map((c, i) => new UdpChannelReader(`app.rx.${i}`, "rx", c.rx, DEPTH, MAX_PAYLOAD)),
    tx: channels.map((c, i) => new UdpChannelWriter(`app.tx.${i}`, "tx", c.tx, DEPTH, MAX_PAYLOAD)),
  };
}

/** The replica (channel index) each datagram reached, with its source port, in arrival order. */
function drain(w: World): { channel: number; srcIp: number; srcPort: number }[] {
  const got: { channel: number; srcIp: number; srcPort: number }[] = [];
  w.rx.forEach((r, channel) => {
    while (r.poll(64, (m) => got.push({ channel, srcIp: m.srcIp, srcPort: m.srcPort })) > 0) r.release();
  });
  return got;
}

const payload = new TextEncoder().encode("hello");
const replicas3 = [{ channel: "svc.0" }, { channel: "svc.1" }, { channel: "svc.2" }];

describe("net tile body with app replicas", () => {
  it("sends every datagram of a flow to the same replica, and spreads flows over all replicas", () => {
    const w = world([{ name: "svc", ports: [PORT], replicas: replicas3 }]);
    const flows = Array.from({ length: 120 }, (_, i) => ({
      ip: ipv4("198.18.1.0") + i,
      port: 20000 + ((i * 7919) % 40000),
    }));
    let now = 1;
    for (let round = 0; round < 3; round++) {
      for (const f of flows) expect(w.xsk.receive(f.ip, f.port, SERVER, PORT, payload)).toBe(true);
      while (w.body.poll(now++) > 0);
    }
    const got = drain(w);
    expect(got).toHaveLength(flows.length * 3);
    const replicaOf = new Map<string, number>();
    for (const g of got) {
      const key = `${g.srcIp}:${g.srcPort}`;
      const seen = replicaOf.get(key);
      if (seen !== undefined) expect(g.channel).toBe(seen);
      replicaOf.set(key, g.channel);
      // The replica any net tile would pick for this 4-tuple.
      expect(g.channel).toBe(flowReplica(g.srcIp, g.srcPort, SERVER, PORT, 3));
    }
    const perReplica = [0, 1, 2].map((r) => [...replicaOf.values()].filter((c) => c === r).length);
    for (const n of perReplica) expect(n).toBeGreaterThan(15);
    expect(metric(w.metrics, "rx_delivered")).toBe(flows.length * 3);
  });

  it("wakes a replica with a doorbell through it, not through the ring's futex", () => {
    const w = world([
      {
        name: "svc",
        ports: [PORT],
        replicas: [
          { channel: "svc.0", doorbell: "bell.0" },
          { channel: "svc.1", doorbell: "bell.1" },
        ],
      },
    ]);
    const bells = w.channels.map((c) => new Int32Array(c.doorbell as ArrayBuffer));
    // A flow for replica 1, whose reader sleeps (flag up).
    let port = 30000;
    while (flowReplica(ipv4("198.18.2.1"), port, SERVER, PORT, 2) !== 1) port++;
    expect(w.rx[1].armSleep()).toBe(true);
    w.xsk.receive(ipv4("198.18.2.1"), port, SERVER, PORT, payload);
    w.body.poll(1);
    w.rx[1].disarmSleep();
    expect(Atomics.load(bells[1], 0)).toBe(1);
    expect(Atomics.load(bells[0], 0)).toBe(0);
    expect(drain(w).map((g) => g.channel)).toEqual([1]);
  });

  it("checks each replica's sends against its own app's ports", () => {
    const w = world([
      { name: "svc", ports: [PORT], replicas: [{ channel: "svc.0" }, { channel: "svc.1" }] },
      { name: "dns", ports: [53] },
    ]);
    const send = (channel: number, srcPort: number): void => {
      const t = w.tx[channel];
      t.begin();
      t.finish(0, ipv4("198.18.9.9"), srcPort, 4000, 0);
      t.flush();
    };
    send(1, PORT); // svc replica 1 from svc's port: passes the check (then no route in this netbase)
    send(1, 53); // svc replica 1 from dns's port: refused
    send(2, 53); // dns from its own port
    send(0, 53); // svc replica 0 from dns's port: refused
    w.body.poll(1);
    expect(metric(w.metrics, "tx_messages")).toBe(4);
    expect(metric(w.metrics, "tx_bad_source_port")).toBe(2);
    expect(metric(w.metrics, "tx_route_fail_no_route")).toBe(2);
  });

  it("keeps one channel per app, in app order, without replicas", () => {
    const w = world([
      { name: "a", ports: [7001] },
      { name: "b", ports: [7002] },
    ]);
    w.xsk.receive(ipv4("198.18.3.1"), 5000, SERVER, 7002, payload);
    w.xsk.receive(ipv4("198.18.3.1"), 5000, SERVER, 7001, payload);
    w.body.poll(1);
    expect(drain(w).map((g) => g.channel)).toEqual([0, 1]);
  });

  it("counts the growth of the unserved queues' XDP misses as rx_drop_unserved_queue", () => {
    const counters = new ArrayBuffer(4096);
    const v = new DataView(counters);
    v.setUint32(8 * 2, 5, true); // queue 2: 5 misses before the tile started (not counted)
    v.setUint32(8 * 1, 100, true); // queue 1 is served by a net tile: never counted
    const w = world([{ name: "svc", ports: [PORT] }], { queueMisses: { queueCount: 4, queues: [2, 3] } }, counters);
    v.setUint32(8 * 2, 12, true);
    v.setUint32(8 * 3 + 4, 1, true); // queue 3: 2^32 misses (the high word)
    v.setUint32(8 * 1, 900, true);
    w.body.housekeeping(1000);
    expect(metric(w.metrics, "rx_drop_unserved_queue")).toBe(7 + 2 ** 32);
    v.setUint32(8 * 2, 13, true);
    w.body.housekeeping(2000);
    expect(metric(w.metrics, "rx_drop_unserved_queue")).toBe(8 + 2 ** 32);
  });

  it("refuses empty replica lists, a channel key used twice, and queue ids out of range", () => {
    const base = world([{ name: "svc", ports: [PORT] }]).body.config;
    const check = (over: Partial<NetTileConfig>) => () => validateNetTileConfig({ ...base, ...over });
    expect(check({ apps: [{ name: "svc", ports: [PORT], replicas: [] }] })).toThrow(/svc: replicas is empty/);
    expect(
      check({
        apps: [
          { name: "a", ports: [1], replicas: [{ channel: "x" }] },
          { name: "b", ports: [2], replicas: [{ channel: "x" }] },
        ],
      }),
    ).toThrow(/channel x listed twice/);
    expect(
      check({
        apps: [
          { name: "a", ports: [1] },
          { name: "b", ports: [2], replicas: [{ channel: "a" }] },
        ],
      }),
    ).toThrow(/channel a listed twice/);
    expect(check({ queueMisses: { queueCount: 2, queues: [2] } })).toThrow(/queue 2 is not below 2/);
  });
});
