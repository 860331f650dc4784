// The app tile body without processes or kernel: the test plays the net tile on the channels.
// Proves: echo replies with swapped addresses and identical bytes; init runs once, inside the
// first poll, with the settings; exceptions from user code are counted, logged at most once a
// second, and never stop the tile; a full tx ring refuses (counted), never overwrites; send
// enforces the app's ports and maxPayload; the loader's refusals are clear.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UdpChannelReader, type UdpChannelRegions, UdpChannelWriter, type UdpMessage } from "../shared/udp/channel";
import type { AppModule } from "../tiles/app/api";
import { AppInitError, AppTileBody } from "../tiles/app/body";
import { type AppTileConfig, appMetrics } from "../tiles/app/definition";
import { echoApp } from "../tiles/app/echo";
import { loadAppModule } from "../tiles/app/loader";
import { captureLog, ipv4, makeChannel, makeMetrics, metric } from "./support/dataplane-helpers";

const APPS = join(__dirname, "fixtures", "apps");
const CLIENT = ipv4("198.18.5.2");
const SERVER = ipv4("198.18.5.1");

interface Harness {
  body: AppTileBody;
  metrics: ReturnType<typeof makeMetrics>;
  log: ReturnType<typeof captureLog>;
  /** The net tile's ends. */
  toApp: UdpChannelWriter;
  fromApp: UdpChannelReader;
}

function harness(module: AppModule, over: Partial<AppTileConfig> = {}): Harness {
  const config: AppTileConfig = {
    name: "t",
    modulePath: "builtin:echo",
    ports: [7000],
    settings: {},
    channelDepth: 64,
    maxPayload: 256,
    ...over,
  };
  const rx: UdpChannelRegions = makeChannel("rx", config.channelDepth, config.maxPayload);
  const tx: UdpChannelRegions = makeChannel("tx", config.channelDepth, config.maxPayload);
  const metrics = makeMetrics("app-t", "app", appMetrics);
  const log = captureLog();
  const body = new AppTileBody({ config, metrics, module, log, rx, tx });
  return {
    body,
    metrics,
    log,
    toApp: new UdpChannelWriter("to-app", "rx", rx, config.channelDepth, config.maxPayload),
    fromApp: new UdpChannelReader("from-app", "tx", tx, config.channelDepth, config.maxPayload),
  };
}

function deliver(h: Harness, srcPort: number, dstPort: number, text: string): void {
  const at = h.toApp.begin();
  if (at < 0) throw new Error("rx channel full");
  const bytes = new TextEncoder().encode(text);
  h.toApp.data.u8.set(bytes, at);
  h.toApp.finish(CLIENT, SERVER, srcPort, dstPort, bytes.length);
}

interface Sent {
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
  text: string;
}

function drain(h: Harness): Sent[] {
  const out: Sent[] = [];
  const decoder = new TextDecoder();
  const take = (m: UdpMessage): void => {
    out.push({
      srcIp: m.srcIp,
      dstIp: m.dstIp,
      srcPort: m.srcPort,
      dstPort: m.dstPort,
      text: decoder.decode(h.fromApp.data.u8.subarray(m.offset, m.offset + m.length)),
    });
  };
  while (h.fromApp.poll(64, take) > 0);
  return out;
}

describe("app tile body", () => {
  it("echoes each datagram to its source, from the address and port it arrived on, byte for byte", () => {
    const h = harness(echoApp);
    for (let i = 0; i < 40; i++) deliver(h, 40000 + i, 7000, `ping ${i} ${"x".repeat(i * 5)}`);
    h.toApp.flush();
    let handled = 0;
    while (handled < 40) {
      const n = h.body.poll(0);
      expect(n).toBeGreaterThan(0);
      handled += n;
    }
    const sent = drain(h);
    expect(sent).toHaveLength(40);
    sent.forEach((s, i) => {
      expect(s).toEqual({
        srcIp: SERVER,
        dstIp: CLIENT,
        srcPort: 7000,
        dstPort: 40000 + i,
        text: `ping ${i} ${"x".repeat(i * 5)}`,
      });
    });
    expect(metric(h.metrics, "rx_packets")).toBe(40);
    expect(metric(h.metrics, "tx_packets")).toBe(40);
    expect(metric(h.metrics, "tx_bytes")).toBe(metric(h.metrics, "rx_bytes"));
    expect(h.body.poll(0)).toBe(0);
  });

  it("runs init once at the first poll, with settings, before any packet; answers with its own payloads", () => {
    const mod = loadAppModule({ name: "g", modulePath: join(APPS, "greeter.js"), ports: [7101, 7100] });
    const state = (mod as unknown as { state: { initCalls: number; count: number } }).state;
    expect(state.initCalls).toBe(0);
    const h = harness(mod, {
      name: "g",
      ports: [7100, 7101],
      settings: { greeting: "hello", announceTo: CLIENT },
    });
    expect(state.initCalls).toBe(0);
    deliver(h, 5555, 7100, "world");
    h.toApp.flush();
    h.body.poll(0);
    h.body.poll(0);
    expect(state.initCalls).toBe(1);
    const sent = drain(h);
    expect(sent).toEqual([
      { srcIp: 0, dstIp: CLIENT, srcPort: 7101, dstPort: 9999, text: "hello ready" },
      { srcIp: SERVER, dstIp: CLIENT, srcPort: 7100, dstPort: 5555, text: "hello 1 world" },
    ]);
  });

  it("counts exceptions from onPacket, logs at most once a second, and keeps serving", () => {
    const mod = loadAppModule({ name: "b", modulePath: join(APPS, "throwing.js"), ports: [7000] });
    const h = harness(mod);
    for (let i = 0; i < 30; i++) deliver(h, 1000 + i, 7000, i % 3 === 0 ? `boom ${i}` : `fine ${i}`);
    h.toApp.flush();
    while (h.body.poll(10) > 0);
    expect(metric(h.metrics, "handler_exceptions")).toBe(10);
    expect(drain(h).map((s) => s.text)).toHaveLength(20);
    const errors = h.log.lines.filter((l) => l.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(/onPacket threw .*boom from port 1000/);
    // A second later the next exception is reported with the count since the last report
    // (the 9 silenced above, 3 more now, and the late one).
    for (let i = 0; i < 3; i++) deliver(h, 2000 + i, 7000, "boom again");
    h.toApp.flush();
    h.body.poll(500);
    h.body.poll(1011);
    expect(h.log.lines.filter((l) => l.level === "error")).toHaveLength(1);
    deliver(h, 3000, 7000, "boom late");
    h.toApp.flush();
    h.body.poll(1011);
    const later = h.log.lines.filter((l) => l.level === "error");
    expect(later).toHaveLength(2);
    expect(later[1]?.msg).toMatch(/\(13 since the last report\)/);
  });

  it("refuses replies when the tx ring is full (counted), never overwriting queued ones", () => {
    const config: AppTileConfig = {
      name: "t",
      modulePath: "builtin:echo",
      ports: [7000],
      settings: {},
      channelDepth: 8,
      maxPayload: 256,
    };
    const rx = makeChannel("rx", 8, 256);
    const tx = makeChannel("tx", 8, 256);
    const metrics = makeMetrics("app-t", "app", appMetrics);
    const results: boolean[] = [];
    const recording: AppModule = {
      onPacket(pkt, app) {
        results.push(app.reply(pkt, pkt.data, pkt.offset, pkt.length));
      },
    };
    const body = new AppTileBody({ config, metrics, module: recording, log: captureLog(), rx, tx });
    const toApp = new UdpChannelWriter("to-app", "rx", rx, 8, 256);
    const fromApp = new UdpChannelReader("from-app", "tx", tx, 8, 256);
    const feed = (n: number, first: number): void => {
      for (let i = 0; i < n; i++) {
        const at = toApp.begin();
        toApp.data.u8[at] = first + i;
        toApp.finish(CLIENT, SERVER, 1, 7000, 1);
      }
      toApp.flush();
    };
    feed(8, 0);
    while (body.poll(0) > 0);
    feed(4, 8);
    while (body.poll(0) > 0);
    expect(results).toEqual([...Array(8).fill(true), ...Array(4).fill(false)]);
    expect(metric(metrics, "tx_ring_full")).toBe(4);
    const firsts: number[] = [];
    while (fromApp.poll(64, (m) => firsts.push(fromApp.data.u8[m.offset])) > 0);
    expect(firsts).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("enforces the app's ports and maxPayload on send, and payload ranges", () => {
    let api: Parameters<NonNullable<AppModule["init"]>>[0] | undefined;
    const h = harness({
      init(app) {
        api = app;
      },
      onPacket() {},
    });
    h.body.poll(0);
    if (!api) throw new Error("init did not run");
    const a = api;
    expect(() => a.send(CLIENT, 53, 7001, new Uint8Array(4))).toThrow(
      /port 7001, which is not one of its ports \(7000\)/,
    );
    expect(() => a.send(CLIENT, 53, 7000, new Uint8Array(257))).toThrow(/257-byte payload exceeds maxPayload 256/);
    expect(() => a.send(CLIENT, 53, 7000, new Uint8Array(8), 4, 5)).toThrow(/not inside a Uint8Array of 8 bytes/);
    expect(() => a.send(CLIENT, 0, 7000, new Uint8Array(8))).toThrow(/bad destination port 0/);
    expect(a.send(CLIENT, 53, 7000, new Uint8Array([1, 2, 3, 4, 5, 6]), 2, 3)).toBe(true);
    h.body.poll(0);
    expect(drain(h)).toEqual([{ srcIp: 0, dstIp: CLIENT, srcPort: 7000, dstPort: 53, text: "\u0003\u0004\u0005" }]);
    expect(a.ports).toEqual([7000]);
    expect(Object.isFrozen(a.settings)).toBe(true);
  });

  it("stops with AppInitError when init throws", () => {
    const h = harness({
      init() {
        throw new Error("no config file");
      },
      onPacket() {},
    });
    expect(() => h.body.poll(0)).toThrow(AppInitError);
    expect(() => h.body.poll(0)).not.toThrow();
  });
});

describe("app module loader", () => {
  it("loads built-ins, CommonJS files and default exports", () => {
    expect(loadAppModule({ name: "e", modulePath: "builtin:echo", ports: [1] })).toBe(echoApp);
    expect(typeof loadAppModule({ name: "d", modulePath: join(APPS, "default-export.js"), ports: [1] }).onPacket).toBe(
      "function",
    );
  });

  it("refuses with errors that name the app, the file and the problem", () => {
    expect(() => loadAppModule({ name: "w", modulePath: join(APPS, "wrong-ports.js"), ports: [7000] })).toThrow(
      /app w: .*wrong-ports\.js exports ports \[1,2\] but the config gives \[7000\]; they must be equal/,
    );
    expect(() => loadAppModule({ name: "n", modulePath: join(APPS, "no-handler.js"), ports: [1] })).toThrow(
      /app n: .*no-handler\.js does not export onPacket/,
    );
    expect(() => loadAppModule({ name: "r", modulePath: "apps/x.js", ports: [1] })).toThrow(/not absolute/);
    expect(() => loadAppModule({ name: "m", modulePath: join(APPS, "missing.js"), ports: [1] })).toThrow(
      /app m: loading .*missing\.js failed/,
    );
    expect(() => loadAppModule({ name: "u", modulePath: "builtin:nope", ports: [1] })).toThrow(
      /unknown built-in module builtin:nope/,
    );
  });
});
