// App tile supervision: an app that dies (a signal, SIGSYS, an exit, out of heap) or whose heartbeat
// stops is that app's failure only. The launcher logs why, restarts it with exponential backoff
// (100 ms doubling to 5 s) as long as it died fewer than `limit` times within `windowS` seconds,
// and otherwise leaves it down (status reports it; the instance keeps serving the other ports).
// The net and netlink tiles are not supervised here: their death stops the instance (their state
// could not be rebuilt without it).
import type { Logger } from "../shared/log";
import type { MetricsReader } from "../shared/metrics/reader";
import type { AppRestartPolicy } from "./config";
import type { TileEntry } from "./manifest";
import { killTile, type TileProcess } from "./tile-process";

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
const WATCH_INTERVAL_MS = 250;

/** Backoff before restart number `recentFailures` (1 = the first failure in the window). */
export function restartBackoffMs(recentFailures: number): number {
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, recentFailures - 1));
}

export class AppSupervisor {
  private readonly failures = new Map<string, number[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly watched = new Map<string, { tp: TileProcess; metrics: MetricsReader; policy: AppRestartPolicy }>();
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly stopping: () => boolean,
    private readonly saveManifest: () => void,
  ) {}

  /** Watches a running app tile's heartbeat: one that stays silent past the policy's timeout
   *  (a module spinning forever in onPacket) is killed, and then handled as a death. */
  watch(tp: TileProcess, metrics: MetricsReader, policy: AppRestartPolicy): void {
    this.watched.set(tp.name, { tp, metrics, policy });
    this.watchdog ??= setInterval(() => this.checkHeartbeats(), WATCH_INTERVAL_MS);
    this.watchdog.unref();
  }

  private checkHeartbeats(): void {
    for (const { tp, metrics, policy } of this.watched.values()) {
      if (tp.exit !== null) continue;
      if (metrics.state !== "running") continue; // booting has its own deadline; halting is on its way
      const age = metrics.heartbeatAgeMs();
      if (age !== null && age > policy.heartbeatTimeoutMs) {
        this.log.error(
          { child: tp.name, childPid: tp.tilePid, heartbeatAgeMs: Math.round(age) },
          `app ${tp.name}: heartbeat stopped; killing it`,
        );
        killTile(tp);
      }
    }
  }

  /** Called when an app tile has died: restarts it with backoff, or leaves it down. */
  failed(name: string, entry: TileEntry, how: string, policy: AppRestartPolicy, restart: () => void): void {
    this.watched.delete(name);
    const now = Date.now();
    const recent = (this.failures.get(name) ?? []).filter((t) => now - t < policy.windowS * 1000);
    recent.push(now);
    this.failures.set(name, recent);
    entry.lastExit = how;
    if (recent.length > policy.limit) {
      entry.down = true;
      this.log.error(
        { child: name, childPid: entry.pid, restarts: entry.restarts ?? 0 },
        `app ${name} ${how}; ${recent.length} failures within ${policy.windowS} s (limit ${policy.limit}): it stays down, the other tiles keep serving`,
      );
      this.saveManifest();
      return;
    }
    const delayMs = restartBackoffMs(recent.length);
    this.log.error({ child: name, childPid: entry.pid, delayMs }, `app ${name} ${how}; restarting it in ${delayMs} ms`);
    this.saveManifest();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.stopping()) return;
      entry.restarts = (entry.restarts ?? 0) + 1;
      restart();
      this.saveManifest();
    }, delayMs);
    this.timers.add(timer);
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
