// sd_notify for `Type=notify` units (see systemd/tilenet@.service): READY=1 once every tile runs,
// WATCHDOG=1 at half of WATCHDOG_USEC while every tile is healthy (the health `status` reports:
// running, heartbeat fresh, alive, sandboxed), STOPPING=1 on the way out, STATUS= lines between.
// Without NOTIFY_SOCKET in the environment nothing is sent. Sending never throws: a notify
// failure is logged once and never stops the data plane (systemd then acts on the missed message).
import type { Logger } from "../shared/log";
import { native } from "../shared/native";

export type NotifySend = (path: string, bytes: Uint8Array) => void;
/** Problems of the instance's tiles right now; empty when every tile is healthy. */
export type HealthProbe = () => string[];

export interface NotifyEnvironment {
  NOTIFY_SOCKET?: string;
  WATCHDOG_USEC?: string;
  WATCHDOG_PID?: string;
}

export class SdNotifier {
  private failed = false;
  private watchdog: NodeJS.Timeout | undefined;
  private lastUnhealthy = "";

  constructor(
    private readonly socketPath: string,
    /** Half of WATCHDOG_USEC in ms, or undefined when systemd asked for no watchdog. */
    readonly watchdogIntervalMs: number | undefined,
    private readonly log: Logger,
    private readonly send: NotifySend = connectedSend(socketPath),
  ) {}

  /** A notifier when systemd (or a test) set NOTIFY_SOCKET, else undefined. */
  static fromEnv(env: NotifyEnvironment, log: Logger, send?: NotifySend): SdNotifier | undefined {
    const path = env.NOTIFY_SOCKET;
    if (!path) return undefined;
    return new SdNotifier(path, watchdogIntervalMs(env, process.pid), log, send);
  }

  /** One datagram of KEY=VALUE lines, as sd_notify(3) sends it. */
  notify(fields: Record<string, string>): void {
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${v.replace(/\n/g, " ")}`)
      .join("\n");
    try {
      this.send(this.socketPath, Buffer.from(text));
    } catch (e) {
      if (this.failed) return;
      this.failed = true;
      this.log.warn({ err: e as Error, socket: this.socketPath }, `sd_notify failed: ${(e as Error).message}`);
    }
  }

  /** Pets the watchdog every half period, but only while `probe` finds no problem: a stuck or
   *  stale tile makes systemd's watchdog fire (and restart the unit under Restart=). */
  startWatchdog(probe: HealthProbe): void {
    const intervalMs = this.watchdogIntervalMs;
    if (intervalMs === undefined || this.watchdog) return;
    const tick = (): void => {
      const problems = probe();
      if (problems.length === 0) {
        if (this.lastUnhealthy !== "") this.log.info("every tile healthy again; watchdog resumed");
        this.lastUnhealthy = "";
        this.notify({ WATCHDOG: "1" });
        return;
      }
      const text = problems.join("; ");
      if (text !== this.lastUnhealthy)
        this.log.warn({ problems }, "a tile is unhealthy: withholding the systemd watchdog ping");
      this.lastUnhealthy = text;
      this.notify({ STATUS: `unhealthy: ${text}` });
    };
    this.watchdog = setInterval(tick, intervalMs);
    this.watchdog.unref();
    tick();
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}

/** Sends through a socket connected now (the launcher is still root: after its privilege drop the
 *  socket's directory may be closed to it); per message by path when connecting failed. */
function connectedSend(path: string): NotifySend {
  let fd = -1;
  try {
    fd = native().unixDgramConnect(path);
  } catch {
    // reported by the first failed send
  }
  return (p, b) => (fd >= 0 ? native().sendWithFds(fd, b, []) : native().unixDgramSend(p, b));
}

/** Half of WATCHDOG_USEC (sd_watchdog_enabled(3)'s advice), when it is meant for this process. */
export function watchdogIntervalMs(env: NotifyEnvironment, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}
