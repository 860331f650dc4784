// Starts one tile: through the exec helper (which empties every capability set, switches to the
// tile uid/gid, sets no_new_privs and the parent-death signal, and keeps only the listed fds),
// then node on the tile's staged bundle. The tile's fds: 0 /dev/null, 1-2 log pipes to the
// launcher, 3 the bootstrap pipe, 4.. its regions and sockets in the order of the bootstrap map.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Writable } from "node:stream";
import { execHelperPath } from "../shared/native";
import { BOOTSTRAP_FD, BOOTSTRAP_VERSION, type Bootstrap, encodeBootstrap } from "../shared/tile/bootstrap";
import { execHelperArgs } from "./exec-args";

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
  unshare: ("mount" | "ipc" | "uts" | "net")[];
  landlock: boolean;
  logLevel: string;
  /** Where tile log lines go (already formatted by the caller's relay). */
  onLogLine: (tile: string, line: string, pid: number) => void;
}

export interface TileProcess {
  name: string;
  kind: string;
  child: ChildProcess;
  pid: number;
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
  const args = execHelperArgs({
    uid: common.uid,
    gid: common.gid,
    realGid: common.realGid,
    keepFds: stdio.map((_, i) => i),
    netnsPath: common.netnsPath,
    unshare: common.unshare,
    rlimitCore: 0,
    parentPid: process.pid,
    keepNetAdmin: launch.keepNetAdmin,
    program: process.execPath,
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
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) =>
      common.onLogLine(launch.name, line, child.pid ?? -1),
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
  pipe.end(encodeBootstrap(bootstrap));
  return { name: launch.name, kind: launch.kind, child, pid: child.pid ?? -1, exited };
}
