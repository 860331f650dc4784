// Test support: fake procfs trees (status files in the kernel's syntax, fd symlinks), so the
// sandbox verdicts can be tested for states a test cannot put a real process in.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const FULL_CAPS = "000001ffffffffff";
export const NO_CAPS = "0000000000000000";

export interface FakeThread {
  tid: number;
  name?: string;
  seccomp?: number;
  noNewPrivs?: number;
  uid?: string;
  gid?: string;
  groups?: string;
  capBnd?: string;
  capEff?: string;
}

/** A /proc/PID/task/TID/status text like the kernel writes (abridged, same field syntax). */
export function statusText(pid: number, t: FakeThread): string {
  return [
    `Name:\t${t.name ?? "node"}`,
    "Umask:\t0022",
    "State:\tS (sleeping)",
    `Tgid:\t${pid}`,
    "Ngid:\t0",
    `Pid:\t${t.tid}`,
    "PPid:\t1",
    "TracerPid:\t0",
    `Uid:\t${t.uid ?? "65534\t65534\t65534\t65534"}`,
    `Gid:\t${t.gid ?? "65534\t65534\t65534\t65534"}`,
    "FDSize:\t64",
    `Groups:\t${t.groups ?? ""}`,
    "Threads:\t3",
    "SigQ:\t0/63457",
    `CapInh:\t${NO_CAPS}`,
    `CapPrm:\t${NO_CAPS}`,
    `CapEff:\t${t.capEff ?? NO_CAPS}`,
    `CapBnd:\t${t.capBnd ?? NO_CAPS}`,
    `CapAmb:\t${NO_CAPS}`,
    `NoNewPrivs:\t${t.noNewPrivs ?? 1}`,
    `Seccomp:\t${t.seccomp ?? 2}`,
    `Seccomp_filters:\t${(t.seccomp ?? 2) === 2 ? 2 : 0}`, // tilenet-exec's filter and the tile's
    "Speculation_Store_Bypass:\tthread vulnerable",
    "Cpus_allowed_list:\t0-1",
    "voluntary_ctxt_switches:\t10",
    "nonvoluntary_ctxt_switches:\t1",
    "",
  ].join("\n");
}

/** Writes a fake procfs tree for one process under root. */
export function writeFakeProc(
  root: string,
  pid: number,
  threads: FakeThread[],
  fds: Record<number, string> = {},
): void {
  for (const t of threads) {
    mkdirSync(join(root, String(pid), "task", String(t.tid)), { recursive: true });
    writeFileSync(join(root, String(pid), "task", String(t.tid), "status"), statusText(pid, t));
  }
  mkdirSync(join(root, String(pid), "fd"), { recursive: true });
  for (const [fd, target] of Object.entries(fds)) symlinkSync(target, join(root, String(pid), "fd", fd));
}
