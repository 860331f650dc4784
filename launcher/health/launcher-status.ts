// The launcher's own sandbox in `status`, judged like a tile's: once every tile runs it must have
// dropped to a uid of its own with no capability, no_new_privs and a seccomp filter on every
// thread. One difference: its bounding set is not emptied (that is per thread, and Node's threads
// already run); it is inert because the filter kills execve, the only way a bounding set grants.
import type { LauncherSandbox } from "../launcher-sandbox";
import type { Manifest } from "../manifest";
import {
  type ProcessSandboxFacts,
  readProcessSandbox,
  type SandboxSummary,
  sandboxProblems,
  summarizeSandbox,
} from "./procfs";

export interface LauncherStatus {
  pid: number;
  /** The root helper that starts tiles and tears down (launcher/keeper.ts); null before it runs. */
  keeperPid: number | null;
  /** What it dropped to, from its manifest; null while it still sets up (privileged). */
  dropped: LauncherSandbox | null;
  /** /proc facts, as for a tile; null when it is gone or unreadable. */
  sandbox: SandboxSummary | null;
  sandboxed: boolean;
  /** Empty when healthy. */
  problems: string[];
}

export function collectLauncherStatus(manifest: Manifest, procRoot = "/proc"): LauncherStatus {
  // While it sets up it is root on purpose: it is judged once every tile runs (readyAt).
  const judged = manifest.readyAt !== undefined;
  const problems: string[] = [];
  let facts: ProcessSandboxFacts | undefined;
  try {
    facts = readProcessSandbox(manifest.launcherPid, procRoot);
  } catch (err) {
    if (judged) problems.push(`sandbox facts unavailable: ${(err as Error).message}`);
  }
  const dropped = manifest.launcherSandbox ?? null;
  let sandboxed = false;
  if (facts) {
    const why = sandboxProblems(facts, "0", ["CapBnd"]);
    sandboxed = why.length === 0;
    if (judged) for (const p of why) problems.push(`not sandboxed: ${p}`);
  }
  if (judged && !dropped) problems.push("still privileged after set-up");
  return {
    pid: manifest.launcherPid,
    keeperPid: manifest.keeperPid ?? null,
    dropped,
    sandbox: facts ? summarizeSandbox(facts) : null,
    sandboxed,
    problems,
  };
}
