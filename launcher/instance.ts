// One running instance: privileged set-up, tiles started, supervision, and a complete teardown.
// Every resource is registered with an undo step the moment it exists, so a failure at any
// point (or a tile's death, or SIGINT/SIGTERM) unwinds exactly what was made, newest first.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type Logger, stdoutLogOutput } from "../shared/log";
import { MetricsReader } from "../shared/metrics/reader";
import { metricsRegionName } from "../shared/tile/regions";
import { reclaimStale } from "./cleanup";
import { ConfigError, type InstanceConfig } from "./config";
import { startMetricsServer } from "./health/prometheus";
import { collectStatus } from "./health/status";
import { createLab, destroyLab, netnsPath } from "./lab";
import { LogRelay } from "./log-relay";
import {
  MANIFEST_VERSION,
  type Manifest,
  processStartTicks,
  RUN_ROOT,
  runDirOf,
  runtimeDirOf,
  type TileEntry,
} from "./manifest";
import { loadAppDataFiles, provisionInstance, resolveInterfaces, stageTileFiles, UndoStack } from "./plan";
import { RegionSet } from "./regions";
import { describeSigsys } from "./sigsys";
import { removeStagedRuntime, stageRuntime } from "./stage";
import { AppSupervisor } from "./supervise";
import { spawnTile, type TileLaunch, type TileProcess } from "./tile-process";
import { describeInstance, labConfig, labEchoApp } from "./topology";
import { TileIdAllocator, type TileIds } from "./users";

export interface RunOptions {
  config: InstanceConfig;
  lab: boolean;
  log: Logger;
  runRoot?: string;
  /** Resolves once every tile is running (tests and the startup benchmark use it). */
  onReady?: (manifest: Manifest, startupMs: number) => void;
  /** How long tiles may take to reach "running". */
  bootTimeoutMs?: number;
  /** Serve Prometheus text format at http://host:port/metrics (loopback only). */
  metricsListen?: { host: string; port: number };
}

const GRACEFUL_STOP_MS = 1500;
/** CAP_NET_ADMIN (12) as /proc prints a capability set. */
const CAP_NET_ADMIN_MASK = "0000000000001000";

function newInstanceName(lab: boolean): string {
  return `${lab ? "lab" : "tn"}-${randomBytes(3).toString("hex")}`;
}

/** Runs until a signal or a tile's death; returns the process exit code. Longer than 70 lines:
 *  set-up, supervision and stop share the undo stack, the manifest and the tiles (the supervision
 *  work of issue 10 restructures it). */
export async function runInstance(opts: RunOptions): Promise<number> {
  const t0 = performance.now();
  const { log } = opts;
  const runRoot = opts.runRoot ?? RUN_ROOT;
  let config = opts.config;
  const undo = new UndoStack();
  const tiles: TileProcess[] = [];
  let stopping = false;
  let exitCode = 0;

  const stale = reclaimStale(runRoot);
  for (const dir of stale.reclaimed) log.warn({ dir }, "reclaimed a stale instance");

  const instance = config.instance.name || newInstanceName(opts.lab);
  const runDir = runDirOf(instance, runRoot);
  const runtimeDir = runtimeDirOf(instance, runRoot);
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    instance,
    launcherPid: process.pid,
    launcherStartTicks: processStartTicks(process.pid, (p) => readFileSync(p, "utf8")),
    startedAt: new Date().toISOString(),
    runDir,
    runtimeDir,
    createdNetns: [],
    regions: [],
    tiles: [],
  };
  const writeManifest = (): void => {
    writeFileSync(join(runDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  };

  let ready = false;
  let metricsServer: { close(): Promise<void> | void } | undefined;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });

  const stopAll = async (reason: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason }, "stopping");
    for (const t of tiles) if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill("SIGTERM");
    const deadline = Promise.race([
      Promise.all(tiles.map((t) => t.exited)),
      new Promise((r) => setTimeout(r, GRACEFUL_STOP_MS)),
    ]);
    await deadline;
    for (const t of tiles) {
      if (t.child.exitCode === null && t.child.signalCode === null) {
        log.warn({ child: t.name, childPid: t.pid }, "tile did not halt in time; killing it");
        t.child.kill("SIGKILL");
      }
    }
    await Promise.race([Promise.all(tiles.map((t) => t.exited)), new Promise((r) => setTimeout(r, 500))]);
    if (metricsServer) await metricsServer.close();
    undo.unwind(log);
    resolveDone(exitCode);
  };

  const onSignal = (sig: NodeJS.Signals): void => {
    void stopAll(`received ${sig}`, 0);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    mkdirSync(runRoot, { recursive: true, mode: 0o755 });
    chmodSync(runRoot, 0o755);
    mkdirSync(runDir, { mode: 0o700 });
    undo.push(`remove ${runDir}`, () => rmSync(runDir, { recursive: true, force: true }));

    if (opts.lab) {
      const apps = config.apps.length > 0 ? config.apps : [labEchoApp()];
      const lab = await createLab(
        instance,
        apps.flatMap((a) => a.ports),
      );
      manifest.lab = lab;
      manifest.createdNetns.push(lab.tileNetns, lab.peerNetns);
      undo.push("delete lab namespaces", () => {
        const problems = destroyLab(lab);
        if (problems.length > 0) throw new Error(problems.join("; "));
      });
      config = labConfig(config, apps, lab.tileIf, netnsPath(lab.tileNetns));
    }
    manifest.netnsPath = config.net.netns;
    manifest.sandbox = { unshare: [...config.sandbox.unshare], landlock: config.sandbox.landlock };
    writeManifest();

    const idAllocator = new TileIdAllocator(runRoot, config.sandbox.ids, {
      instance,
      launcherPid: process.pid,
      launcherStartTicks: manifest.launcherStartTicks,
    });
    undo.push("release tile ids", () => idAllocator.releaseAll());
    const regions = new RegionSet(instance);
    undo.push("close regions", () => regions.closeAll());

    const topology = describeInstance({ instance, config, runtimeDir, interfaces: resolveInterfaces(config) });
    const staged = stageRuntime(
      runtimeDir,
      topology.tiles.map((t) => t.kind),
    );
    undo.push(`remove ${runtimeDir}`, () => removeStagedRuntime(runtimeDir));
    stageTileFiles(staged, topology);
    loadAppDataFiles(config, topology);
    const { launches, attachments } = provisionInstance(topology, regions, undo, log);
    manifest.regions = regions.entries();
    // One net tile today: the manifest names its attachment (several come with several net tiles).
    if (attachments[0]) manifest.xdp = attachments[0];

    let manifestDirty = false;
    const manifestFlush = setInterval(() => {
      if (!manifestDirty) return;
      manifestDirty = false;
      writeManifest();
    }, 1000);
    manifestFlush.unref();
    undo.push("stop manifest updates", () => clearInterval(manifestFlush));
    const logRelay = new LogRelay((line) => stdoutLogOutput().record(line));
    const relay = (tile: string, line: string, pid: number): void => {
      const before = logRelay.dropped.get(tile) ?? 0;
      logRelay.relay(tile, pid, line);
      const after = logRelay.dropped.get(tile) ?? 0;
      if (after === before) return;
      const entry = manifest.tiles.find((t) => t.name === tile);
      if (entry) entry.logLinesDropped = after;
      manifestDirty = true;
      // The first drop of a tile is worth a line; the rest are counted (status shows them).
      if (after === 1)
        log.warn(
          { child: tile, childPid: pid },
          `tile ${tile} wrote a line that is not a JSON log record; dropped (counted)`,
        );
    };
    const tileIds = new Map<string, TileIds>();
    const common = {
      instance,
      // Tiles hold sockets made in the instance's namespace; they themselves live in a fresh,
      // empty one unless the config opts out of unsharing it.
      netnsPath: config.sandbox.unshare.includes("net") ? undefined : config.net.netns,
      unshare: config.sandbox.unshare,
      landlock: config.sandbox.landlock,
      logLevel: config.instance.logLevel,
      onLogLine: relay,
    };
    const restartPolicies = new Map(config.apps.map((a) => [a.name, a.restart]));
    const supervisor = new AppSupervisor(log, () => stopping, writeManifest);
    undo.push("stop app restarts", () => supervisor.stop());
    const start = (launch: TileLaunch, entry: TileEntry | undefined): void => {
      let ids = tileIds.get(launch.name);
      if (!ids) {
        ids = idAllocator.allocate(launch.name);
        tileIds.set(launch.name, ids);
      }
      // No realGid: a real gid unlike the effective one makes the exec "secure", and the kernel then
      // clears the parent-death signal (measured: tiles outlived a SIGKILLed launcher).
      const tp = spawnTile(launch, { ...common, uid: ids.uid, gid: ids.gid });
      const old = tiles.findIndex((t) => t.name === launch.name);
      if (old >= 0) tiles[old] = tp;
      else tiles.push(tp);
      const current: TileEntry = entry ?? {
        name: launch.name,
        kind: launch.kind,
        pid: tp.pid,
        metricsRegion: metricsRegionName(launch.name),
        ...(launch.keepNetAdmin ? { allowedCaps: CAP_NET_ADMIN_MASK } : {}),
      };
      current.pid = tp.pid;
      current.uid = ids.uid;
      current.gid = ids.gid;
      if (!entry) manifest.tiles.push(current);
      const policy = restartPolicies.get(launch.name);
      const metrics = new MetricsReader(regions.get(metricsRegionName(launch.name)).buf);
      if (launch.kind === "app" && policy) supervisor.watch(tp, metrics, policy);
      void tp.exited.then(({ code, signal }) => {
        if (stopping) return;
        const how = signal
          ? `killed by ${signal}${signal === "SIGSYS" ? describeSigsys(tp.pid) : ""}`
          : `exited with code ${code}`;
        if (launch.kind === "app" && policy) {
          // An app's failure is its own: the net tile and the other apps keep serving.
          supervisor.failed(launch.name, current, how, policy, () => start(launch, current));
          return;
        }
        log.error({ child: tp.name, childPid: tp.pid, code, signal }, `tile ${tp.name} ${how}; stopping the instance`);
        void stopAll(`tile ${tp.name} ${how}`, 1);
      });
    };
    for (const launch of launches) {
      if (launch.kind === "app") launch.restartable = true;
      start(launch, undefined);
    }
    writeManifest();

    // Wait for every tile to report "running".
    const readers = launches.map((t) => new MetricsReader(regions.get(metricsRegionName(t.name)).buf));
    const bootDeadline = performance.now() + (opts.bootTimeoutMs ?? 15000);
    const upOrDown = (r: MetricsReader, i: number): boolean =>
      r.state === "running" || manifest.tiles[i]?.down === true;
    while (!stopping && !readers.every(upOrDown)) {
      if (performance.now() > bootDeadline) {
        const late = launches.filter((_, i) => !upOrDown(readers[i] as MetricsReader, i)).map((t) => t.name);
        throw new Error(`tiles not running after ${opts.bootTimeoutMs ?? 15000} ms: ${late.join(", ")}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    if (!stopping) {
      ready = true;
      const startupMs = performance.now() - t0;
      log.info(
        { instance, startupMs: Math.round(startupMs), tiles: manifest.tiles.map((t) => `${t.name}:${t.pid}`) },
        "all tiles running",
      );
      if (opts.metricsListen) {
        const { host, port } = opts.metricsListen;
        metricsServer = await startMetricsServer(host, port, () => collectStatus(manifest));
        log.info({ url: `http://${host}:${port}/metrics` }, "serving Prometheus metrics");
      }
      opts.onReady?.(manifest, startupMs);
    }
  } catch (e) {
    log.error({ err: e as Error }, `start-up failed: ${(e as Error).message}`);
    // A config value found wrong only at start-up (an app's files) exits like any config error.
    await stopAll("start-up failed", e instanceof ConfigError ? 2 : 1);
  }
  const code = await done;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  log.info({ code, ready }, "stopped");
  return code;
}
