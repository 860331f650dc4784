// The app tile body reading several channels (one per net tile feeding this replica), without
// processes: the test plays the net tiles. Proves: reply() answers on the channel the datagram
// arrived on; send() keeps one flow on one channel (flowReplica) and spreads flows; with
// routeByNetbase it picks among the channels of the route's interface; polling is bounded and
// fair across channels; several channels need a doorbell and idle on it.
import { describe, expect, it } from "vitest";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseWriter } from "../shared/netbase/writer";
import { RouteType } from "../shared/netmodel";
import { UdpChannelReader, UdpChannelWriter, type UdpMessage } from "../shared/udp/channel";
import { DOORBELL_BYTES } from "../shared/udp/doorbell";
import { flowReplica } from "../shared/udp/flow-hash";
import type { AppModule } from "../tiles/app/api";
import { AppTileBody } from "../tiles/app/body";
import { type AppChannel, type AppTileConfig, appMetrics } from "../tiles/app/definition";
import { echoApp } from "../tiles/app/echo";
import { captureLog, ipv4, makeChannel, makeMetrics, metric } from "./support/dataplane-helpers";

const DEPTH = 64;
const MAX_PAYLOAD = 128;
const SERVER = ipv4("198.18.0.1");
const PORT = 7000;

interface Harness {
  body: AppTileBody;
  metrics: ReturnType<typeof makeMetrics>;
  /** Per channel, the net tile's ends. */
  toApp: UdpChannelWriter[];
  fromApp: UdpChannelReader[];
}

function harness(
  module: AppModule,
  channels: AppChannel[],
  over: Partial<AppTileConfig> = {},
  extra: { netbase?: ArrayBuffer; noDoorbell?: boolean } = {},
): Harness {
  const config: AppTileConfig = {
    name: "svc",
    modulePath: "test",
    ports: [PORT],
    settings: {},
    channelDepth: DEPTH,
    maxPayload: MAX_PAYLOAD,
    channels,
    ...over,
  };
  const regions = channels.map(() => ({
    rx: makeChannel("rx", DEPTH, MAX_PAYLOAD),
    tx: makeChannel("tx", DEPTH, MAX_PAYLOAD),
  }));
  const metrics = makeMetrics("app-svc", "app", appMetrics);
  const body = new AppTileBody({
    config,
    metrics,
    module,
    log: captureLog(),
    channels: regions,
    ...(extra.noDoorbell ? {} : { doorbell: new ArrayBuffer(DOORBELL_BYTES) }),
    ...(extra.netbase ? { netbase: extra.netbase } : {}),
  });
  return {
    body,
    metrics,
    toApp: regions.map((r, k) => new UdpChannelWriter(`net.rx.${k}`, "rx", r.rx, DEPTH, MAX_PAYLOAD)),
    fromApp: regions.map((r, k) => new UdpChannelReader(`net.tx.${k}`, "tx", r.tx, DEPTH, MAX_PAYLOAD)),
  };
}

function deliver(h: Harness, channel: number, srcPort: number, text: string): void {
  const w = h.toApp[channel];
  const at = w.begin();
  const bytes = new TextEncoder().encode(text);
  w.data.u8.set(bytes, at);
  w.finish(ipv4("198.18.5.2"), SERVER, srcPort, PORT, bytes.length);
  w.flush();
}

/** What the app sent on each channel: "dstPort text". */
function sentOn(h: Harness): string[][] {
  const decoder = new TextDecoder();
  return h.fromApp.map((r) => {
    const out: string[] = [];
    const take = (m: UdpMessage): void => {
      out.push(`${m.dstPort} ${decoder.decode(r.data.u8.subarray(m.offset, m.offset + m.length))}`);
    };
    while (r.poll(64, take) > 0) r.release();
    return out;
  });
}

const two: AppChannel[] = [
  { channel: "svc.0.net.0", netTile: "net.0", ifindex: 2 },
  { channel: "svc.0.net.1", netTile: "net.1", ifindex: 2 },
];

describe("app tile body with several channels", () => {
  it("replies on the channel each datagram arrived on", () => {
    const h = harness(echoApp, two);
    deliver(h, 1, 40001, "one");
    deliver(h, 0, 40000, "zero");
    deliver(h, 1, 40002, "one again");
    while (h.body.poll(0) > 0);
    expect(sentOn(h)).toEqual([["40000 zero"], ["40001 one", "40002 one again"]]);
    expect(metric(h.metrics, "tx_packets")).toBe(3);
  });

  it("keeps one flow on one channel for send(), and spreads flows over the channels", () => {
    const sender: AppModule = {
      init(app) {
        for (let round = 0; round < 2; round++)
          for (let i = 0; i < 40; i++) app.send(ipv4("198.18.7.1") + i, 9000 + i, PORT, new Uint8Array([i]));
      },
      onPacket() {},
    };
    const h = harness(sender, two);
    h.body.start();
    const sent = sentOn(h);
    for (let i = 0; i < 40; i++) {
      const k = flowReplica(0, PORT, ipv4("198.18.7.1") + i, 9000 + i, 2);
      expect(sent[k].filter((s) => s.startsWith(`${9000 + i} `))).toHaveLength(2);
      expect(sent[1 - k].filter((s) => s.startsWith(`${9000 + i} `))).toHaveLength(0);
    }
    expect(sent[0].length).toBeGreaterThan(10);
    expect(sent[1].length).toBeGreaterThan(10);
  });

  it("with routeByNetbase, sends through a channel of the interface the route leaves by", () => {
    const caps = { routes: 16, neighbors: 4, interfaces: 4, addrsPerInterface: 2 };
    const netbase = new ArrayBuffer(netbaseRegionSize(caps));
    initNetbase(netbase, caps);
    const nb = new NetbaseWriter(netbase);
    const route = {
      table: 254,
      type: RouteType.unicast,
      gateway: 0,
      prefsrc: 0,
      priority: 0,
      scope: 253,
      protocol: 2,
      tos: 0,
    };
    nb.upsertRoute({ ...route, dst: ipv4("198.18.10.0"), dstLen: 24, oif: 2 });
    nb.upsertRoute({ ...route, dst: ipv4("198.18.11.0"), dstLen: 24, oif: 3 });
    const channels: AppChannel[] = [
      { channel: "c0", netTile: "net.0", ifindex: 2 },
      { channel: "c1", netTile: "net.1", ifindex: 3 },
      { channel: "c2", netTile: "net.2", ifindex: 3 },
    ];
    const sender: AppModule = {
      init(app) {
        for (let i = 0; i < 30; i++) {
          app.send(ipv4("198.18.10.1") + i, 1000 + i, PORT, new Uint8Array(1));
          app.send(ipv4("198.18.11.1") + i, 2000 + i, PORT, new Uint8Array(1));
          app.send(ipv4("198.18.12.1") + i, 3000 + i, PORT, new Uint8Array(1)); // no route: any channel
        }
      },
      onPacket() {},
    };
    const h = harness(sender, channels, { routeByNetbase: true }, { netbase });
    h.body.start();
    const ports = sentOn(h).map((list) => list.map((s) => Number(s.split(" ")[0])));
    expect(ports[0].filter((p) => p >= 1000 && p < 2000)).toHaveLength(30);
    expect([...ports[1], ...ports[2]].filter((p) => p >= 2000 && p < 3000)).toHaveLength(30);
    expect(ports[1].some((p) => p >= 2000 && p < 3000) && ports[2].some((p) => p >= 2000 && p < 3000)).toBe(true);
    expect(ports.flat().filter((p) => p >= 3000)).toHaveLength(30);
    expect(() => harness(sender, channels, { routeByNetbase: true })).toThrow(/routeByNetbase needs netbase/);
  });

  it("polls a bounded batch overall, starting from another channel each time", () => {
    const seen: number[] = [];
    const h = harness({ onPacket: (pkt) => seen.push(pkt.srcPort) }, two, { batch: 4 });
    for (let i = 0; i < 10; i++) {
      deliver(h, 0, 100 + i, "a");
      deliver(h, 1, 200 + i, "b");
    }
    expect(h.body.poll(0)).toBe(4);
    expect(h.body.poll(0)).toBe(4);
    expect(seen.filter((p) => p < 200)).toHaveLength(4);
    expect(seen.filter((p) => p >= 200)).toHaveLength(4);
    while (h.body.poll(0) > 0);
    expect(seen).toHaveLength(20);
  });

  it("needs a doorbell with several channels, and idles on it", () => {
    expect(() => harness(echoApp, two, {}, { noDoorbell: true })).toThrow(/2 channels need a doorbell/);
    const h = harness(echoApp, two);
    h.body.poll(0);
    let start = performance.now();
    h.body.idleWait(30); // nothing comes: the doorbell wait times out
    expect(performance.now() - start).toBeGreaterThanOrEqual(25);
    deliver(h, 1, 5000, "x");
    start = performance.now();
    h.body.idleWait(5000); // data waiting on channel 1: no sleep
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
