// Reclaims what a launcher that died (kill -9) could not: its run directory, staged runtime and
// the named network namespaces it created. The kernel already reclaimed memfds, sockets and bpf
// links with the process; tiles died with it (parent-death signal).
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { deleteNetns } from "./lab";
import { type Manifest, processStartTicks, RUN_ROOT, runtimeDirOf } from "./manifest";
import { removeStagedRuntime } from "./stage";

const readText = (p: string): string => readFileSync(p, "utf8");

/** A run directory without a manifest younger than this belongs to a launcher still starting. */
const UNFINISHED_GRACE_MS = 60_000;

export function readManifest(path: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Manifest;
  } catch {
    return undefined;
  }
}

/** True when the manifest's launcher is still the running process it names. */
export function launcherAlive(m: Manifest): boolean {
  const ticks = processStartTicks(m.launcherPid, readText);
  return ticks >= 0 && ticks === m.launcherStartTicks;
}

export interface StaleInstance {
  dir: string;
  manifest?: Manifest;
}

/** Instances under the run root whose launcher is gone (or that never finished writing a manifest). */
export function findStaleInstances(runRoot = RUN_ROOT): StaleInstance[] {
  if (!existsSync(runRoot)) return [];
  const out: StaleInstance[] = [];
  for (const name of readdirSync(runRoot)) {
    if (name.startsWith(".")) continue;
    const dir = join(runRoot, name);
    const manifest = readManifest(join(dir, "manifest.json"));
    if (!manifest) {
      // A launcher starting right now has made its directory but not yet its manifest; one
      // stopping right now has just removed it (gone is not stale).
      const st = statSync(dir, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > UNFINISHED_GRACE_MS) out.push({ dir });
      continue;
    }
    if (!launcherAlive(manifest)) out.push({ dir, manifest });
  }
  return out;
}

/** Removes one stale instance's leftovers; returns the problems met (empty = clean). */
export function reclaimInstance(stale: StaleInstance): string[] {
  const problems: string[] = [];
  const m = stale.manifest;
  if (m) {
    for (const t of m.tiles) {
      // A tile (or its PID namespace's waiter) outlives its launcher only if the parent-death
      // signal failed: make sure. The waiter's command line names the staged code too.
      for (const pid of [t.pid, t.waiterPid ?? 0]) {
        if (pid > 0 && m.runtimeDir && existsSync(`/proc/${pid}`)) {
          try {
            // Only a process running this instance's staged code is ours (pids get reused).
            const cmdline = readText(`/proc/${pid}/cmdline`);
            if (cmdline.includes(m.runtimeDir)) process.kill(pid, "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
      }
    }
    for (const ns of m.createdNetns) {
      try {
        deleteNetns(ns);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
  }
  // Derived from the directory name, so a launcher killed before its manifest is reclaimed too.
  const name = basename(stale.dir);
  try {
    removeStagedRuntime(runtimeDirOf(name, dirname(stale.dir)));
  } catch (e) {
    problems.push((e as Error).message);
  }
  // netbase on huge pages lives on the hugetlbfs mount: its pages go back to the pool only when
  // the file goes (the run directory held a symlink to it).
  rmSync(join(dirname(stale.dir), ".hugetlbfs", `${name}.netbase`), { force: true });
  rmSync(stale.dir, { recursive: true, force: true });
  return problems;
}

export function reclaimStale(runRoot = RUN_ROOT): { reclaimed: string[]; problems: string[] } {
  const reclaimed: string[] = [];
  const problems: string[] = [];
  for (const s of findStaleInstances(runRoot)) {
    problems.push(...reclaimInstance(s));
    reclaimed.push(s.dir);
  }
  return { reclaimed, problems };
}
