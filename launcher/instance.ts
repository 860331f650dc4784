// One running instance: privileged set-up, tiles started, supervision, and a complete teardown.
// Every resource is registered with an undo step the moment it exists, so a failure at any
// point (or a tile's death, or SIGINT/SIGTERM) unwinds exactly what was made, newest first.
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { type Logger, stdoutLogOutput } from "../shared/log";
import { MetricsReader } from "../shared/metrics/reader";
import { NETBASE_FILE } from "../shared/netbase/client";
import { metricsRegionName } from "../shared/tile/regions";
import { reclaimStale, teardownRecordPath, writeTeardownRecord } from "./cleanup";
import { ConfigError, type InstanceConfig } from "./config";
import { startMetricsServer } from "./health/prometheus";
import { collectStatus, problemLines } from "./health/status";
import { effectiveHugePagesMode } from "./huge-pages";
import { Keeper } from "./keeper";
import { createLab, destroyLab, labConfig, labEchoApp, labQueueCount, netnsPath } from "./lab";
import { dropLauncherPrivileges } from "./launcher-sandbox";
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
import { executeOnlyNode } from "./node-binary";
import {
  chooseProvider,
  loadAppDataFiles,
  provisionInstance,
  resolveInterfaces,
  stageTileFiles,
  UndoStack,
} from "./plan";
import { groupIdOf, RegionSet } from "./regions";
import { SdNotifier } from "./sd-notify";
import { describeSigsys, holdKernelLog } from "./sigsys";
import { removeStagedRuntime, stageRuntime } from "./stage";
import { AppSupervisor } from "./supervise";
import { killTile, spawnTile, type TileCommon, type TileLaunch, type TileProcess, tileExecArgv } from "./tile-process";
import { describeInstance, queueCoverage, replicaNames } from "./topology";
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

/** Runs until a signal or a tile's death; returns the process exit code. */
export async function runInstance(opts: RunOptions): Promise<number> {
  return new InstanceRun(opts).run();
}

/** One run of an instance. Set-up, supervision and stop share the undo stack, the manifest and
 *  the tiles, hence one object; each phase is a method. */
class InstanceRun {
  private readonly t0 = performance.now();
  private readonly log: Logger;
  private readonly runRoot: string;
  private readonly undo = new UndoStack();
  private readonly tiles: TileProcess[] = [];
  private readonly instance: string;
  private readonly manifest: Manifest;
  private config: InstanceConfig;
  private stopping = false;
  private ready = false;
  private exitCode = 0;
  private manifestDirty = false;
  private metricsServer: { close(): Promise<void> | void } | undefined;
  /** The privileged helper every tile is started by (launcher/keeper.ts). */
  private keeper: Keeper | undefined;
  private idAllocator: TileIdAllocator | undefined;
  /** True once the launcher runs unprivileged: privileged undo steps are the keeper's then. */
  private dropped = false;
  /** systemd's notify socket, when the launcher runs as a Type=notify unit. */
  private readonly notifier: SdNotifier | undefined;
  private resolveDone: (code: number) => void = () => {};
  private readonly done = new Promise<number>((r) => {
    this.resolveDone = r;
  });

  constructor(private readonly opts: RunOptions) {
    this.log = opts.log;
    this.runRoot = opts.runRoot ?? RUN_ROOT;
    this.config = opts.config;
    this.notifier = SdNotifier.fromEnv(process.env, this.log);
    for (const dir of reclaimStale(this.runRoot).reclaimed) this.log.warn({ dir }, "reclaimed a stale instance");
    this.instance = this.config.instance.name || newInstanceName(opts.lab);
    this.manifest = {
      version: MANIFEST_VERSION,
      instance: this.instance,
      launcherPid: process.pid,
      launcherStartTicks: processStartTicks(process.pid, (p) => readFileSync(p, "utf8")),
      startedAt: new Date().toISOString(),
      runDir: runDirOf(this.instance, this.runRoot),
      runtimeDir: runtimeDirOf(this.instance, this.runRoot),
      createdNetns: [],
      regions: [],
      tiles: [],
    };
  }

  async run(): Promise<number> {
    const onSignal = (sig: NodeJS.Signals): void => {
      void this.stopAll(`received ${sig}`, 0);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      const { launches, regions } = await this.setUp();
      await this.startTiles(launches, regions);
      await this.waitUntilRunning(launches, regions);
      if (!this.stopping) await this.announceReady();
    } catch (e) {
      this.log.error({ err: e as Error }, `start-up failed: ${(e as Error).message}`);
      // A config value found wrong only at start-up (an app's files) exits like any config error.
      await this.stopAll("start-up failed", e instanceof ConfigError ? 2 : 1);
    }
    const code = await this.done;
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    this.log.info({ code, ready: this.ready }, "stopped");
    return code;
  }

  /** Written beside and renamed over, so `status` reading it during a restart never sees half a file. */
  private writeManifest(): void {
    const path = join(this.manifest.runDir, "manifest.json");
    writeFileSync(`${path}.new`, `${JSON.stringify(this.manifest, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${path}.new`, path);
  }

  /** The run directory, the lab, regions, staged code, sockets and XDP: everything before a tile. */
  private async setUp(): Promise<{ launches: TileLaunch[]; regions: RegionSet }> {
    const { undo, manifest, instance } = this;
    mkdirSync(this.runRoot, { recursive: true, mode: 0o755 });
    chmodSync(this.runRoot, 0o755);
    mkdirSync(manifest.runDir, { mode: 0o700 });
    undo.push(`remove ${manifest.runDir}`, () => rmSync(manifest.runDir, { recursive: true, force: true }), true);
    const readersGroup = this.config.netbase.readersGroup;
    const readersGid = readersGroup === undefined ? undefined : groupIdOf(readersGroup);
    if (readersGid !== undefined) {
      // The readers may pass through (not list) the run directory to the netbase file.
      chownSync(manifest.runDir, 0, readersGid);
      chmodSync(manifest.runDir, 0o710);
    }
    if (this.opts.lab) await this.createLab();
    const config = this.config;
    manifest.netnsPath = config.net.netns;
    manifest.sandbox = { unshare: [...config.sandbox.unshare], landlock: config.sandbox.landlock };
    this.writeManifest();

    const published = new Map([["netbase", { path: join(manifest.runDir, NETBASE_FILE), readersGid }]]);
    const regions = new RegionSet(instance, published, effectiveHugePagesMode(config.memory.hugePages));
    undo.push("close regions", () => regions.closeAll());
    const runtimeDir = manifest.runtimeDir;
    const interfaces = await resolveInterfaces(config);
    const { topology, provider, reason, xdp } = chooseProvider(
      config.net.provider,
      (p) => describeInstance({ instance, config, runtimeDir, interfaces, provider: p }),
      regions,
      undo,
      this.log,
    );
    const staged = stageRuntime(
      runtimeDir,
      topology.tiles.map((t) => t.kind),
    );
    undo.push(`remove ${runtimeDir}`, () => removeStagedRuntime(runtimeDir), true);
    stageTileFiles(staged, topology);
    loadAppDataFiles(config, topology);
    const { launches, attachments } = provisionInstance(topology, regions, undo, this.log, xdp);
    if (topology.tiles.some((t) => t.kind === "net" || t.kind === "net-socket")) {
      manifest.netProvider = {
        provider,
        configured: config.net.provider,
        reason,
        ...(provider === "socket" && config.net.busyPoll ? { busyPoll: config.net.busyPoll } : {}),
      };
      this.log.info(manifest.netProvider, `net provider: ${provider} (${reason})`);
    }
    manifest.regions = regions.entries();
    this.reportHugePages(regions);
    if (attachments[0]) manifest.xdp = attachments[0];
    if (attachments.length > 0) manifest.xdpAttachments = attachments;
    // Queues matter to AF_XDP only: the socket provider's SO_REUSEPORT sockets see every queue.
    if (topology.xsks.length > 0) manifest.queues = queueCoverage(topology, interfaces);
    return { launches, regions };
  }

  /** Huge pages in the manifest (status shows them) and in the log, fallbacks as warnings. */
  private reportHugePages(regions: RegionSet): void {
    const hp = regions.hugePages;
    if (hp.mode === "off") return;
    this.manifest.hugePages = hp;
    if (hp.regions.length > 0) this.log.info({ regions: hp.regions }, "regions on 2 MiB huge pages");
    for (const why of hp.fallbacks) this.log.warn({ fallback: why }, `huge pages: normal pages for ${why}`);
  }

  private async createLab(): Promise<void> {
    const apps = this.config.apps.length > 0 ? this.config.apps : [labEchoApp()];
    const { queue, queues } = this.config.net;
    const lab = await createLab(
      this.instance,
      apps.flatMap((a) => a.ports),
      labQueueCount(queue, queues, availableParallelism()),
    );
    this.manifest.lab = lab;
    this.manifest.createdNetns.push(lab.tileNetns, lab.peerNetns);
    this.undo.push(
      "delete lab namespaces",
      () => {
        const problems = destroyLab(lab);
        if (problems.length > 0) throw new Error(problems.join("; "));
      },
      true,
    );
    this.config = labConfig(this.config, apps, lab.tileIf, netnsPath(lab.tileNetns));
  }

  /** Relays tile lines re-wrapped under the tile's real name and pid; counts what it drops. */
  private tileLogRelay(): (tile: string, line: string, pid: number) => void {
    const logRelay = new LogRelay((line) => stdoutLogOutput().record(line));
    const manifestFlush = setInterval(() => {
      if (!this.manifestDirty) return;
      this.manifestDirty = false;
      this.writeManifest();
    }, 1000);
    manifestFlush.unref();
    this.undo.push("stop manifest updates", () => clearInterval(manifestFlush));
    return (tile, line, pid) => {
      const before = logRelay.dropped.get(tile) ?? 0;
      logRelay.relay(tile, pid, line);
      const after = logRelay.dropped.get(tile) ?? 0;
      if (after === before) return;
      const entry = this.manifest.tiles.find((t) => t.name === tile);
      if (entry) entry.logLinesDropped = after;
      this.manifestDirty = true;
      // The first drop of a tile is worth a line; the rest are counted (status shows them).
      if (after === 1)
        this.log.warn(
          { child: tile, childPid: pid },
          `tile ${tile} wrote a line that is not a JSON log record; dropped (counted)`,
        );
    };
  }

  /** Spawns every tile through the keeper; an app's death restarts it under its policy, any other
   *  tile's stops all. */
  private async startTiles(launches: TileLaunch[], regions: RegionSet): Promise<void> {
    const { config, undo, manifest } = this;
    const idAllocator = new TileIdAllocator(this.runRoot, config.sandbox.ids, {
      instance: this.instance,
      launcherPid: process.pid,
      launcherStartTicks: manifest.launcherStartTicks,
    });
    this.idAllocator = idAllocator;
    undo.push("release tile ids", () => idAllocator.releaseAll(), true);
    const common = {
      instance: this.instance,
      // Tiles hold sockets made in the instance's namespace; they themselves live in a fresh,
      // empty one unless the config opts out of unsharing it.
      netnsPath: config.sandbox.unshare.includes("net") ? undefined : config.net.netns,
      unshare: config.sandbox.unshare,
      landlock: config.sandbox.landlock,
      logLevel: config.instance.logLevel,
      onLogLine: this.tileLogRelay(),
      // Execute-only: the kernel makes each tile non-dumpable from its first instruction.
      nodeBinary: executeOnlyNode(),
    };
    // By tile: every replica of an app restarts under the app's policy, on its own.
    const restartPolicies = new Map(config.apps.flatMap((a) => replicaNames(a).map((tile) => [tile, a.restart])));
    const supervisor = new AppSupervisor(
      this.log,
      () => this.stopping,
      () => this.writeManifest(),
    );
    undo.push("stop app restarts", () => supervisor.stop());
    // No realGid: a real gid unlike the effective one makes the exec "secure", and the kernel then
    // clears the parent-death signal (measured: tiles outlived a SIGKILLed launcher).
    const tileIds = new Map(launches.map((l) => [l.name, idAllocator.allocate(l.name)]));
    const commonOf = (launch: TileLaunch) => {
      const ids = tileIds.get(launch.name) as TileIds;
      return { ...common, uid: ids.uid, gid: ids.gid };
    };
    const keeper = this.startKeeper(launches, commonOf);
    const sealed = keeper.seal();
    const start = (launch: TileLaunch, entry: TileEntry | undefined): void => {
      const ids = tileIds.get(launch.name) as TileIds;
      const tp = spawnTile(launch, commonOf(launch), keeper, launches.indexOf(launch));
      const old = this.tiles.findIndex((t) => t.name === launch.name);
      if (old >= 0) this.tiles[old] = tp;
      else this.tiles.push(tp);
      const current = this.recordTile(launch, tp, ids, entry);
      const policy = restartPolicies.get(launch.name);
      if (launch.kind === "app" && policy) {
        supervisor.watch(tp, new MetricsReader(regions.get(metricsRegionName(launch.name)).buf), policy);
      }
      void tp.exited.then(({ code, signal }) => {
        if (this.stopping) return;
        const how = signal
          ? `killed by ${signal}${signal === "SIGSYS" ? describeSigsys(tp.tilePid) : ""}`
          : `exited with code ${code}`;
        if (launch.kind === "app" && policy) {
          // An app's failure is its own: the net tile and the other apps keep serving.
          supervisor.failed(launch.name, current, how, policy, () => start(launch, current));
          return;
        }
        this.log.error(
          { child: tp.name, childPid: tp.tilePid, code, signal },
          `tile ${tp.name} ${how}; stopping the instance`,
        );
        void this.stopAll(`tile ${tp.name} ${how}`, 1);
      });
    };
    for (const launch of launches) {
      if (launch.kind === "app") launch.restartable = true;
      start(launch, undefined);
    }
    this.writeManifest();
    await sealed;
  }

  /** The keeper, with a slot per tile (its exec-helper command line) and the teardown command:
   *  what it will run for the launcher, fixed before the launcher drops its privileges. */
  private startKeeper(launches: TileLaunch[], commonOf: (l: TileLaunch) => TileCommon): Keeper {
    const keeper = Keeper.start();
    this.keeper = keeper;
    this.manifest.keeperPid = keeper.pid;
    launches.forEach((launch, slot) => {
      keeper.register(slot, tileExecArgv(launch, commonOf(launch), keeper.pid));
    });
    const cli = resolve(process.argv[1] ?? "");
    keeper.registerTeardown([
      process.execPath,
      cli,
      "cleanup",
      "--record",
      teardownRecordPath(this.instance, this.runRoot),
    ]);
    void keeper.gone.then(() => {
      if (!this.stopping) void this.stopAll("the keeper died", 1);
    });
    return keeper;
  }

  /** The manifest's entry of a tile (new, or the one a restarted app keeps). */
  private recordTile(launch: TileLaunch, tp: TileProcess, ids: TileIds, entry: TileEntry | undefined): TileEntry {
    const current: TileEntry = entry ?? {
      name: launch.name,
      kind: launch.kind,
      pid: tp.tilePid,
      metricsRegion: metricsRegionName(launch.name),
      ...(launch.keepNetAdmin ? { allowedCaps: CAP_NET_ADMIN_MASK } : {}),
    };
    current.pid = tp.tilePid;
    if (tp.tilePid === tp.pid) delete current.waiterPid;
    void tp.tilePidKnown.then((pid) => {
      if (!this.tiles.includes(tp)) return; // restarted meanwhile
      current.pid = pid;
      if (pid !== tp.pid) current.waiterPid = tp.pid;
      if (!this.stopping) this.writeManifest();
    });
    current.uid = ids.uid;
    current.gid = ids.gid;
    if (!entry) this.manifest.tiles.push(current);
    return current;
  }

  /** Waits for every tile to report "running" (an app that is down for good counts as settled). */
  private async waitUntilRunning(launches: TileLaunch[], regions: RegionSet): Promise<void> {
    const readers = launches.map((t) => new MetricsReader(regions.get(metricsRegionName(t.name)).buf));
    const timeoutMs = this.opts.bootTimeoutMs ?? 15000;
    const bootDeadline = performance.now() + timeoutMs;
    const upOrDown = (r: MetricsReader, i: number): boolean =>
      r.state === "running" || this.manifest.tiles[i]?.down === true;
    while (!this.stopping && !readers.every(upOrDown)) {
      if (performance.now() > bootDeadline) {
        const late = launches.filter((_, i) => !upOrDown(readers[i] as MetricsReader, i)).map((t) => t.name);
        throw new Error(`tiles not running after ${timeoutMs} ms: ${late.join(", ")}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private async announceReady(): Promise<void> {
    // Listening before "all tiles running", so whoever waits for that line can scrape at once.
    if (this.opts.metricsListen) {
      const { host, port } = this.opts.metricsListen;
      this.metricsServer = await startMetricsServer(host, port, () => collectStatus(this.manifest));
      this.log.info({ url: `http://${host}:${port}/metrics` }, "serving Prometheus metrics");
    }
    this.dropPrivileges();
    this.ready = true;
    const startupMs = performance.now() - this.t0;
    this.log.info(
      {
        instance: this.instance,
        startupMs: Math.round(startupMs),
        tiles: this.manifest.tiles.map((t) => `${t.name}:${t.pid}`),
      },
      "all tiles running",
    );
    this.manifest.readyAt = new Date().toISOString();
    this.writeManifest();
    this.notifier?.notify({ READY: "1", STATUS: `${this.manifest.tiles.length} tiles running` });
    // The watchdog is petted on the health `status` reports, so a stale tile stops the pings.
    this.notifier?.startWatchdog(() => problemLines(collectStatus(this.manifest)));
    this.opts.onReady?.(this.manifest, startupMs);
  }

  /** From here on the launcher is an unprivileged process of its own uid under its own filter;
   *  the keeper (root) restarts apps and tears down. What the teardown removes is recorded first,
   *  as root, where the unprivileged launcher cannot change it. */
  private dropPrivileges(): void {
    const allocator = this.idAllocator;
    if (!allocator) throw new Error("no tile ids allocated");
    const ids = allocator.allocate("launcher");
    writeTeardownRecord(
      {
        version: 1,
        instance: this.instance,
        createdNetns: [...this.manifest.createdNetns],
        idLocks: [...this.manifest.tiles.map((t) => t.uid ?? 0).filter((u) => u > 0), ids.uid],
      },
      this.runRoot,
    );
    // Its manifest stays the launcher's to rewrite; the netbase readers' group stays the directory's.
    const runDir = this.manifest.runDir;
    const readersGroup = this.config.netbase.readersGroup;
    chownSync(runDir, ids.uid, readersGroup === undefined ? ids.gid : groupIdOf(readersGroup));
    chownSync(join(runDir, "manifest.json"), ids.uid, ids.gid);
    holdKernelLog();
    const sandbox = dropLauncherPrivileges(ids.uid, ids.gid);
    this.dropped = true;
    this.manifest.launcherSandbox = sandbox;
    this.log.info(sandbox, "launcher dropped its privileges: no capability, its own uid, its own seccomp filter");
  }

  private async stopAll(reason: string, code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.exitCode = code;
    const { tiles, log } = this;
    log.info({ reason }, "stopping");
    this.notifier?.stopWatchdog();
    this.notifier?.notify({ STOPPING: "1", STATUS: `stopping: ${reason}` });
    const alive = (t: TileProcess): boolean => t.exit === null;
    for (const t of tiles) if (alive(t)) t.signal("SIGTERM");
    await Promise.race([Promise.all(tiles.map((t) => t.exited)), new Promise((r) => setTimeout(r, GRACEFUL_STOP_MS))]);
    for (const t of tiles) {
      if (alive(t)) {
        log.warn({ child: t.name, childPid: t.tilePid }, "tile did not halt in time; killing it");
        killTile(t);
      }
    }
    await Promise.race([Promise.all(tiles.map((t) => t.exited)), new Promise((r) => setTimeout(r, 500))]);
    if (this.metricsServer) await this.metricsServer.close();
    this.undo.unwind(log, this.dropped);
    await this.keeperTeardown();
    this.resolveDone(this.exitCode);
  }

  /** The keeper kills what is left and, after a drop, runs the recorded teardown as root. */
  private async keeperTeardown(): Promise<void> {
    if (!this.keeper) return;
    const status = await this.keeper.tearDown();
    if (!this.dropped || status === 0) return;
    if (status < 0) this.log.error("the keeper is gone: `tilenet cleanup` removes what the instance left");
    else this.log.error({ status }, "teardown by the keeper reported problems (its lines are on stderr)");
  }
}
