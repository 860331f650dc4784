// enterSandbox: what a tile calls once it has joined its regions and opened what it needs, and
// before it touches untrusted input. Privileges were already dropped by tilenet-exec; this adds
// the in-process layers: no new fds, not dumpable, landlock (no filesystem), seccomp.
// Before calling it a tile must have done everything that makes fds or threads: map regions,
// register signal handlers (process.on("SIGTERM") creates libuv's signal pipe), no async fs,
// dns, zlib or crypto work afterwards (the libuv threadpool cannot start under the filter).
import { readdirSync, readlinkSync } from "node:fs";
import { native } from "../native";
import { compilePolicy } from "../seccomp/compile";
import { nodeBaselinePolicy } from "../seccomp/node-baseline";
import { mergePolicies, type SeccompPolicy } from "../seccomp/policy";

export interface EnterSandboxOptions {
  /** The tile's own syscalls; the Node baseline (node-baseline.ts) is added to it. */
  policy: SeccompPolicy;
  /** Fds granted by the launcher (regions, sockets): write() is never allowed on them. */
  grantedFds?: readonly number[];
  /** Highest fd the tile keeps: RLIMIT_NOFILE becomes keepFdsUpTo + 1, so no new fd can be made
   *  above it (existing fds stay usable). */
  keepFdsUpTo: number;
  /** Apply a landlock ruleset that grants no filesystem access (when the kernel has landlock). */
  landlock: boolean;
  /** "log" (SECCOMP_RET_LOG) only to discover what a tile needs from the kernel log; tiles use
   *  the default, "kill" (SECCOMP_RET_KILL_PROCESS). */
  defaultAction?: "kill" | "log";
}

/** Fds write() may use: stdout, stderr and what libuv made for itself (its async eventfd, its
 *  signal pipe), listed from /proc/self/fd before the filter; never a granted fd (sockets, regions). */
export function writableFds(granted: readonly number[]): number[] {
  const out = [1, 2];
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    if (fd <= 2 || granted.includes(fd)) continue;
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory fd of this listing
    }
    if (target === "anon_inode:[eventfd]" || target.startsWith("pipe:")) out.push(fd);
  }
  return out;
}

export interface SandboxReport {
  nofileLimit: number;
  dumpable: false;
  /** "all-threads" (landlock ABI >= 8), "calling-thread" (older ABIs: the main thread and threads
   *  it starts later, not the V8 threads already running), "unavailable", or "not-requested". */
  landlock: "all-threads" | "calling-thread" | "unavailable" | "not-requested";
  landlockAbi: number;
  /** The merged policy that was compiled. */
  policyName: string;
  syscallsAllowed: number;
  filterInstructions: number;
  defaultAction: "kill" | "log";
}

export function enterSandbox(opts: EnterSandboxOptions): SandboxReport {
  if (!Number.isInteger(opts.keepFdsUpTo) || opts.keepFdsUpTo < 2) {
    throw new Error(`enterSandbox: keepFdsUpTo ${opts.keepFdsUpTo} (must be an integer >= 2: stdio stays)`);
  }
  const addon = native();
  // Node creates the stdout/stderr streams lazily, and making one needs syscalls (ioctl, fstat)
  // no tile should otherwise be allowed: create them now.
  void process.stdout;
  void process.stderr;
  const baseline = nodeBaselinePolicy(process.pid, process.versions.node, writableFds(opts.grantedFds ?? []));
  const merged = mergePolicies(`${opts.policy.name}+${baseline.name}`, baseline, opts.policy);
  const defaultAction = opts.defaultAction ?? "kill";
  // Compile first: a bad policy must fail before anything is restricted.
  const program = compilePolicy(merged, { defaultAction });

  addon.setDumpable(false);

  // Landlock before the fd limit: creating its ruleset takes an fd.
  const landlockAbi = addon.landlockAbiVersion();
  let landlock: SandboxReport["landlock"] = "not-requested";
  if (opts.landlock) {
    if (!addon.landlockDenyAll()) landlock = "unavailable";
    else landlock = landlockAbi >= 8 ? "all-threads" : "calling-thread";
  }

  const nofileLimit = opts.keepFdsUpTo + 1;
  addon.setRlimit("nofile", nofileLimit, nofileLimit);

  addon.installSeccomp(program);
  const allowed = new Set(merged.allow.map((entry) => (typeof entry === "string" ? entry : entry.syscall)));
  return {
    nofileLimit,
    dumpable: false,
    landlock,
    landlockAbi,
    policyName: merged.name,
    syscallsAllowed: allowed.size,
    filterInstructions: program.byteLength / 8,
    defaultAction,
  };
}
