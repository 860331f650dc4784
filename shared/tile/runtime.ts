// The life of every tile: read the bootstrap, map the granted regions, let the tile set itself
// up, enter the sandbox, then run the loop (poll inputs, housekeeping with heartbeat and metrics,
// idle waits) until SIGTERM asks it to halt. States: booting -> running -> halting (or failed).
import { createLogger, type Logger } from "../log";
import { monotonicNs } from "../metrics/clock";
import { CommonMetric, CommonMetricsSampler, Regime, RegimeClock } from "../metrics/common";
import type { MetricDecl } from "../metrics/schema";
import { MetricsWriter } from "../metrics/writer";
import { native } from "../native";
import { enterSandbox } from "../sandbox/enter";
import type { SeccompPolicy } from "../seccomp/policy";
import { type Bootstrap, readBootstrap } from "./bootstrap";
import { applyPlacement, type TilePlacement } from "./idle";

export interface MappedRegion {
  buf: ArrayBuffer;
  fd: number;
  size: number;
  writable: boolean;
}

export interface TileContext<Config> {
  boot: Bootstrap<Config>;
  config: Config;
  log: Logger;
  metrics: MetricsWriter;
  /** A granted region, mapped as granted (read-write regions are then sealed: later mappings are read-only). */
  region(role: string): MappedRegion;
  hasRegion(role: string): boolean;
  /** A granted descriptor (socket) by role. */
  fd(role: string): number;
  hasFd(role: string): boolean;
}

export interface TileBody {
  /** Runs once inside the sandbox, before the tile reports "running" (an app's init). */
  start?(): void;
  /** One pass over the tile's inputs; returns how many items it handled (0 = nothing to do). */
  poll(nowMs: number): number;
  /** Runs every housekeeping interval: expiries, periodic work, publishing counters. */
  housekeeping?(nowMs: number): void;
  /** Blocks for at most timeoutMs until input may be there (futex, poll). */
  idleWait?(timeoutMs: number): void;
  /** Called once when halting. */
  stop?(): void;
}

export interface TileDefinition<Config> {
  kind: string;
  /** The tile's own metrics (the common ones are added by the launcher). */
  metrics: readonly MetricDecl[];
  /** Before the sandbox: map everything the tile needs; nothing new can be opened later. */
  setup(ctx: TileContext<Config>): TileBody;
  /** The tile's own syscalls (the Node baseline is added), with fd arguments pinned. */
  policy(fds: Record<string, number>, config: Config): SeccompPolicy;
  /** Housekeeping interval (heartbeat cadence), default 10 ms. */
  housekeepingMs?: number;
  /** Housekeeping interval once the tile has had no work for IDLE_AFTER_NS, default housekeepingMs.
   *  Each timed wake-up costs about 80-140 µs of CPU on a VM like ours (measured: a bare C
   *  nanosleep loop 79 µs, Node 138 µs), so a tile that idles at 100 wake-ups a second costs
   *  1-2% of a core. Input still wakes it at once; only heartbeat and metrics come less often.
   *  Not for app tiles: their timers run between slices, which end at housekeeping. */
  idleHousekeepingMs?: number;
  /** How long to spin on an empty poll before idleWait, default 200 µs. */
  spinUs?: number;
  /** The tile's idle mode and CPU from its config (data-plane tiles): pinned before setup, and
   *  the mode published as the idle_spin gauge. */
  placement?(config: Config): TilePlacement;
}

const SLICE_NS = 20e6;
/** No work for this long: housekeeping slows to idleHousekeepingMs. */
const IDLE_AFTER_NS = 1e9;
const SAMPLE_NS = 250e6;

const F_SEAL_SEAL = 1;

/** A memfd not sealed yet. A published region is a file (launcher/regions.ts): files have no seals. */
function sealable(fd: number): boolean {
  try {
    return (native().getSeals(fd) & F_SEAL_SEAL) === 0;
  } catch {
    return false; // EINVAL: not a memfd
  }
}

export function runTile<Config>(def: TileDefinition<Config>): void {
  let log: Logger | undefined;
  let metrics: MetricsWriter | undefined;
  try {
    const boot = readBootstrap() as Bootstrap<Config>;
    log = createLogger(boot.tileName, boot.logLevel);
    const addon = native();
    const mapped = new Map<string, MappedRegion>();
    for (const [role, h] of Object.entries(boot.regions)) {
      const buf = addon.mapFd(h.fd, h.size, h.writable);
      if (h.writable && !h.shared && !boot.restartable && sealable(h.fd)) addon.sealReadOnly(h.fd);
      mapped.set(role, { buf, fd: h.fd, size: h.size, writable: h.writable });
    }
    const metricsRegion = mapped.get("metrics");
    if (!metricsRegion) throw new Error("bootstrap grants no metrics region");
    metrics = new MetricsWriter(metricsRegion.buf, `tile ${boot.tileName} metrics`, boot.hostPid ?? process.pid);
    metrics.setState("booting");
    metrics.heartbeat();
    const placement = def.placement?.(boot.config) ?? {};
    metrics.set(metrics.index(CommonMetric.idleSpin), placement.idle === "spin" ? 1 : 0);
    // Before the sandbox: it reads /proc/self/task and calls sched_setattr.
    const { pinned, sliceRc } = applyPlacement(placement);
    if (pinned > 0) log.info({ cpu: placement.cpu, threads: pinned }, "threads pinned");
    if (sliceRc !== 0)
      log.info({ errno: -sliceRc }, "the kernel keeps its default scheduler slice (no EEVDF custom slices)");
    const ctx: TileContext<Config> = {
      boot,
      config: boot.config,
      log,
      metrics,
      region(role) {
        const r = mapped.get(role);
        if (!r) throw new Error(`tile ${boot.tileName}: no region "${role}" granted`);
        return r;
      },
      hasRegion: (role) => mapped.has(role),
      fd(role) {
        const fd = boot.fds[role];
        if (fd === undefined) throw new Error(`tile ${boot.tileName}: no fd "${role}" granted`);
        return fd;
      },
      hasFd: (role) => boot.fds[role] !== undefined,
    };
    const body = def.setup(ctx);
    // Signal handlers make libuv's signal pipe: register them before the sandbox forbids new fds.
    const halt = { requested: false };
    process.on("SIGTERM", () => {
      halt.requested = true;
    });
    process.on("SIGINT", () => {
      halt.requested = true;
    });
    const maxFd = Math.max(3, ...Object.values(boot.fds), ...Object.values(boot.regions).map((r) => r.fd));
    const report = enterSandbox({
      policy: def.policy(boot.fds, boot.config),
      keepFdsUpTo: maxFd,
      grantedFds: [3, ...Object.values(boot.fds), ...Object.values(boot.regions).map((r) => r.fd)],
      landlock: boot.sandbox.landlock,
    });
    log.info({ sandbox: report }, "sandboxed; running");
    // "running" is what the launcher waits for before it reports the instance ready, so whatever
    // the body must do before it serves (an app's init) happens first.
    body.start?.();
    runLoop(def, body, metrics, log, halt);
  } catch (e) {
    metrics?.setState("failed");
    const err = e as Error;
    if (log) log.fatal({ err }, `tile failed: ${err.message}`);
    else process.stderr.write(`tile failed before logging was up: ${err.stack ?? err.message}\n`);
    process.exit(1);
  }
}

function runLoop<Config>(
  def: TileDefinition<Config>,
  body: TileBody,
  metrics: MetricsWriter,
  log: Logger,
  halt: { requested: boolean },
): void {
  const housekeepingNs = (def.housekeepingMs ?? 10) * 1e6;
  const idleHousekeepingNs = (def.idleHousekeepingMs ?? def.housekeepingMs ?? 10) * 1e6;
  const spinNs = (def.spinUs ?? 200) * 1e3;
  const clock = new RegimeClock(metrics, Regime.idle, monotonicNs());
  const sampler = new CommonMetricsSampler(metrics);
  let nextHousekeeping = 0;
  let nextSample = 0;
  let idleSince = -1;
  metrics.setState("running");

  const slice = (): void => {
    try {
      runSlice();
    } catch (e) {
      metrics.setState("failed");
      const err = e as Error;
      log.fatal({ err }, `tile loop failed: ${err.message}`);
      process.exit(1);
    }
  };
  const runSlice = (): void => {
    const sliceEnd = monotonicNs() + SLICE_NS;
    for (;;) {
      const t0 = monotonicNs();
      const handled = body.poll(t0 / 1e6);
      clock.enter(handled > 0 ? Regime.busy : Regime.idle, t0);
      let t1 = monotonicNs();
      if (handled > 0) {
        idleSince = -1;
      } else {
        if (idleSince < 0) idleSince = t0;
        if (body.idleWait && t1 - idleSince >= spinNs) {
          clock.enter(Regime.idle, t1);
          body.idleWait(
            Math.ceil(Math.max(0, Math.min(Math.max(housekeepingNs, idleHousekeepingNs), nextHousekeeping - t1)) / 1e6),
          );
          t1 = monotonicNs();
        }
      }
      if (t1 >= nextHousekeeping) {
        clock.enter(Regime.housekeeping, t1);
        nextHousekeeping =
          t1 + (idleSince >= 0 && t1 - idleSince >= IDLE_AFTER_NS ? idleHousekeepingNs : housekeepingNs);
        body.housekeeping?.(t1 / 1e6);
        if (t1 >= nextSample) {
          nextSample = t1 + SAMPLE_NS;
          sampler.sample();
        }
        metrics.heartbeat(t1);
        if (t1 >= sliceEnd) break;
      }
    }
    if (halt.requested) {
      metrics.setState("halting");
      metrics.heartbeat();
      body.stop?.();
      log.info("halting on request");
      process.exit(0);
    }
    // Yield to the event loop so signal handlers run.
    setImmediate(slice);
  };
  setImmediate(slice);
}
