// Starts one tile: the keeper (launcher/keeper.ts, the root helper that outlives the launcher's
// privilege drop) runs the exec helper (which empties every capability set, switches to the tile
// uid/gid, sets no_new_privs and the parent-death signal, and keeps only the listed fds), then
// node on the tile's staged bundle. The tile's fds: 0 /dev/null, 1-2 log pipes to the
// launcher, 3 the bootstrap pipe, 4.. its regions and sockets in the order of the bootstrap map.
// With a PID namespace the helper stays as the tile's waiter (the child the launcher signals) and
// reports the tile's host pid on one more pipe, after the tile's fds (the tile never holds it).
import { closeSync, openSync } from "node:fs";
import { Socket } from "node:net";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { execHelperPath, native } from "../shared/native";
import { BOOTSTRAP_VERSION, type Bootstrap, encodeBootstrap } from "../shared/tile/bootstrap";
import { EXEC_HELPER_FAILED, execHelperArgs, type Namespace } from "./exec-args";
import type { Keeper, SlotExit } from "./keeper";

export interface TileRegionGrant {
  role: string;
  /** Launcher-side descriptor (read-write or read-only as granted). */
  launcherFd: number;
  size: number;
  writable: boolean;
  /** Several tiles write it (RegionUse.shared): the tile leaves it unsealed. */
  shared?: boolean;
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
  /** The helper's pid (the tile itself, or with a PID namespace its waiter, which forwards SIGTERM
   *  and exits as the tile did); -1 until the keeper has started it. */
  pid: number;
  /** The tile's Node process as the host sees it (/proc, audit records); the helper's pid until
   *  the waiter has reported it. */
  tilePid: number;
  /** Resolves once tilePid is known (at once without a PID namespace). */
  tilePidKnown: Promise<number>;
  exited: Promise<SlotExit>;
  /** How it ended; null while it runs. */
  exit: SlotExit | null;
  /** Through the keeper: the launcher itself holds no right to signal a tile. */
  signal(sig: "SIGTERM" | "SIGKILL"): void;
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

/** The exec helper's command line for a tile, as its keeper slot: the fds are 0 /dev/null, 1-2 log
 *  pipes, 3 the bootstrap pipe, then regions and sockets, then (PID namespace) the pid report. */
export function tileExecArgv(launch: TileLaunch, common: TileCommon, keeperPid: number): string[] {
  const fdCount = 4 + launch.regions.length + launch.fds.length;
  const pidReportFd = common.unshare.includes("pid") ? fdCount : undefined;
  const args = execHelperArgs({
    uid: common.uid,
    gid: common.gid,
    realGid: common.realGid,
    keepFds: Array.from({ length: fdCount }, (_, i) => i),
    pidReportFd,
    netnsPath: common.netnsPath,
    unshare: common.unshare,
    rlimitCore: 0,
    parentPid: keeperPid,
    keepNetAdmin: launch.keepNetAdmin,
    program: common.nodeBinary ?? process.execPath,
    programArgs: [...tileNodeFlags(launch.heapMb), launch.bundle],
  });
  return [execHelperPath(), ...args];
}

/** A pipe end as a non-blocking stream (a libuv pipe, not a threadpool file read). */
function pipeStream(fd: number, direction: "read" | "write"): Socket {
  return new Socket({ fd, readable: direction === "read", writable: direction === "write" });
}

/** The descriptors a tile starts with (tileExecArgv's layout) and the launcher's ends of its pipes. */
function tileDescriptors(
  launch: TileLaunch,
  withPidReport: boolean,
): { send: number[]; closeAfterSend: number[]; logs: Socket[]; bootstrap: Socket; pidReport?: Socket } {
  const addon = native();
  const devNull = openSync("/dev/null", "r");
  const [out, outW] = addon.pipe();
  const [err, errW] = addon.pipe();
  const [bootR, boot] = addon.pipe();
  const send = [
    devNull,
    outW,
    errW,
    bootR,
    ...launch.regions.map((r) => r.launcherFd),
    ...launch.fds.map((f) => f.launcherFd),
  ];
  const closeAfterSend = [devNull, outW, errW, bootR];
  let pidReport: Socket | undefined;
  if (withPidReport) {
    const [reportR, reportW] = addon.pipe();
    send.push(reportW);
    closeAfterSend.push(reportW);
    pidReport = pipeStream(reportR, "read");
  }
  return {
    send,
    closeAfterSend,
    logs: [pipeStream(out, "read"), pipeStream(err, "read")],
    bootstrap: pipeStream(boot, "write"),
    ...(pidReport ? { pidReport } : {}),
  };
}

/** Starts a tile through its keeper slot (registered with tileExecArgv). */
export function spawnTile(launch: TileLaunch, common: TileCommon, keeper: Keeper, slot: number): TileProcess {
  const layout = tileFdLayout(
    launch.regions.map((r) => r.role),
    launch.fds.map((f) => f.role),
  );
  const regions: Bootstrap["regions"] = {};
  for (const r of launch.regions) {
    regions[r.role] = {
      fd: layout.regions[r.role] ?? -1,
      size: r.size,
      writable: r.writable,
      ...(r.shared ? { shared: true } : {}),
    };
  }
  const withPidReport = common.unshare.includes("pid");
  const d = tileDescriptors(launch, withPidReport);
  const started = keeper.spawn(slot, d.send);
  for (const fd of d.closeAfterSend) closeSync(fd);
  const tp: TileProcess = {
    name: launch.name,
    kind: launch.kind,
    pid: -1,
    tilePid: -1,
    tilePidKnown: Promise.resolve(-1),
    exited: Promise.resolve({ code: null, signal: null }),
    exit: null,
    signal: (sig) => keeper.signal(slot, sig, tp.tilePid !== tp.pid && tp.tilePid > 0 ? tp.tilePid : undefined),
  };
  const helperPid = started.then(
    (pid) => {
      tp.pid = pid;
      tp.tilePid = pid;
      return pid;
    },
    () => -1,
  );
  tp.exited = helperPid.then((pid) =>
    pid < 0 ? { code: EXEC_HELPER_FAILED, signal: null } : keeper.exitOf(slot, pid),
  );
  void tp.exited.then((exit) => {
    tp.exit = exit;
  });
  tp.tilePidKnown = helperPid.then(async (pid) => {
    if (pid < 0 || !d.pidReport) return pid;
    const reported = await readPidReport(d.pidReport);
    if (reported !== undefined) tp.tilePid = reported;
    return tp.tilePid;
  });
  for (const stream of d.logs) {
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
    fds: layout.fds,
    config: launch.config,
    sandbox: { landlock: common.landlock },
    ...(launch.restartable ? { restartable: true } : {}),
  };
  d.bootstrap.on("error", () => {
    // the tile died before reading its bootstrap; its exit is reported by the supervisor
  });
  // The tile learns its host pid (in its own PID namespace process.pid is 1): its metrics region
  // records it, and status compares that with the manifest.
  void tp.tilePidKnown.then((hostPid) => {
    if (hostPid < 0) d.bootstrap.destroy();
    else d.bootstrap.end(encodeBootstrap({ ...bootstrap, hostPid }));
  });
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

/** SIGKILL for a tile: its helper and, in a PID namespace, the tile itself (a waiter's death would
 *  reach it only through its parent-death signal, later). SIGTERM goes to the helper alone, which
 *  forwards it. */
export function killTile(tp: TileProcess): void {
  tp.signal("SIGKILL");
}
