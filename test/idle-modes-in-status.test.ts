// Idle modes on real tiles: with [tiles] idle = "spin" and cpu pins, the net and echo tiles never
// sleep (no idle wait at all), run pinned to their CPU, and `status --json` says "spin" with the
// CPU they burn; an adaptive instance's tiles sleep (idle waits counted) and say "adaptive".
// CPU shares are only compared loosely: the 2 cores are shared with other jobs.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import {
  forceCleanup,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

interface IdleJson {
  name: string;
  pid: number;
  metrics: Record<string, number>;
  idle: { mode: string; cpuPct: number } | null;
}

/** CPU nanoseconds tile `name` used between two status reports (its own getrusage samples). */
function cpuDelta(a: IdleJson[], b: IdleJson[], name: string): number {
  const at = (r: IdleJson[]): number => r.find((x) => x.name === name)?.metrics.cpu_ns ?? Number.NaN;
  return at(b) - at(a);
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describeAsRoot(`idle modes of the net and app tiles (${ROOT_REASON})`, () => {
  const dir = mkdtempSync(join(tmpdir(), "tilenet-idle-"));
  const running: RunningInstance[] = [];
  afterAll(async () => {
    for (const inst of running) {
      if (inst.child.exitCode === null) {
        inst.child.kill("SIGTERM");
        await inst.exit;
      }
      await forceCleanup(inst);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (tag: string, toml: string): Promise<{ name: string; tiles: () => IdleJson[] }> => {
    const config = join(dir, `${tag}.toml`);
    writeFileSync(config, toml);
    const name = uniqueInstance(tag);
    running.push(await startInstance(name, ["--lab", "--config", config]));
    return { name, tiles: () => status(name).report.tiles as unknown as IdleJson[] };
  };

  it("spin: pinned, never waits, and status says so; adaptive: sleeps, and status says so", async () => {
    const spin = await start(
      "sp",
      '[tiles]\nidle = "spin"\n[net]\ncpu = 1\n[[app]]\nname = "echo"\nmodule = "builtin:echo"\nports = [7000]\ncpu = 0\n',
    );
    await sleepMs(1000);
    const before = spin.tiles();
    await sleepMs(2000); // with no traffic at all
    const tiles = spin.tiles();
    for (const [tile, cpu] of [
      ["net", "1"],
      ["echo", "0"],
    ] as const) {
      const t = tiles.find((x) => x.name === tile);
      expect(t?.idle?.mode, tile).toBe("spin");
      expect(t?.metrics.idle_spin).toBe(1);
      // Busy polling with nothing to do: at least 10% of a core over 2 s even on this shared box
      // (a sleeping tile uses about 1%).
      expect(cpuDelta(before, tiles, tile), tile).toBeGreaterThan(200e6);
      const allowed = readFileSync(`/proc/${t?.pid}/status`, "utf8").match(/^Cpus_allowed_list:\s*(\S+)/m)?.[1];
      expect(allowed, `${tile} pinned`).toBe(cpu);
    }
    expect(tiles.find((x) => x.name === "net")?.metrics.xsk_idle_polls).toBe(0);
    // The netlink tile is not a data-plane tile: it stays adaptive.
    expect(tiles.find((x) => x.name === "netlink")?.idle?.mode).toBe("adaptive");
    running[0]?.child.kill("SIGTERM");
    await running[0]?.exit;

    const adaptive = await start("ad", '[[app]]\nname = "echo"\nmodule = "builtin:echo"\nports = [7000]\n');
    await sleepMs(1000);
    const quiet = adaptive.tiles();
    await sleepMs(2000);
    for (const t of adaptive.tiles()) {
      expect(t.idle?.mode, t.name).toBe("adaptive");
      expect(t.metrics.idle_spin).toBe(0);
      expect(cpuDelta(quiet, adaptive.tiles(), t.name), t.name).toBeLessThan(200e6);
    }
    const net = adaptive.tiles().find((x) => x.name === "net");
    expect(net?.metrics.xsk_idle_polls ?? 0).toBeGreaterThan(0);
  });
});
