// Test support for the health tests: plays the launcher's part. Creates a memfd metrics region
// per tile, starts the health-tile fixture with the region at fd 3, and writes a manifest under a
// temporary run root. The test process itself is the "launcher" (its pid and fds are in the
// manifest), unless a tile is registered with another holder.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LabInfo, Manifest, RegionEntry, TileEntry } from "../../launcher/manifest";
import { MANIFEST_VERSION } from "../../launcher/manifest";
import { withCommonMetrics } from "../../shared/metrics/common";
import { initMetricsRegion, metricsRegionSize } from "../../shared/metrics/region";
import type { MetricDecl } from "../../shared/metrics/schema";
import { native } from "../../shared/native";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const TILE_FIXTURE = join(ROOT, "dist/test/fixtures/health-tile.js");

/** The fixture's own metrics, after the common ones. */
export const fixtureDecls: MetricDecl[] = withCommonMetrics([
  { name: "rx_packets", kind: "counter", help: "Packets the fake tile pretended to receive" },
  { name: "ticks", kind: "counter", help: "Loop iterations of the fake tile" },
  { name: "queue_depth", kind: "gauge", help: "A gauge the fake tile sets to 42" },
]);

export interface FakeTile {
  name: string;
  kind: string;
  fd: number;
  buf: ArrayBuffer;
  child?: ChildProcess;
  pid: number;
}

/** Waits for a line on the child's stdout, or fails with what it printed when it exits first. */
export function waitForLine(child: ChildProcess, line: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`child did not print ${line} within ${timeoutMs} ms: ${seen}`)),
      timeoutMs,
    );
    child.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.split("\n").includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code ?? signal}) before printing ${line}: ${seen}`));
    });
  });
}

export class FakeLauncher {
  readonly runRoot: string;
  readonly tiles: FakeTile[] = [];
  private readonly fds: number[] = [];
  private readonly children: ChildProcess[] = [];
  lab?: LabInfo;
  launcherPid = process.pid;

  constructor(readonly instance: string) {
    this.runRoot = mkdtempSync(join(tmpdir(), "tn-health-"));
  }

  /** Creates and initialises a region without starting anything. */
  createRegion(name: string, kind: string, decls: readonly MetricDecl[] = fixtureDecls): FakeTile {
    const addon = native();
    const fd = addon.memfdCreate(`tilenet-metrics-${name}`, metricsRegionSize(decls));
    this.fds.push(fd);
    const buf = addon.mapFd(fd, 0, true);
    initMetricsRegion(buf, name, kind, decls);
    return { name, kind, fd, buf, pid: 0 };
  }

  /** Starts the fixture tile with its region at fd 3 and waits until it reports ready. */
  async startTile(name: string, kind: string, args: string[] = [], spawnOpts: { uid?: number; gid?: number } = {}) {
    const tile = this.createRegion(name, kind);
    const child = spawn(process.execPath, [TILE_FIXTURE, "--fd", "3", ...args], {
      stdio: ["ignore", "pipe", "inherit", tile.fd],
      ...spawnOpts,
    });
    this.children.push(child);
    tile.child = child;
    tile.pid = child.pid ?? 0;
    this.tiles.push(tile); // in call order, whichever child is ready first
    await waitForLine(child, "ready");
    return tile;
  }

  /** Spawns a process that only holds the regions' fds (at 3, 4, ...): a stand-in launcher whose
   *  exit means "the instance stopped". Returns the fd number each region got. */
  spawnHolder(): { child: ChildProcess; fdOf: Map<string, number> } {
    const fdOf = new Map<string, number>();
    const stdio: ("ignore" | number)[] = ["ignore", "ignore", "ignore"];
    for (const t of this.tiles) {
      fdOf.set(t.name, stdio.length);
      stdio.push(t.fd);
    }
    const child = spawn("sleep", ["60"], { stdio });
    this.children.push(child);
    return { child, fdOf };
  }

  manifest(fdOf?: Map<string, number>): Manifest {
    const regions: RegionEntry[] = this.tiles.map((t) => ({
      name: `${t.name}.metrics`,
      kind: "metrics",
      launcherFd: fdOf?.get(t.name) ?? t.fd,
      size: t.buf.byteLength,
    }));
    const tiles: TileEntry[] = this.tiles.map((t) => ({
      name: t.name,
      kind: t.kind,
      pid: t.pid,
      metricsRegion: `${t.name}.metrics`,
    }));
    const runDir = join(this.runRoot, this.instance);
    return {
      version: MANIFEST_VERSION,
      instance: this.instance,
      launcherPid: this.launcherPid,
      launcherStartTicks: 0,
      startedAt: new Date().toISOString(),
      runDir,
      runtimeDir: join(this.runRoot, `.rt-${this.instance}`),
      createdNetns: [],
      regions,
      tiles,
      ...(this.lab ? { lab: this.lab } : {}),
    };
  }

  writeManifest(manifest: Manifest = this.manifest()): Manifest {
    mkdirSync(manifest.runDir, { recursive: true });
    writeFileSync(join(manifest.runDir, "manifest.json"), JSON.stringify(manifest, null, 2), { mode: 0o600 });
    return manifest;
  }

  close(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const fd of this.fds) native().closeFd(fd);
    this.fds.length = 0;
    rmSync(this.runRoot, { recursive: true, force: true });
  }
}

export const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
