// Command line of the exec helper (native/sandbox_exec.c, build/Release/tilenet-exec), which the
// launcher spawns as root to start a tile unprivileged:
//   spawn(execHelperPath(), execHelperArgs({...}), { stdio: [...], env: {...} })
// The fds in keepFds are the spawn stdio indexes the tile gets; everything else is closed.

export type Namespace = "mount" | "ipc" | "uts" | "net" | "pid";

export interface ExecHelperOptions {
  uid: number;
  gid: number;
  /** Real gid, different from gid: the kernel then makes the tile non-dumpable at exec. */
  realGid?: number;
  /** Fds the tile keeps (the helper fails if one is not open); all others are closed. */
  keepFds: number[];
  /** Join this network namespace (/run/netns/NAME). */
  netnsPath?: string;
  /** New namespaces for the tile; "net" is a fresh, empty network namespace; "pid" makes the
   *  helper fork: the tile is pid 1 of its own namespace, the helper stays as its waiter. */
  unshare: Namespace[];
  /** With "pid": the waiter writes the tile's host pid ("PID\n") to this fd (not a kept one). */
  pidReportFd?: number;
  /** RLIMIT_CORE soft and hard (0: no core dumps). */
  rlimitCore?: number;
  /** The launcher's pid: the helper exits 125 instead of exec if its parent has changed. */
  parentPid?: number;
  /** The one capability a tile may keep (the netlink tile's RTM_NEWNEIGH path, when configured). */
  keepNetAdmin?: boolean;
  /** Tests only: allow uid or gid 0 (capabilities are still all dropped). */
  allowRoot?: boolean;
  /** Absolute path of the program (process.execPath for a Node tile). */
  program: string;
  programArgs: string[];
}

/** Exit status of the helper when it refused or failed (message on stderr). */
export const EXEC_HELPER_FAILED = 126;
/** Exit status of the helper when --parent-pid was no longer its parent. */
export const EXEC_HELPER_PARENT_GONE = 125;

export const NAMESPACES: readonly Namespace[] = ["mount", "ipc", "uts", "net", "pid"];

function checkId(what: string, id: number, allowRoot: boolean): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe)
    throw new Error(`execHelperArgs: ${what} ${id} is not a valid id`);
  if (id === 0 && !allowRoot)
    throw new Error(`execHelperArgs: ${what} 0 (root) needs allowRoot, which exists for tests only`);
}

export function execHelperArgs(opts: ExecHelperOptions): string[] {
  const allowRoot = opts.allowRoot ?? false;
  checkId("uid", opts.uid, allowRoot);
  checkId("gid", opts.gid, allowRoot);
  if (opts.keepFds.length === 0) throw new Error("execHelperArgs: keepFds is empty");
  const fds = [...opts.keepFds].sort((a, b) => a - b);
  fds.forEach((fd, i) => {
    if (!Number.isInteger(fd) || fd < 0 || fd > 65535) throw new Error(`execHelperArgs: keep fd ${fd} is not valid`);
    if (i > 0 && fds[i - 1] === fd) throw new Error(`execHelperArgs: keep fd ${fd} is listed twice`);
  });
  const args = ["--uid", String(opts.uid), "--gid", String(opts.gid)];
  if (opts.realGid !== undefined) {
    checkId("realGid", opts.realGid, false);
    if (opts.realGid === opts.gid) throw new Error("execHelperArgs: realGid must differ from gid");
    args.push("--real-gid", String(opts.realGid));
  }
  args.push("--keep-fds", fds.join(","));
  if (opts.netnsPath !== undefined) {
    if (!opts.netnsPath.startsWith("/"))
      throw new Error(`execHelperArgs: netnsPath '${opts.netnsPath}' is not absolute`);
    if (opts.unshare.includes("net")) throw new Error("execHelperArgs: netnsPath and unshare 'net' exclude each other");
    args.push("--netns", opts.netnsPath);
  }
  if (opts.unshare.length > 0) {
    for (const ns of opts.unshare) {
      if (!NAMESPACES.includes(ns)) throw new Error(`execHelperArgs: unknown namespace '${ns}'`);
    }
    if (new Set(opts.unshare).size !== opts.unshare.length)
      throw new Error("execHelperArgs: a namespace is listed twice");
    args.push("--unshare", opts.unshare.join(","));
  }
  if (opts.pidReportFd !== undefined) {
    const fd = opts.pidReportFd;
    if (!Number.isInteger(fd) || fd < 0 || fd > 65535)
      throw new Error(`execHelperArgs: pidReportFd ${fd} is not valid`);
    if (!opts.unshare.includes("pid")) throw new Error("execHelperArgs: pidReportFd needs unshare 'pid'");
    if (fds.includes(fd)) throw new Error(`execHelperArgs: pidReportFd ${fd} is also a kept fd`);
    args.push("--pid-report-fd", String(fd));
  }
  if (opts.rlimitCore !== undefined) {
    if (!Number.isSafeInteger(opts.rlimitCore) || opts.rlimitCore < 0) {
      throw new Error(`execHelperArgs: rlimitCore ${opts.rlimitCore} is not a non-negative integer`);
    }
    args.push("--rlimit-core", String(opts.rlimitCore));
  }
  if (opts.parentPid !== undefined) {
    if (!Number.isInteger(opts.parentPid) || opts.parentPid < 1)
      throw new Error(`execHelperArgs: parentPid ${opts.parentPid}`);
    args.push("--parent-pid", String(opts.parentPid));
  }
  if (opts.keepNetAdmin) args.push("--keep-cap", "net_admin");
  if (allowRoot) args.push("--allow-root");
  if (!opts.program.startsWith("/"))
    throw new Error(`execHelperArgs: program '${opts.program}' is not an absolute path`);
  args.push("--", opts.program, ...opts.programArgs);
  return args;
}
