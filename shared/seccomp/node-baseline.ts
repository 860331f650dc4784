// What every Node tile needs from the kernel once it runs, with the filter installed after
// start-up (regions mapped, stdout/stderr streams created, signal handlers registered: see
// enterSandbox). Measured on Linux 6.18 / Node 20.20 with test/fixtures/sandbox/node-workload.ts
// (ring work over mapped memory, futex through the addon, timers, promises, scavenges and
// mark-compacts, JIT tier-up, stdout/stderr to pipes, resourceUsage, hrtime, exceptions,
// process.exit and natural exit, SIGUSR2 handled, SIGSTOP/SIGCONT): first with SECCOMP_RET_LOG
// as the default action (audit lines in dmesg), then strace over the sandboxed part, then with
// KILL_PROCESS as the default (test/sandbox-node-baseline.test.ts).
//
// Not allowed, on purpose: open/openat (EPERM, below), socket, connect, clone/clone3/fork (no new
// threads or processes: the V8 platform threads exist before the filter, the libuv threadpool
// must not be started afterwards), execve, ioctl (the stdio streams are created before the
// filter), pipe2/eventfd2/epoll_create1 (no new fds), kill (see tgkill below), io_uring (never:
// answered ENOSYS, see IO_URING_SYSCALLS). Node 22 and 24 add a few calls: nodeMajorSyscalls.
import type { ArgRule, ErrnoRule, SeccompPolicy } from "./policy";

export const nodeBaselineSyscalls: string[] = [
  // Memory: V8 heap pages, code space (W^X flips), glibc malloc, GC releasing pages.
  "brk", // glibc malloc growing the main arena
  "mmap", // V8 heap and code pages, large objects, malloc arenas
  "munmap", // V8 releasing pages after GC, malloc trimming
  "mprotect", // V8 code space write/execute flips when JIT code is made, heap page protection
  "madvise", // V8 discarding freed pages (MADV_DONTNEED/FREE) after GC, malloc trimming
  // Threads: V8 platform workers (concurrent marking, JIT compilers), libuv, glibc locks.
  "futex", // every mutex/condition wait between threads; the addon's cross-process futexWait/Wake
  "sched_yield", // V8 spin-lock back-off under contention (seen only under load)
  "exit", // a thread ending (V8 platform workers at process exit)
  "exit_group", // process.exit() and natural exit
  "rt_sigprocmask", // glibc blocks signals around thread exit; abort()
  // Event loop: libuv's epoll loop and its async wake-up fd (eventfd), stdout/stderr pipes.
  "epoll_pwait", // uv_run waiting for timers and I/O
  "epoll_ctl", // libuv (un)registering the stdio pipes and its async fd
  "read", // libuv draining its async wake-up eventfd and signal pipe
  "close", // libuv and Node tearing down handles at exit
  "fstat", // Node's stdio reset at exit (is fd 0..2 a tty?)
  // Process information.
  "getpid", // libuv and V8 (and glibc's raise() in abort)
  "gettid", // glibc's abort() -> raise() (V8 fatal errors, heap out of memory)
  "getrusage", // process.resourceUsage(), process.cpuUsage()
  // vDSO calls: no syscall on this machine (clocksource tsc), a real syscall where the
  // clocksource has no vDSO support (hpet, acpi_pm, some hypervisors). hrtime, Date.now, timers.
  "clock_gettime",
  "gettimeofday",
  // Signals: a handled signal (process.on("SIGTERM"), registered before the sandbox) returns
  // through rt_sigreturn; Node resets every signal disposition at natural exit; a stop/continue
  // (SIGSTOP, SIGTSTP, a freezer) during a timed futex wait resumes through restart_syscall.
  "rt_sigaction",
  "rt_sigreturn",
  "restart_syscall",
];

/** What each Node major needs beyond nodeBaselineSyscalls, measured the same way (Linux 6.18;
 *  Node 20.20.2, 22.23.5, 24.22.3) with io_uring refused before exec (tilenet-exec). Stacks from
 *  `strace -f -k`. A tile's PID namespace holds only its own threads, so the pid arguments of
 *  these read-only scheduler queries cannot name another process. */
export const nodeMajorSyscalls: Readonly<Record<20 | 22 | 24, readonly string[]>> = {
  20: [],
  // V8's heap::base::Stack::GetStackStart -> pthread_getattr_np reads the thread's affinity when
  // a JIT or GC background thread first parks at a safepoint.
  22: ["sched_getaffinity"],
  24: [
    "sched_getaffinity", // as in 22
    // V8 13's absl::Mutex slow path (a contended platform job lock during a scavenge):
    // pthread_getschedparam on the waiting thread (sched_getparam + sched_getscheduler), and
    // absl::NominalCPUFrequency's one-time 1-2 ms calibration sleep (clock_nanosleep).
    "sched_getparam",
    "sched_getscheduler",
    "clock_nanosleep",
  ],
};

/** The Node major a baseline is chosen for: the nearest measured one at or below `version`
 *  (a newer, unmeasured major gets the newest measured set; the README says which are tested). */
export function baselineMajor(version: string = process.versions.node): 20 | 22 | 24 {
  const major = Number(version.split(".")[0]);
  if (major >= 24) return 24;
  if (major >= 22) return 22;
  return 20;
}

/** io_uring runs its operations in kernel workers seccomp never sees: no filter may allow it.
 *  Answered with ENOSYS (what a kernel without io_uring says), so libuv falls back to epoll. */
export const IO_URING_SYSCALLS = ["io_uring_setup", "io_uring_enter", "io_uring_register"] as const;
const ENOSYS = 38;

export const nodeBaselineErrno: ErrnoRule[] = [
  // glibc malloc reads /proc/sys/vm/overcommit_memory when it first trims a heap; it copes with
  // a failure, a kill would not. process.memoryUsage() also opens /proc/self/statm and throws
  // EPERM under the filter (use v8.getHeapStatistics()).
  { syscall: "openat", errno: 1 /* EPERM */ },
  ...IO_URING_SYSCALLS.map((syscall) => ({ syscall, errno: ENOSYS })),
];

/** abort() (a V8 fatal error) raises SIGABRT with tgkill on its own thread; without it the tile
 *  would die of SIGSYS and look like a sandbox violation. Only this process can be signalled. */
export function selfSignalRule(pid: number): ArgRule {
  return { syscall: "tgkill", args: [{ index: 0, op: "eq", value: pid }] };
}

const F_GETFD = 1;
const F_GETFL = 3;
const F_SETFL = 4;
const O_ASYNC = 0x2000;

/** fcntl only reads or sets plain file-status flags. Node's stdio reset at exit reads the flags of
 *  fds 0-2 (F_GETFL) and restores O_NONBLOCK (F_SETFL); strace of every Node major under the filter
 *  saw nothing else. Refused, on purpose: F_SETOWN/F_SETOWN_EX/F_SETSIG and O_ASYNC through
 *  F_SETFL (together they make the kernel send any signal, SIGKILL included, to any process the
 *  tile's uid may signal, whenever the fd gets data: `kill` by another name), F_DUPFD* (new fds),
 *  F_SETLK* (locks on shared files), F_SETPIPE_SZ, F_ADD_SEALS, leases and notifications. */
export const fcntlRules: ArgRule[] = [
  { syscall: "fcntl", args: [{ index: 1, op: "in", values: [F_GETFD, F_GETFL] }] },
  {
    syscall: "fcntl",
    args: [
      { index: 1, op: "eq", value: F_SETFL },
      { index: 2, op: "maskedEq", mask: O_ASYNC, value: 0 },
    ],
  },
];

/** pino's fatal() flushes its destination with fsync (a no-op on the launcher's log pipes): without
 *  it a tile's last words (an error in init, a failed set-up) would become "SIGSYS fsync". */
export const stdioFsyncRule: ArgRule = { syscall: "fsync", args: [{ index: 0, op: "in", values: [1, 2] }] };

/** write: stdout/stderr (console.log, pino) and libuv's own wake-ups (its async eventfd, its signal
 *  pipe). A tile's other fds (netlink and UDP sockets, regions) are not written with write():
 *  pinned to `fds` when given (enterSandbox lists them), unconditional otherwise (printing). */
export function writeRule(fds?: readonly number[]): string | ArgRule {
  return fds ? { syscall: "write", args: [{ index: 0, op: "in", values: fds }] } : "write";
}

/** The baseline as a policy for the process `pid` (the caller's own) on Node `version`; `writeFds`
 *  pins write (see writeRule). */
export function nodeBaselinePolicy(
  pid: number = process.pid,
  version: string = process.versions.node,
  writeFds?: readonly number[],
): SeccompPolicy {
  const allow = [
    writeRule(writeFds),
    ...nodeBaselineSyscalls,
    ...nodeMajorSyscalls[baselineMajor(version)],
    selfSignalRule(pid),
    stdioFsyncRule,
    ...fcntlRules,
  ];
  return { name: `node${baselineMajor(version)}-baseline`, allow, errno: nodeBaselineErrno };
}
