// The launcher's own sandbox (issue 15): once every tile runs and the keeper holds what a restart
// and the teardown need, the launcher becomes an unprivileged process of its own uid. What it
// still does (supervise, restart apps through the keeper, serve /metrics, write its manifest,
// talk to systemd) needs no capability at all, so it keeps none.
//
// Its seccomp filter is a deny list (a Node process serving HTTP uses most of the kernel's
// syscalls): the calls that could win privileges back, reach another process, or change the
// machine kill it. No exec (the keeper starts every tile), no ptrace or process_vm_*, no
// namespaces, mounts, bpf, modules, keys or io_uring (a new ring is refused with ENOSYS, which
// libuv takes as "use epoll"), no uid/gid/capability change, sockets of the unix and IP families.
import { readdirSync, readFileSync } from "node:fs";
import { native } from "../shared/native";
import { compilePolicy } from "../shared/seccomp/compile";
import type { ArgRule, SeccompPolicy } from "../shared/seccomp/policy";
import { syscallNumbers } from "../shared/seccomp/syscalls-x86_64";
import { parseTaskStatus, type ThreadSandboxFacts } from "./health/procfs";
import { ioUringFds } from "./no-io-uring";

/** Syscalls that kill the launcher once it has dropped its privileges. */
// biome-ignore format: grouped by what they would give an attacker
export const LAUNCHER_DENIED_SYSCALLS: readonly string[] = [
  // running or reaching other code
  "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "uselib",
  // privileges
  "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
  "capset", "personality",
  // namespaces and mounts
  "setns", "unshare", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
  "fsconfig", "fsmount", "fspick", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
  // the kernel and the machine
  "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "init_module",
  "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
  "quotactl", "quotactl_fd", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
  "setdomainname", "iopl", "ioperm", "modify_ldt", "syslog", "fanotify_init", "lookup_dcookie", "vhangup",
  "mknod", "mknodat",
  // rings whose work runs with the creator's credentials (it holds none: checked at the drop)
  "io_uring_enter", "io_uring_register",
];

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME */
const CLONE_NEW_MASK = 0x7e020080;
const EAFNOSUPPORT = 97;
const ENOSYS = 38;

/** Every syscall the kernel table names, but the denied ones; socket and clone with checks. */
export function launcherPolicy(): SeccompPolicy {
  const denied = new Set(LAUNCHER_DENIED_SYSCALLS);
  const checked = new Set(["socket", "clone", "clone3", "io_uring_setup"]);
  const allow: (string | ArgRule)[] = Object.keys(syscallNumbers).filter((n) => !denied.has(n) && !checked.has(n));
  allow.push({ syscall: "socket", args: [{ index: 0, op: "in", values: [AF_UNIX, AF_INET, AF_INET6] }] });
  allow.push({ syscall: "clone", args: [{ index: 0, op: "maskedEq", mask: CLONE_NEW_MASK, value: 0 }] });
  return {
    name: "launcher",
    allow,
    errno: [
      { syscall: "socket", errno: EAFNOSUPPORT },
      // clone3's flags are in memory the filter cannot read: glibc falls back to clone.
      { syscall: "clone3", errno: ENOSYS },
      // A new libuv loop (Node >= 22) asks for a ring: "no io_uring" makes it use epoll.
      { syscall: "io_uring_setup", errno: ENOSYS },
    ],
  };
}

export interface LauncherSandbox {
  uid: number;
  gid: number;
  seccompPolicy: string;
  syscallsDenied: number;
  filterInstructions: number;
}

function threadFacts(): ThreadSandboxFacts[] {
  return readdirSync("/proc/self/task").map((tid) =>
    parseTaskStatus(readFileSync(`/proc/self/task/${tid}/status`, "utf8"), `/proc/self/task/${tid}/status`),
  );
}

/** Switches every thread to uid/gid with no capability, then the filter; throws (the instance
 *  stops) if any thread kept an id 0 or a permitted or effective capability. */
export function dropLauncherPrivileges(uid: number, gid: number): LauncherSandbox {
  const addon = native();
  const rings = ioUringFds();
  if (rings.length > 0)
    throw new Error(`the launcher holds io_uring rings (fds ${rings.join(", ")}): it cannot drop its privileges`);
  const program = compilePolicy(launcherPolicy());
  addon.dropToIds(uid, gid);
  addon.setDumpable(false);
  for (const t of threadFacts()) {
    const held = [t.caps.CapEff, t.caps.CapPrm, t.caps.CapAmb].some((c) => !/^0+$/.test(c));
    if (t.uid.effective === 0 || t.uid.real === 0 || t.uid.saved === 0 || held)
      throw new Error(
        `launcher thread ${t.tid} kept privileges after the drop (uid ${t.uid.effective}, CapEff ${t.caps.CapEff})`,
      );
  }
  addon.installSeccomp(program);
  return {
    uid,
    gid,
    seccompPolicy: "launcher",
    syscallsDenied: LAUNCHER_DENIED_SYSCALLS.length,
    filterInstructions: program.byteLength / 8,
  };
}
