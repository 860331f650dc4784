// The launcher must hold no io_uring ring when it drops its privileges: work a ring queues may run
// with the credentials of the thread that made it (CVE-2024-22017), and its filter kills every
// io_uring call. libuv in Node >= 22 makes rings at start-up, whatever UV_USE_IO_URING says (its
// epoll batching), and aborts when a ring it made fails later. So a launcher that finds rings
// refuses io_uring_setup (ENOSYS, which libuv takes as "no io_uring") with a small filter and
// re-executes itself in place (same pid, for systemd): libuv then starts on plain epoll.
import { readdirSync, readlinkSync } from "node:fs";
import { native } from "../shared/native";
import { compilePolicy } from "../shared/seccomp/compile";
import type { SeccompPolicy } from "../shared/seccomp/policy";
import { syscallNumbers } from "../shared/seccomp/syscalls-x86_64";

const IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"];
const ENOSYS = 38;
/** Set across the re-exec: a second pass that still finds rings fails instead of looping. */
const REEXEC_MARK = "TILENET_IO_URING_REFUSED";

/** Descriptors of this process that are io_uring rings. */
export function ioUringFds(): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === "anon_inode:[io_uring]") out.push(Number(name));
    } catch {
      // closed meanwhile (or the listing's own descriptor)
    }
  }
  return out;
}

/** Everything allowed, io_uring answered with ENOSYS. */
export function ioUringRefusalPolicy(): SeccompPolicy {
  return {
    name: "no-io-uring",
    allow: Object.keys(syscallNumbers).filter((n) => !IO_URING.includes(n)),
    errno: IO_URING.map((syscall) => ({ syscall, errno: ENOSYS })),
  };
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/** Returns when this process holds no ring; otherwise re-executes it without (never returns). */
export function restartWithoutIoUring(): void {
  if (ioUringFds().length === 0) return;
  if (process.env[REEXEC_MARK] === "1")
    throw new Error("io_uring rings are still open after the launcher re-executed itself without them");
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== "function")
    throw new Error(
      `Node ${process.version} made io_uring rings and cannot re-execute itself (process.execve needs Node >= 22.15)`,
    );
  native().installSeccomp(compilePolicy(ioUringRefusalPolicy()));
  execve.call(process, process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    ...process.env,
    [REEXEC_MARK]: "1",
  });
}
