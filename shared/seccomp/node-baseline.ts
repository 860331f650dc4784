// What every Node 20 tile needs from the kernel once it runs, with the filter installed after
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
// filter), pipe2/eventfd2/epoll_create1 (no new fds), kill (see tgkill below).
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
  "write", // stdout/stderr (console.log, process.stdout.write), libuv async wake-ups
  "close", // libuv and Node tearing down handles at exit
  "fstat", // Node's stdio reset at exit (is fd 0..2 a tty?)
  "fcntl", // Node's stdio reset at exit (restoring O_NONBLOCK flags)
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

export const nodeBaselineErrno: ErrnoRule[] = [
  // glibc malloc reads /proc/sys/vm/overcommit_memory when it first trims a heap; it copes with
  // a failure, a kill would not. process.memoryUsage() also opens /proc/self/statm and throws
  // EPERM under the filter (use v8.getHeapStatistics()).
  { syscall: "openat", errno: 1 /* EPERM */ },
];

/** abort() (a V8 fatal error) raises SIGABRT with tgkill on its own thread; without it the tile
 *  would die of SIGSYS and look like a sandbox violation. Only this process can be signalled. */
export function selfSignalRule(pid: number): ArgRule {
  return { syscall: "tgkill", args: [{ index: 0, op: "eq", value: pid }] };
}

/** The baseline as a policy for the process `pid` (the caller's own). */
export function nodeBaselinePolicy(pid: number = process.pid): SeccompPolicy {
  return { name: "node-baseline", allow: [...nodeBaselineSyscalls, selfSignalRule(pid)], errno: nodeBaselineErrno };
}
