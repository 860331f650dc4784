// `tilenet status` against a fake launcher (this process) and real child tiles: instance
// discovery, the JSON contract, values written by the children, stale and dead tiles, sandbox
// verdicts and the exit code, and the human table.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  collectStatus,
  listInstances,
  loadManifest,
  problemLines,
  renderStatusTable,
  STALE_AFTER_MS,
  type StatusReport,
  statusExitCode,
} from "../launcher/health/status";
import type { Manifest } from "../launcher/manifest";
import { FakeLauncher, type FakeTile, sleepMs } from "./support/health-fake-launcher";
import { writeFakeProc } from "./support/health-fake-proc";

/** A pid that certainly no longer exists (a child that already exited and was reaped). */
function deadPid(): number {
  const r = spawnSync("true");
  return r.pid ?? 999_999;
}

describe("instances under a run root", () => {
  const launcher = new FakeLauncher("alpha");
  const root = launcher.runRoot;
  afterAll(() => launcher.close());

  it("lists only directories whose manifest names a live launcher, and loads the only one", () => {
    expect(listInstances(root)).toEqual([]);
    expect(() => loadManifest(undefined, root)).toThrow(`no running tilenet instance under ${root}`);
    const alpha = launcher.writeManifest();
    // A left-over instance whose launcher is gone, a broken manifest and a stray file.
    const stale: Manifest = { ...alpha, instance: "stale", runDir: join(root, "stale"), launcherPid: deadPid() };
    launcher.writeManifest(stale);
    mkdirSync(join(root, "broken"));
    writeFileSync(join(root, "broken", "manifest.json"), "{ not json");
    writeFileSync(join(root, "README"), "not an instance");

    expect(listInstances(root).map((m) => m.instance)).toEqual(["alpha"]);
    expect(loadManifest(undefined, root).instance).toBe("alpha");
    expect(loadManifest("alpha", root).launcherPid).toBe(process.pid);
    expect(() => loadManifest("nope", root)).toThrow(`no tilenet instance "nope" under ${root} (running: alpha)`);
    expect(() => loadManifest("stale", root)).toThrow(
      new RegExp(`instance "stale" is not running: its launcher \\(pid ${stale.launcherPid}\\) has exited`),
    );
    expect(() => loadManifest("broken", root)).toThrow(/broken\/manifest.json: manifest is not JSON/);
    expect(() => loadManifest("../etc", root)).toThrow(/invalid instance name/);
    expect(listInstances(join(root, "does-not-exist"))).toEqual([]);
  });

  it("asks to choose when several instances run", () => {
    const alpha = loadManifest("alpha", root);
    launcher.writeManifest({ ...alpha, instance: "beta", runDir: join(root, "beta") });
    expect(() => loadManifest(undefined, root)).toThrow(
      /2 tilenet instances are running under .* \(alpha, beta\): name one/,
    );
  });

  it("rejects a manifest of another version with a clear error", () => {
    const dir = mkdtempSync(join(tmpdir(), "tn-health-v-"));
    try {
      mkdirSync(join(dir, "old"));
      writeFileSync(join(dir, "old", "manifest.json"), JSON.stringify({ version: 99, instance: "old" }));
      expect(() => loadManifest("old", dir)).toThrow(/invalid manifest: version 99, expected 1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("status of a running instance", () => {
  const launcher = new FakeLauncher("lab1");
  let net: FakeTile;
  let app: FakeTile;
  let manifest: Manifest;
  const fakeProc = mkdtempSync(join(tmpdir(), "tn-health-proc-"));

  beforeAll(async () => {
    launcher.lab = {
      tileNetns: "tn-tile",
      peerNetns: "tn-peer",
      tileAddr: "198.18.0.1",
      peerAddr: "198.18.0.2",
      tileIf: "veth0",
      peerIf: "veth1",
      ports: [9000, 9001],
    };
    [net, app] = await Promise.all([
      launcher.startTile("net", "net", ["--every", "20", "--packets", "3"]),
      // This one stops heartbeating after 150 ms but keeps running.
      launcher.startTile("app0", "app", ["--every", "20", "--stop-heartbeat-after", "150"]),
    ]);
    manifest = launcher.writeManifest();
    await sleepMs(100); // a few loop iterations
    // What these pids would look like if the launcher had sandboxed them (for the healthy case).
    for (const t of [net, app]) writeFakeProc(fakeProc, t.pid, [{ tid: t.pid }, { tid: t.pid + 1, name: "V8 Worker" }]);
  });
  afterAll(() => {
    launcher.close();
    rmSync(fakeProc, { recursive: true, force: true });
  });

  it("reports exactly the documented JSON shape", () => {
    const report = collectStatus(loadManifest("lab1", launcher.runRoot));
    const json = JSON.parse(JSON.stringify(report)) as StatusReport;
    expect(Object.keys(json)).toEqual(["instance", "launcherPid", "launcher", "tiles", "lab"]);
    expect(Object.keys(json.launcher)).toEqual(["pid", "keeperPid", "dropped", "sandbox", "sandboxed", "problems"]);
    expect(json.instance).toBe("lab1");
    expect(json.launcherPid).toBe(process.pid);
    expect(json.lab).toEqual({
      tileNetns: "tn-tile",
      peerNetns: "tn-peer",
      tileAddr: "198.18.0.1",
      peerAddr: "198.18.0.2",
      ports: [9000, 9001],
      tileIf: "veth0",
      peerIf: "veth1",
    });
    expect(json.tiles.map((t) => t.name)).toEqual(["net", "app0"]);
    for (const tile of json.tiles) {
      expect(Object.keys(tile)).toEqual([
        "name",
        "kind",
        "pid",
        "state",
        "heartbeatAgeMs",
        "sandbox",
        "pidNamespace",
        "metrics",
        "idle",
        "restarts",
        "logLinesDropped",
        "problems",
      ]);
      expect(Object.keys(tile.sandbox ?? {})).toEqual([
        "seccomp",
        "noNewPrivs",
        "uid",
        "gid",
        "capEff",
        "capPrm",
        "capBnd",
        "capInh",
        "capAmb",
        "threads",
        "fds",
      ]);
    }
  });

  it("reports the children's pids, states, fresh heartbeats, metric values and real sandbox facts", () => {
    const report = collectStatus(manifest);
    const [n, a] = report.tiles;
    expect(n.pid).toBe(net.pid);
    expect(a.pid).toBe(app.pid);
    expect(n.kind).toBe("net");
    expect(n.state).toBe("running");
    expect(n.heartbeatAgeMs).not.toBeNull();
    expect(n.heartbeatAgeMs).toBeLessThan(STALE_AFTER_MS);
    expect(n.metrics.queue_depth).toBe(42);
    expect(n.metrics.ticks).toBeGreaterThan(0);
    // rx is read before ticks while the child runs: they can be one iteration apart.
    expect([3 * (n.metrics.ticks - 1), 3 * n.metrics.ticks, 3 * (n.metrics.ticks + 1)]).toContain(n.metrics.rx_packets);
    // Unsandboxed children of a root test: the report says so, with the facts.
    const s = n.sandbox;
    expect(s).not.toBeNull();
    expect(s?.seccomp).toBe(0);
    expect(s?.uid).toEqual({ real: 0, effective: 0, saved: 0, fs: 0 });
    expect(s?.capEff).not.toBe("0000000000000000");
    expect(s?.threads).toBeGreaterThan(1);
    expect(s?.fds).toContainEqual({ fd: 3, target: expect.stringMatching(/^\/memfd:tilenet-metrics-net/) });
    expect(n.problems).toContain(`not sandboxed: seccomp 0 on all ${s?.threads} threads (need 2 (filter))`);
    expect(n.problems).toContain(`not sandboxed: uid 0/0/0/0 on all ${s?.threads} threads (need not 0)`);
    expect(n.problems.some((p) => p.includes("heartbeat"))).toBe(false);
    expect(statusExitCode(report)).toBe(1);
  });

  it("is healthy (exit code 0) when every tile runs, heartbeats and is sandboxed; stale after a silent second", async () => {
    // Before app0's heartbeat is a second old: all healthy when the processes look sandboxed.
    const early = collectStatus(manifest, { procRoot: fakeProc });
    expect(early.tiles.map((t) => t.problems)).toEqual([[], []]);
    expect(statusExitCode(early)).toBe(0);
    expect(renderStatusTable(early)).toContain("all tiles healthy");

    await sleepMs(STALE_AFTER_MS + 300);
    const late = collectStatus(manifest, { procRoot: fakeProc });
    const [n, a] = late.tiles;
    expect(n.problems).toEqual([]);
    expect(a.state).toBe("running");
    expect(a.heartbeatAgeMs).toBeGreaterThan(STALE_AFTER_MS);
    expect(a.problems).toHaveLength(1);
    expect(a.problems[0]).toMatch(/^heartbeat stale: last one \d+ ms ago \(limit 1000 ms\)$/);
    expect(statusExitCode(late)).toBe(1);
    // The stale tile still counts: only its heartbeat stopped, which is what the check must catch.
    expect(a.metrics.ticks).toBeGreaterThan(early.tiles[1].metrics.ticks);
  });

  it("renders one row per tile with pid, state, heartbeat age, sandbox verdict and key metrics", () => {
    const text = renderStatusTable(collectStatus(manifest));
    const lines = text.split("\n");
    expect(lines[0]).toBe(`instance lab1 (launcher pid ${process.pid})`);
    expect(lines[1]).toBe("lab: tn-tile 198.18.0.1 <-> tn-peer 198.18.0.2, ports 9000,9001");
    expect(lines[2]).toMatch(/^TILE\s+KIND\s+PID\s+STATE\s+HEARTBEAT\s+RESTARTS\s+SANDBOX\s+IDLE CPU\s+METRICS$/);
    const netRow = lines.find((l) => l.startsWith("net "));
    expect(netRow).toMatch(
      new RegExp(
        `^net\\s+net\\s+${net.pid}\\s+running\\s+\\d+ ms\\s+0\\s+NO: seccomp 0, no nnp, caps, uid 0, gid 0\\s+(?:-|(?:adaptive|spin) \\d+\\.\\d%)\\s+busy \\d+\\.\\d%`,
      ),
    );
    expect(netRow).toContain("queue_depth=42");
    expect(netRow).toMatch(/rx_packets=\d+/);
    expect(lines.find((l) => l.startsWith("app0 "))).toMatch(/running\s+\d+\.\d s\s+0\s+NO:/);
    expect(text).toContain("problems:\n");
    expect(text).toMatch(/ {2}app0: heartbeat stale/);
  });

  it("judges the launcher once every tile runs: still privileged then is a problem of the instance", () => {
    const setUp = collectStatus(manifest);
    expect(setUp.launcher.problems).toEqual([]);
    expect(setUp.launcher.sandbox?.uid.effective).toBe(0);
    const ready = collectStatus({ ...manifest, readyAt: new Date().toISOString() });
    expect(ready.launcher.problems).toContain("still privileged after set-up");
    expect(ready.launcher.problems).toContain(
      `not sandboxed: seccomp 0 on all ${ready.launcher.sandbox?.threads} threads (need 2 (filter))`,
    );
    expect(problemLines(ready)).toContain("launcher: still privileged after set-up");
    expect(statusExitCode(ready)).toBe(1);
    expect(renderStatusTable(ready)).toMatch(
      new RegExp(`\\nlauncher\\s+launcher\\s+${process.pid}\\s+set-up\\s+-\\s+-\\s+NO:`),
    );
  });

  it("reports a tile whose process died, without failing the others", async () => {
    const exited = new Promise((r) => app.child?.once("exit", r));
    app.child?.kill("SIGKILL");
    await exited;
    const report = collectStatus(manifest);
    const a = report.tiles[1];
    expect(a.sandbox).toBeNull();
    expect(a.problems).toContain(`process ${app.pid} is not running`);
    expect(report.tiles[0].sandbox).not.toBeNull();
    expect(statusExitCode(report)).toBe(1);
  });

  it("reports a tile process that exited but was not reaped (zombie) as exited", async () => {
    // `sleep 0` becomes a child of the exec'd `sleep 30`, which never waits for it.
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const zombiePid = await new Promise<number>((resolve) =>
        parent.stdout.once("data", (c: Buffer) => resolve(Number(c))),
      );
      await sleepMs(200);
      const zombie: Manifest = { ...manifest, tiles: [{ ...manifest.tiles[0], pid: zombiePid }] };
      const t = collectStatus(zombie).tiles[0];
      expect(t.problems).toContain(`process ${zombiePid} has exited (zombie, not yet reaped by the launcher)`);
      expect(t.sandbox).toBeNull();
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("reports an unreadable region as a problem of that tile", () => {
    const broken: Manifest = {
      ...manifest,
      regions: manifest.regions.map((r) => (r.name === "net.metrics" ? { ...r, launcherFd: 987 } : r)),
    };
    const n = collectStatus(broken).tiles[0];
    expect(n.state).toBe("unknown");
    expect(n.heartbeatAgeMs).toBeNull();
    expect(n.metrics).toEqual({});
    expect(n.problems[0]).toMatch(
      new RegExp(`^metrics region unreadable: open\\(/proc/${process.pid}/fd/987\\): ENOENT`),
    );
  });
});
