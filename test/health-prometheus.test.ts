// Prometheus exposition: the served text parses (a small parser of the text format 0.0.4 below),
// HELP and TYPE come from the tile's declared schema before its samples, the child's counters are
// there with the instance/tile/kind labels, plus the three health series; 404 elsewhere.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderPrometheus, startMetricsServer } from "../launcher/health/prometheus";
import { collectStatus, loadManifest, type StatusReport } from "../launcher/health/status";
import { FakeLauncher, type FakeTile, sleepMs } from "./support/health-fake-launcher";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

/** Parses exposition text strictly: every line is HELP, TYPE or `name{labels} value`; a family's
 *  HELP and TYPE come before its first sample; a family's samples are contiguous. */
function parseExposition(text: string): Exposition {
  const out: Exposition = { help: new Map(), type: new Map(), samples: [] };
  expect(text.endsWith("\n")).toBe(true);
  const done = new Set<string>();
  let current = "";
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, what, name, rest] = meta;
      if (what === "HELP") out.help.set(name, rest);
      else {
        expect(["counter", "gauge", "untyped"]).toContain(rest);
        out.type.set(name, rest);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\} (\S+)$/.exec(line);
    if (!m) throw new Error(`not a valid exposition line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = m;
    if (!out.help.has(name) || !out.type.has(name)) throw new Error(`sample of ${name} before its HELP/TYPE`);
    if (name !== current) {
      if (done.has(name)) throw new Error(`samples of ${name} are not contiguous`);
      done.add(current);
      current = name;
    }
    const labels: Record<string, string> = {};
    for (const l of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    const value = valueText === "NaN" ? Number.NaN : Number(valueText.replace("+Inf", "Infinity"));
    if (Number.isNaN(value) && valueText !== "NaN") throw new Error(`bad value in ${line}`);
    out.samples.push({ name, labels, value });
  }
  return out;
}

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("Prometheus metrics endpoint", () => {
  const launcher = new FakeLauncher("prom");
  let tile: FakeTile;
  let server: { port: number; close(): Promise<void> };

  beforeAll(async () => {
    tile = await launcher.startTile("net", "net", ["--every", "10", "--packets", "7"]);
    launcher.writeManifest();
    server = await startMetricsServer("127.0.0.1", 0, () => collectStatus(loadManifest(undefined, launcher.runRoot)));
  });
  afterAll(async () => {
    await server.close();
    launcher.close();
  });

  it("serves parseable exposition text with the child's counters, schema HELP/TYPE and health series", async () => {
    await sleepMs(100);
    const res = await get(server.port, "/metrics");
    expect(res.status).toBe(200);
    expect(res.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    const exp = parseExposition(res.body);
    const labels = { tilenet_instance: "prom", tile: "net", kind: "net" };
    const one = (name: string) => {
      const found = exp.samples.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      expect(found[0].labels).toEqual(labels);
      return found[0].value;
    };
    expect(exp.type.get("tilenet_rx_packets_total")).toBe("counter");
    expect(exp.help.get("tilenet_rx_packets_total")).toBe("Packets the fake tile pretended to receive");
    const rx = one("tilenet_rx_packets_total");
    const ticks = one("tilenet_ticks_total");
    expect(ticks).toBeGreaterThan(0);
    expect([7 * (ticks - 1), 7 * ticks, 7 * (ticks + 1)]).toContain(rx);
    expect(exp.type.get("tilenet_queue_depth")).toBe("gauge");
    expect(one("tilenet_queue_depth")).toBe(42);
    expect(one("tilenet_busy_seconds_total")).toBeGreaterThan(0);
    expect(exp.type.get("tilenet_tile_up")).toBe("gauge");
    expect(one("tilenet_tile_up")).toBe(1);
    expect(one("tilenet_tile_sandboxed")).toBe(0); // a root child with full capabilities
    const age = one("tilenet_tile_heartbeat_age_seconds");
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(1);
    // Every name carries the prefix.
    expect(exp.samples.every((s) => s.name.startsWith("tilenet_"))).toBe(true);

    // Counters move between scrapes.
    await sleepMs(100);
    const again = parseExposition((await get(server.port, "/metrics")).body);
    const rx2 = again.samples.find((s) => s.name === "tilenet_rx_packets_total")?.value ?? 0;
    expect(rx2).toBeGreaterThan(rx);
  });

  it("answers 404 elsewhere and reports the tile down once its process is gone", async () => {
    expect((await get(server.port, "/")).status).toBe(404);
    expect((await get(server.port, "/metrics/x")).status).toBe(404);
    const exited = new Promise((r) => tile.child?.once("exit", r));
    tile.child?.kill("SIGKILL");
    await exited;
    const exp = parseExposition((await get(server.port, "/metrics")).body);
    expect(exp.samples.find((s) => s.name === "tilenet_tile_up")?.value).toBe(0);
  });

  it("answers 500 with the reason when the status source fails", async () => {
    const failing = await startMetricsServer("127.0.0.1", 0, () => {
      throw new Error("no running tilenet instance under /x");
    });
    try {
      const res = await get(failing.port, "/metrics");
      expect(res.status).toBe(500);
      expect(res.body).toContain("no running tilenet instance under /x");
    } finally {
      await failing.close();
    }
  });
});

describe("Prometheus rendering", () => {
  it("(the test's parser rejects what it should)", () => {
    expect(() => parseExposition('tilenet_a{tile="x"} 1\n')).toThrow(/before its HELP\/TYPE/);
    expect(() => parseExposition("# HELP tilenet_a h\n# TYPE tilenet_a gauge\ntilenet_a{tile=x} 1\n")).toThrow(
      /not a valid exposition line/,
    );
    const split = '# HELP a h\n# TYPE a gauge\n# HELP b h\n# TYPE b gauge\na{t="1"} 1\nb{t="1"} 1\na{t="2"} 1\n';
    expect(() => parseExposition(split)).toThrow(/not contiguous/);
  });

  it("escapes label values, exposes undeclared metrics as untyped and keeps conflicting kinds apart", () => {
    const report = (tileName: string, kind: string, metrics: Record<string, number>): StatusReport => ({
      instance: 'a"b\\c',
      launcherPid: 1,
      launcher: { pid: 1, keeperPid: null, dropped: null, sandbox: null, sandboxed: false, problems: [] },
      tiles: [
        {
          name: tileName,
          kind,
          pid: 2,
          pidNamespace: null,
          state: "running",
          restarts: 0,
          logLinesDropped: 0,
          heartbeatAgeMs: null,
          sandbox: null,
          metrics,
          idle: null,
          problems: [],
        },
      ],
    });
    const text = renderPrometheus([report("x", "net", { drops: 1.5 }), report("y", "app", { drops: 2 })]);
    const exp = parseExposition(text);
    expect(exp.type.get("tilenet_drops")).toBe("untyped");
    expect(exp.samples.filter((s) => s.name === "tilenet_drops").map((s) => [s.labels.tile, s.value])).toEqual([
      ["x", 1.5],
      ["y", 2],
    ]);
    expect(exp.samples.find((s) => s.name === "tilenet_drops")?.labels.tilenet_instance).toBe('a"b\\c');
    // No heartbeat yet: no age sample; down and unsandboxed without facts.
    expect(exp.samples.some((s) => s.name === "tilenet_tile_heartbeat_age_seconds")).toBe(false);
    expect(exp.samples.filter((s) => s.name === "tilenet_tile_up").map((s) => s.value)).toEqual([0, 0]);

    // Same name declared as a counter by one tile kind and a gauge by another.
    const withDecls = (r: StatusReport, metricKind: "counter" | "gauge") => {
      Object.defineProperty(r.tiles[0], "detail", {
        value: {
          decls: [{ name: "drops", kind: metricKind, help: `drops as a ${metricKind}` }],
          alive: true,
          sandboxed: true,
        },
        enumerable: false,
      });
      return r;
    };
    const mixed = parseExposition(
      renderPrometheus([
        withDecls(report("x", "net", { drops: 1 }), "counter"),
        withDecls(report("y", "app", { drops: 2 }), "gauge"),
      ]),
    );
    expect(mixed.type.get("tilenet_drops_total")).toBe("counter");
    expect(mixed.help.get("tilenet_drops_total")).toBe("drops as a counter");
    expect(mixed.type.get("tilenet_drops")).toBe("gauge");
    expect(mixed.samples.find((s) => s.name === "tilenet_drops")?.labels.tile).toBe("y");
    // An undeclared (untyped) metric under the name of a declared gauge is qualified by its kind.
    const clash = parseExposition(
      renderPrometheus([withDecls(report("x", "net", { drops: 1 }), "gauge"), report("y", "app", { drops: 2 })]),
    );
    expect(clash.type.get("tilenet_drops")).toBe("gauge");
    expect(clash.type.get("tilenet_app_drops")).toBe("untyped");
    expect(mixed.samples.filter((s) => s.name === "tilenet_tile_sandboxed").map((s) => s.value)).toEqual([1, 1]);
  });
});
