// Starts one tile: through the exec helper (which empties every capability set, switches to the
// tile uid/gid, sets no_new_privs and the parent-death signal, and keeps only the listed fds),
// then node on the tile's staged bundle. The tile's fds: 0 /dev/null, 1-2 log pipes to the
// launcher, 3 the bootstrap pipe, 4.. its regions and sockets in the order of the bootstrap map.
// With a PID namespace the helper stays as the tile's waiter (the child the launcher signals) and
// reports the tile's host pid on one more pipe, after the tile's fds (the tile never holds it).
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { execHelperPath } from "../shared/native";
import { BOOTSTRAP_FD, BOOTSTRAP_VERSION, type Bootstrap, encodeBootstrap } from "../shared/tile/bootstrap";
import { execHelperArgs, type Namespace } from "./exec-args";

export interface TileRegionGrant {
  role: string;
  /** Launcher-side descriptor (read-write or read-only as granted). */
  launcherFd: number;
  size: number;
  writable: boolean;
}

export interface TileLaunch {
  name: string;
  kind: string;
  bundle: string;
  regions: TileRegionGrant[];
  fds: { role: string; launcherFd: number }[];
  config: unknown;
  /** V8 old-space limit in MB (default 64: tiles are small; the netlink tile scales with netbase). */
  heapMb?: number;
  /** The launcher restarts it when it dies (apps): see Bootstrap.restartable. */
  restartable?: boolean;
  /** Keep CAP_NET_ADMIN (only the netlink tile, only when configured). */
  keepNetAdmin?: boolean;
}

export interface TileCommon {
  instance: string;
  uid: number;
  gid: number;
  realGid?: number;
  netnsPath?: string;
  unshare: Namespace[];
  landlock: boolean;
  /** The Node binary tiles run (launcher/node-binary.ts: an execute-only copy); default process.execPath. */
  nodeBinary?: string;
  logLevel: string;
  /** Where tile log lines go (already formatted by the caller's relay). */
  onLogLine: (tile: string, line: string, pid: number) => void;
}

export interface TileProcess {
  name: string;
  kind: string;
  /** The helper: the tile itself, or with a PID namespace its waiter (which forwards SIGTERM and
   *  exits as the tile did). */
  child: ChildProcess;
  pid: number;
  /** The tile's Node process as the host sees it (/proc, audit records); the helper's pid until
   *  the waiter has reported it. */
  tilePid: number;
  /** Resolves once tilePid is known (at once without a PID namespace). */
  tilePidKnown: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Flags for every tile's node: a heap cap and no eval of strings. */
export function tileNodeFlags(heapMb = 64): string[] {
  return [`--max-old-space-size=${heapMb}`, "--disallow-code-generation-from-strings"];
}

/** First descriptor after stdio (0-2) and the bootstrap pipe (3). */
export const FIRST_GRANTED_FD = 4;

/** The fd numbers a tile gets: regions first, then sockets, in the order given. */
export function tileFdLayout(
  regionRoles: readonly string[],
  fdRoles: readonly string[],
): {
  regions: Record<string, number>;
  fds: Record<string, number>;
} {
  let next = FIRST_GRANTED_FD;
  const regions: Record<string, number> = {};
  const fds: Record<string, number> = {};
  for (const r of regionRoles) regions[r] = next++;
  for (const f of fdRoles) fds[f] = next++;
  return { regions, fds };
}

export function spawnTile(launch: TileLaunch, common: TileCommon): TileProcess {
  const layout = tileFdLayout(
    launch.regions.map((r) => r.role),
    launch.fds.map((f) => f.role),
  );
  const stdio: (number | "pipe" | "ignore")[] = ["ignore", "pipe", "pipe", "pipe"];
  const regions: Bootstrap["regions"] = {};
  for (const r of launch.regions) {
    regions[r.role] = { fd: layout.regions[r.role] ?? -1, size: r.size, writable: r.writable };
    stdio.push(r.launcherFd);
  }
  for (const f of launch.fds) stdio.push(f.launcherFd);
  const fds = layout.fds;
  const pidReportFd = common.unshare.includes("pid") ? stdio.length : undefined;
  if (pidReportFd !== undefined) stdio.push("pipe");
  const args = execHelperArgs({
    uid: common.uid,
    gid: common.gid,
    realGid: common.realGid,
    keepFds: stdio.map((_, i) => i).filter((i) => i !== pidReportFd),
    pidReportFd,
    netnsPath: common.netnsPath,
    unshare: common.unshare,
    rlimitCore: 0,
    parentPid: process.pid,
    keepNetAdmin: launch.keepNetAdmin,
    program: common.nodeBinary ?? process.execPath,
    programArgs: [...tileNodeFlags(launch.heapMb), launch.bundle],
  });
  // The environment is empty but for one variable: libuv must not use io_uring for file I/O (its
  // epoll ring is refused by tilenet-exec; see native/sandbox_exec.c, refuse_io_uring).
  const child = spawn(execHelperPath(), args, { stdio, env: { UV_USE_IO_URING: "0" }, cwd: "/" });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  child.once("error", () => {
    // 'exit' follows a spawn error; the supervisor reports it from there.
  });
  const tp: TileProcess = {
    name: launch.name,
    kind: launch.kind,
    child,
    pid: child.pid ?? -1,
    tilePid: child.pid ?? -1,
    tilePidKnown: Promise.resolve(child.pid ?? -1),
    exited,
  };
  if (pidReportFd !== undefined) {
    tp.tilePidKnown = readPidReport(child.stdio[pidReportFd] as Readable | null).then((pid) => {
      if (pid !== undefined) tp.tilePid = pid;
      return tp.tilePid;
    });
  }
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) =>
      common.onLogLine(launch.name, line, tp.tilePid),
    );
  }
  const bootstrap: Bootstrap = {
    version: BOOTSTRAP_VERSION,
    instance: common.instance,
    tileName: launch.name,
    tileKind: launch.kind,
    logLevel: common.logLevel,
    regions,
    fds,
    config: launch.config,
    sandbox: { landlock: common.landlock },
    ...(launch.restartable ? { restartable: true } : {}),
  };
  const pipe = child.stdio[BOOTSTRAP_FD] as Writable | null;
  if (!pipe) throw new Error(`tile ${launch.name}: no bootstrap pipe`);
  pipe.on("error", () => {
    // the tile died before reading its bootstrap; its exit is reported by the supervisor
  });
  // The tile learns its host pid (in its own PID namespace process.pid is 1): its metrics region
  // records it, and status compares that with the manifest.
  void tp.tilePidKnown.then((hostPid) => pipe.end(encodeBootstrap({ ...bootstrap, hostPid })));
  return tp;
}

/** The waiter's one line "PID\n"; undefined when the helper failed before writing it. */
function readPidReport(stream: Readable | null): Promise<number | undefined> {
  if (!stream) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let text = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      text += chunk;
    });
    stream.on("error", () => resolve(undefined));
    stream.on("close", () => {
      const m = /^(\d+)\n$/.exec(text);
      resolve(m ? Number(m[1]) : undefined);
    });
  });
}

/** SIGKILL for a tile: the tile itself (a waiter's death would reach it only through its
 *  parent-death signal, later) and its helper. SIGTERM goes to the helper, which forwards it. */
export function killTile(tp: TileProcess): void {
  if (tp.tilePid !== tp.pid && tp.tilePid > 0) {
    try {
      process.kill(tp.tilePid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  tp.child.kill("SIGKILL");
}
