// Which syscall killed a tile: seccomp's kill actions are logged by the kernel as audit records
// ("type=1326 ... pid=N ... syscall=NR ..."), readable from the kernel log by root.
import { execFileSync } from "node:child_process";
import { syscallNames } from "../shared/seccomp/syscalls-x86_64";

export function sigsysSyscall(pid: number, kernelLog?: string): number | undefined {
  let text = kernelLog;
  if (text === undefined) {
    try {
      text = execFileSync("dmesg", [], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 64 << 20 });
    } catch {
      return undefined;
    }
  }
  let found: number | undefined;
  const re = new RegExp(`type=1326\\b[^\\n]*\\bpid=${pid}\\b[^\\n]*\\bsyscall=(\\d+)`, "g");
  for (let m = re.exec(text); m; m = re.exec(text)) found = Number(m[1]);
  return found;
}

/** " (syscall openat, nr 257)" or "" when the kernel log does not say. */
export function describeSigsys(pid: number): string {
  const nr = sigsysSyscall(pid);
  if (nr === undefined) return " (syscall unknown: no audit record in the kernel log)";
  return ` (syscall ${syscallNames.get(nr) ?? "?"}, nr ${nr})`;
}
