// Supervision and cleanup: a netlink or net tile killed with SIGKILL stops the instance and
// everything it made is removed (an app tile is restarted instead: app-failure-isolation.test.ts);
// a launcher killed with SIGKILL takes its tiles with it and `tilenet cleanup` reclaims the rest; a stopped tile makes `status` fail; bad configs exit 2 naming the key.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import {
  cli,
  forceCleanup,
  freeMetricsPort,
  leftovers,
  pidAlive,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

describe("configuration errors exit 2 and name the key", () => {
  it.each([
    ["[netbase]\nroutes = -5\n", "netbase.routes"],
    ["[solicit]\nburts = 3\n", "solicit.burts"],
    ["[net]\nxdp_mode = 'fast'\n", "net.xdp_mode"],
    ["[[app]]\nname = 'x'\nports = [0]\n", "app[0].ports[0]"],
    ["not toml at all = = =\n", "(syntax)"],
  ])("%j", (text, key) => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-badconf-"));
    const file = join(dir, "c.toml");
    writeFileSync(file, text);
    const r = cli(["run", "--lab", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(key);
  });

  it("rejects unknown options and commands with exit 2", () => {
    expect(cli(["run", "--lab", "--bogus"]).code).toBe(2);
    expect(cli(["frobnicate"]).code).toBe(2);
    expect(cli(["run", "--lab", "--metrics", "0.0.0.0:1"]).stderr).toContain("loopback only");
  });
});

describeAsRoot(`supervision (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  afterEach(async () => {
    await forceCleanup(inst);
    inst = undefined;
  });

  it.each(["netlink", "net"])(
    "the %s tile killed with SIGKILL stops the instance, which removes everything it made",
    async (tileName) => {
      const name = uniqueInstance("k9");
      inst = await startInstance(name);
      const { report } = status(name);
      const victim = report.tiles.find((t) => t.name === tileName);
      expect(victim, JSON.stringify(report.tiles.map((t) => t.name))).toBeDefined();
      if (!victim) return;
      process.kill(victim.pid, "SIGKILL");
      const exit = await inst.exit;
      expect(exit.code).toBe(1);
      expect(inst.logs.join("\n")).toMatch(new RegExp(`tile ${victim.name} killed by SIGKILL`));
      expect(
        leftovers(
          name,
          report.tiles.map((t) => t.pid),
        ),
      ).toEqual([]);
      // No XDP program stays attached anywhere (the namespaces are gone with their veths).
      expect(execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" })).not.toMatch(/xdp/);
    },
  );

  it("serves Prometheus metrics on 127.0.0.1 with every tile's counters", async () => {
    const name = uniqueInstance("pm");
    const port = await freeMetricsPort();
    inst = await startInstance(name, ["--lab", "--metrics", `127.0.0.1:${port}`]);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const tile of ["netlink", "net", "echo"])
      expect(text).toMatch(new RegExp(`tilenet_tile_up\\{[^}]*tile="${tile}"[^}]*\\} 1`));
    expect(text).toMatch(/# TYPE tilenet_rx_packets_total counter/);
    expect(text).toMatch(/tilenet_tile_sandboxed\{[^}]*\} 1/);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    inst.child.kill("SIGTERM");
    expect((await inst.exit).code).toBe(0);
  });

  /** A lab in a run root of its own (another test's `run` would otherwise reclaim a killed
   *  instance first); its tiles' pids and its keeper's. */
  const labInOwnRunRoot = async (tag: string): Promise<{ name: string; pids: number[]; keeperPid: number }> => {
    const name = uniqueInstance(tag);
    const runRoot = `/run/tilenet-test-${name}`;
    process.env.TILENET_RUN_ROOT = runRoot;
    onTestFinished(() => {
      delete process.env.TILENET_RUN_ROOT;
      rmSync(runRoot, { recursive: true, force: true });
    });
    inst = await startInstance(name, ["--lab"]);
    const { report } = status(name);
    expect(leftovers(name, [])).not.toEqual([]);
    return { name, pids: report.tiles.map((t) => t.pid), keeperPid: report.launcher.keeperPid ?? 0 };
  };

  it("a launcher killed with SIGKILL: its keeper kills the tiles and removes everything the instance made", async () => {
    const { name, pids } = await labInOwnRunRoot("l9");
    if (!inst) throw new Error("no instance");
    inst.child.kill("SIGKILL");
    await inst.exit;
    // The keeper sees its socket close: it kills the tiles and runs the recorded teardown as root.
    await waitFor(() => leftovers(name, pids).length === 0, 15_000, "the keeper's teardown");
    const r = cli(["cleanup"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("nothing to clean up");
  });

  it("launcher and keeper both killed with SIGKILL: the tiles die with the keeper; cleanup reclaims the rest from the teardown record", async () => {
    const { name, pids, keeperPid } = await labInOwnRunRoot("k9");
    if (!inst) throw new Error("no instance");
    expect(keeperPid).toBeGreaterThan(0);
    process.kill(keeperPid, "SIGKILL");
    inst.child.kill("SIGKILL");
    await inst.exit;
    // Parent-death signal (the keeper is every tile's parent): every tile dies at once.
    await waitFor(() => pids.every((p) => !pidAlive(p)), 3000, "tiles to die with their keeper");
    // The lab's namespaces and the run directory outlive both: cleanup reclaims them.
    expect(leftovers(name, [])).not.toEqual([]);
    const r = cli(["cleanup"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(name);
    expect(leftovers(name, pids)).toEqual([]);
  });

  it("status exits non-zero while a tile's heartbeat is stale", async () => {
    const name = uniqueInstance("st");
    inst = await startInstance(name);
    const before = status(name);
    expect(before.code).toBe(0);
    const tile = before.report.tiles[0];
    if (!tile) throw new Error("no tile");
    process.kill(tile.pid, "SIGSTOP");
    try {
      await new Promise((r) => setTimeout(r, 1300));
      const during = status(name);
      expect(during.code).not.toBe(0);
      const stale = during.report.tiles.find((t) => t.name === tile.name);
      expect(stale?.heartbeatAgeMs ?? 0).toBeGreaterThan(1000);
    } finally {
      process.kill(tile.pid, "SIGCONT");
    }
    await waitFor(() => status(name).code === 0, 3000, "the tile to recover");
    inst.child.kill("SIGTERM");
    expect((await inst.exit).code).toBe(0);
  });
});
