// The metrics region: layout, schema validation, writer/reader round trip, a real child tile
// writing through an inherited fd while this process reads it read-only, and the hot path's
// freedom from allocation.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CommonMetric, commonMetricDecls, withCommonMetrics } from "../shared/metrics/common";
import { METRICS_HEADER_SIZE, METRICS_LAYOUT } from "../shared/metrics/layout";
import { MetricsReader } from "../shared/metrics/reader";
import { initMetricsRegion, metricsRegionSize, validateMetricsRegion } from "../shared/metrics/region";
import type { MetricDecl } from "../shared/metrics/schema";
import { MetricsWriter, setRegionState } from "../shared/metrics/writer";
import { native } from "../shared/native";
import { FakeLauncher, fixtureDecls, ROOT, sleepMs } from "./support/health-fake-launcher";

const addon = native();

function freshRegion(decls: readonly MetricDecl[] = fixtureDecls, name = "net", kind = "net") {
  const size = metricsRegionSize(decls);
  const fd = addon.memfdCreate("metrics-test", size);
  const buf = addon.mapFd(fd, 0, true);
  initMetricsRegion(buf, name, kind, decls);
  return { fd, buf, size };
}

describe("metrics region layout and schema", () => {
  it("sizes regions in whole pages that hold header, schema and one f64 per metric", () => {
    const { PAGE_SIZE } = METRICS_LAYOUT.constants;
    const small = metricsRegionSize([]);
    expect(small % PAGE_SIZE).toBe(0);
    const many: MetricDecl[] = Array.from({ length: 600 }, (_, i) => ({
      name: `metric_${i}`,
      kind: "counter",
      help: "a counter with a help text of moderate length",
    }));
    const big = metricsRegionSize(many);
    expect(big % PAGE_SIZE).toBe(0);
    expect(big).toBeGreaterThanOrEqual(METRICS_HEADER_SIZE + 600 * 8 + 600 * 40);
    // Any valid tile name fits in the size computed without it.
    const buf = new ArrayBuffer(big);
    initMetricsRegion(buf, "t".repeat(64), "k".repeat(64), many);
    expect(new MetricsReader(buf).metrics).toHaveLength(600);
  });

  it("round-trips schema, state, pid, heartbeat and values between a writer and a reader", () => {
    const { fd, buf } = freshRegion();
    const before = new MetricsReader(buf, "fresh");
    expect(before.tileName).toBe("net");
    expect(before.tileKind).toBe("net");
    expect(before.metrics).toEqual(fixtureDecls);
    expect(before.state).toBe("booting");
    expect(before.pid).toBe(0);
    expect(before.heartbeatSeq).toBe(0);
    expect(before.heartbeatAgeMs()).toBeNull();
    expect(Object.values(before.snapshot()).every((v) => v === 0)).toBe(true);

    const writer = new MetricsWriter(buf);
    const rx = writer.index("rx_packets");
    const depth = writer.index("queue_depth");
    writer.add(rx, 3);
    writer.add(rx, 4);
    writer.set(depth, 17.5);
    writer.setState("running");
    writer.heartbeat();
    writer.heartbeat();

    // Read back through a separate read-only mapping of the same memfd.
    const roFd = addon.openPath(`/proc/self/fd/${fd}`, false);
    expect(() => addon.mapFd(roFd, 0, true)).toThrow(/EACCES/);
    const reader = new MetricsReader(addon.mapFd(roFd, 0, false));
    addon.closeFd(roFd);
    expect(reader.pid).toBe(process.pid);
    expect(reader.state).toBe("running");
    expect(reader.heartbeatSeq).toBe(2);
    const age = reader.heartbeatAgeMs();
    expect(age).not.toBeNull();
    expect(age).toBeLessThan(1000);
    const snap = reader.snapshot();
    expect(snap.rx_packets).toBe(7);
    expect(snap.queue_depth).toBe(17.5);
    expect(Object.keys(snap)).toEqual(fixtureDecls.map((d) => d.name));

    setRegionState(buf, "failed");
    expect(reader.state).toBe("failed");
    expect(reader.pid).toBe(process.pid); // setRegionState does not claim the region
    addon.closeFd(fd);
  });

  it("puts the common metrics first and refuses a tile metric that reuses a common name", () => {
    const decls = withCommonMetrics([{ name: "rx_packets", kind: "counter", help: "x" }]);
    expect(decls.slice(0, commonMetricDecls.length)).toEqual(commonMetricDecls);
    expect(decls.map((d) => d.name)).toContain(CommonMetric.busyNs);
    expect(() => withCommonMetrics([{ name: "busy_ns", kind: "counter", help: "x" }])).toThrow(/common metric/);
  });

  it.each([
    ["RxPackets", /not snake_case/],
    ["rx__packets", /not snake_case/],
    ["_rx", /not snake_case/],
    ["rx-packets", /not snake_case/],
    ["9lives", /not snake_case/],
    ["", /not snake_case/],
    ["a".repeat(65), /not snake_case/],
  ])("rejects the metric name %j", (name, message) => {
    expect(() => metricsRegionSize([{ name, kind: "counter", help: "h" }])).toThrow(message);
  });

  it("rejects duplicate names, unknown kinds, bad help and bad tile names", () => {
    const ok: MetricDecl = { name: "a", kind: "counter", help: "h" };
    expect(() => metricsRegionSize([ok, { ...ok }])).toThrow(/declared twice/);
    expect(() => metricsRegionSize([{ name: "a", kind: "histogram" as "counter", help: "h" }])).toThrow(/kind/);
    expect(() => metricsRegionSize([{ ...ok, help: "two\nlines" }])).toThrow(/one line/);
    expect(() => metricsRegionSize([{ ...ok, help: "" }])).toThrow(/help/);
    const buf = new ArrayBuffer(metricsRegionSize([ok]));
    expect(() => initMetricsRegion(buf, "my tile", "net", [ok])).toThrow(/tile name/);
    expect(() => initMetricsRegion(buf, "net", "", [ok])).toThrow(/tile kind/);
    expect(() => initMetricsRegion(new ArrayBuffer(64), "net", "net", [ok])).toThrow(/needs 4096/);
  });

  it("rejects foreign, truncated or corrupt regions with errors that say what is wrong", () => {
    const where = "metrics region x";
    expect(() => validateMetricsRegion(new ArrayBuffer(16), where)).toThrow(/x: 16 bytes is smaller than the 64-byte/);
    expect(() => validateMetricsRegion(new ArrayBuffer(4096), where)).toThrow(/bad magic 0x00000000.*not initialised/);

    const make = () => {
      const buf = new ArrayBuffer(metricsRegionSize(fixtureDecls));
      initMetricsRegion(buf, "net", "net", fixtureDecls);
      return buf;
    };
    const u32 = (buf: ArrayBuffer) => new Uint32Array(buf, 0, 16);

    const wrongVersion = make();
    u32(wrongVersion)[1] = 2;
    expect(() => new MetricsReader(wrongVersion, where)).toThrow(/layout version 2, this program reads version 1/);

    const truncated = make().slice(0, 2048);
    expect(() => new MetricsReader(truncated, where)).toThrow(/header says 4096 bytes but 2048 are mapped/);

    const badUtf8 = make();
    new Uint8Array(badUtf8)[METRICS_HEADER_SIZE + 3] = 0xff;
    expect(() => new MetricsReader(badUtf8, where)).toThrow(/not valid UTF-8/);

    const countMismatch = make();
    u32(countMismatch)[6] = fixtureDecls.length - 1;
    expect(() => new MetricsReader(countMismatch, where)).toThrow(
      new RegExp(`declares ${fixtureDecls.length} metrics but the header says ${fixtureDecls.length - 1}`),
    );

    const valuesOutside = make();
    u32(valuesOutside)[5] = 4096 - 8;
    expect(() => new MetricsReader(valuesOutside, where)).toThrow(/overflow the 4096-byte region/);

    const badName = make();
    const bytes = new Uint8Array(badName);
    const text = new TextDecoder().decode(bytes.subarray(METRICS_HEADER_SIZE, METRICS_HEADER_SIZE + u32(badName)[4]));
    expect(text).toContain("\nrx_packets\t");
    bytes[METRICS_HEADER_SIZE + text.indexOf("\nrx_packets") + 1] = "R".charCodeAt(0);
    expect(() => new MetricsReader(badName, where)).toThrow(/"Rx_packets" is not snake_case/);
  });

  it("refuses to index a metric the schema does not declare", () => {
    const { fd, buf } = freshRegion();
    const writer = new MetricsWriter(buf);
    expect(() => writer.index("tx_packets")).toThrow(/tile net has no metric named "tx_packets"/);
    expect(writer.has("rx_packets")).toBe(true);
    addon.closeFd(fd);
  });
});

describe("metrics region shared with a child tile", () => {
  const launcher = new FakeLauncher("metrics");
  afterAll(() => launcher.close());

  it("sees the child's pid, state, heartbeats and counters through a read-only /proc/<pid>/fd mapping", async () => {
    const tile = await launcher.startTile("app0", "app", ["--every", "10", "--packets", "5"]);
    const roFd = addon.openPath(`/proc/${process.pid}/fd/${tile.fd}`, false);
    const reader = new MetricsReader(addon.mapFd(roFd, 0, false), "app0 region");
    addon.closeFd(roFd);
    expect(reader.pid).toBe(tile.pid);
    expect(reader.state).toBe("running");
    const seq0 = reader.heartbeatSeq;
    await sleepMs(300);
    const snap = reader.snapshot();
    expect(reader.heartbeatSeq).toBeGreaterThan(seq0);
    expect(reader.heartbeatAgeMs()).toBeLessThan(1000);
    expect(snap.ticks).toBeGreaterThan(0);
    // The child adds 5 packets then 1 tick per iteration, so between iterations rx = 5 * ticks.
    // The snapshot reads rx before ticks while the child runs: either can be one iteration apart.
    expect([5 * (snap.ticks - 1), 5 * snap.ticks, 5 * (snap.ticks + 1)]).toContain(snap.rx_packets);
    expect(snap.queue_depth).toBe(42);
    expect(snap[CommonMetric.busyNs]).toBeGreaterThan(0);
    expect(snap[CommonMetric.idleNs]).toBeGreaterThan(0);
    expect(snap[CommonMetric.housekeepingCount]).toBeGreaterThan(0);
    expect(snap[CommonMetric.contextSwitchesVoluntary]).toBeGreaterThan(0);
    expect(snap[CommonMetric.heapUsedBytes]).toBeGreaterThan(1_000_000);
    expect(snap[CommonMetric.maxRssBytes]).toBeGreaterThan(10_000_000);
  });

  it("a child writing to its read-only mapping is killed, the region is unchanged", () => {
    const { fd, buf } = freshRegion();
    const before = new Uint8Array(buf).slice();
    const script = `
      const a = require(${JSON.stringify(join(ROOT, "build/Release/tilenet.node"))});
      const ro = new Float64Array(a.mapFd(3, 0, false));
      ro[10] = 1;
      console.log("survived");`;
    // fd 3 in the child is the memfd itself; it maps it read-only as a reader would.
    const child = spawnSync(process.execPath, ["-e", script], {
      stdio: ["ignore", "pipe", "pipe", fd],
      encoding: "utf8",
    });
    expect(child.signal).toBe("SIGSEGV");
    expect(new Uint8Array(buf)).toEqual(before);
    addon.closeFd(fd);
  });
});

describe("metrics hot path", () => {
  const run = (mode: string) =>
    new Promise<{ gcs: number; rx: number }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(ROOT, "dist/test/fixtures/health-alloc.js"), mode], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}: ${out}`))));
    });

  it("runs a million regime switches, adds, sets and heartbeats without a garbage collection", async () => {
    const hot = await run("hot");
    expect(hot.rx % 1_200_000).toBe(0); // whole warm-up + measured runs
    expect(hot.gcs).toBe(0);
    // The measurement is able to see allocation.
    const allocating = await run("alloc");
    expect(allocating.gcs).toBeGreaterThan(0);
  });
});
