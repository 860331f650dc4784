// Which syscall killed a tile: seccomp's kill actions are logged by the kernel as audit records
// ("type=1326 ... pid=N ... syscall=NR ..."), readable from the kernel log by root.
import { closeSync, constants, openSync, readSync } from "node:fs";
import { syscallNames } from "../shared/seccomp/syscalls-x86_64";

export function sigsysSyscall(pid: number, kernelLog?: string): number | undefined {
  const text = kernelLog ?? readKernelLog();
  if (text === undefined) return undefined;
  let found: number | undefined;
  const re = new RegExp(`type=1326\\b[^\\n]*\\bpid=${pid}\\b[^\\n]*\\bsyscall=(\\d+)`, "g");
  for (let m = re.exec(text); m; m = re.exec(text)) found = Number(m[1]);
  return found;
}

/** A /dev/kmsg descriptor opened while the launcher was root (reading it needs CAP_SYSLOG at open
 *  only), and the records read from it so far: after the privilege drop new records come from it. */
let held: { fd: number; text: string } | undefined;
const HELD_TEXT_MAX = 4 << 20;

/** Opens the kernel log for later reads; false when it cannot be opened. */
export function holdKernelLog(): boolean {
  if (held) return true;
  try {
    held = { fd: openSync("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK), text: "" };
    return true;
  } catch {
    return false;
  }
}

function readKernelLog(): string | undefined {
  if (!held) {
    let fd: number;
    try {
      fd = openSync("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return undefined;
    }
    try {
      return readRecords(fd);
    } finally {
      closeSync(fd);
    }
  }
  held.text = (held.text + readRecords(held.fd)).slice(-HELD_TEXT_MAX);
  return held.text;
}

/** The records from fd's position on, as text: one record per read, until EAGAIN. */
function readRecords(fd: number, maxRecords = 100_000): string {
  const buf = Buffer.alloc(8192); // a record is at most about 1 KiB plus its dictionary
  const lines: string[] = [];
  for (let i = 0; i < maxRecords; i++) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      // EPIPE: a record was overwritten while we read (the next read goes on); EAGAIN: the end.
      if ((err as NodeJS.ErrnoException).code === "EPIPE") continue;
      break;
    }
    if (n <= 0) break;
    lines.push(buf.toString("utf8", 0, n));
  }
  return lines.join("");
}

/** " (syscall openat, nr 257)" or "" when the kernel log does not say. */
export function describeSigsys(pid: number): string {
  const nr = sigsysSyscall(pid);
  if (nr === undefined) return " (syscall unknown: no audit record in the kernel log)";
  return ` (syscall ${syscallNames.get(nr) ?? "?"}, nr ${nr})`;
}
