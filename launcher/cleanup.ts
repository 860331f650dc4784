// Reclaims what a launcher that died (kill -9) could not: its run directory, staged runtime and
// the named network namespaces it created. The kernel already reclaimed memfds, sockets and bpf
// links with the process; tiles died with it (parent-death signal).
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { deleteNetns } from "./lab";
import { type Manifest, processStartTicks, RUN_ROOT, runDirOf, runtimeDirOf } from "./manifest";
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
  const name = basename(stale.dir);
  const runRoot = dirname(stale.dir);
  const problems: string[] = [];
  let record: TeardownRecord | undefined;
  try {
    record = readTeardownRecordIfAny(teardownRecordPath(name, runRoot));
  } catch (e) {
    problems.push((e as Error).message);
  }
  // A launcher that dropped its privileges wrote its manifest unprivileged: the record, written
  // as root before the drop, names the namespaces it created; the manifest only the pids to kill.
  const m = stale.manifest && record ? { ...stale.manifest, createdNetns: record.createdNetns } : stale.manifest;
  if (m) {
    for (const t of m.tiles) {
      // A tile (or its PID namespace's waiter) outlives its launcher only if the parent-death
      // signal failed: make sure. The waiter's command line names the staged code too.
      for (const pid of [t.pid, t.waiterPid ?? 0]) {
        if (pid > 0 && existsSync(`/proc/${pid}`)) {
          try {
            // Only a process running this instance's staged code is ours (pids get reused).
            const cmdline = readText(`/proc/${pid}/cmdline`);
            if (cmdline.includes(runtimeDirOf(name, runRoot))) process.kill(pid, "SIGKILL");
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
  problems.push(...removeInstanceFiles(name, runRoot, record?.idLocks ?? []));
  return problems;
}

/** The files of an instance, derived from its name (so a launcher killed before its manifest is
 *  reclaimed too): staged runtime, netbase on huge pages, id locks, run directory, record. */
function removeInstanceFiles(name: string, runRoot: string, idLocks: readonly number[]): string[] {
  const problems: string[] = [];
  try {
    removeStagedRuntime(runtimeDirOf(name, runRoot));
  } catch (e) {
    problems.push((e as Error).message);
  }
  // netbase on huge pages lives on the hugetlbfs mount: its pages go back to the pool only when
  // the file goes (the run directory held a symlink to it).
  rmSync(join(runRoot, ".hugetlbfs", `${name}.netbase`), { force: true });
  for (const uid of idLocks) rmSync(join(runRoot, ".ids", String(uid)), { force: true });
  const runDir = runDirOf(name, runRoot);
  // After a privilege drop the run directory belongs to the launcher's uid: taken back first, so
  // nothing can change under the recursive removal (its parent is root's, the name cannot move).
  const st = lstatSync(runDir, { throwIfNoEntry: false });
  if (st?.isDirectory() && st.uid !== 0) {
    chownSync(runDir, 0, 0);
    chmodSync(runDir, 0o700);
  }
  rmSync(runDir, { recursive: true, force: true });
  rmSync(teardownRecordPath(name, runRoot), { force: true });
  return problems;
}

// ---- the teardown record: what a launcher that drops its privileges leaves for its keeper ----

/** Written as root before the launcher drops its privileges; the keeper's teardown (`tilenet
 *  cleanup --record FILE`) and the reclaim of a dead instance trust it, never the manifest the
 *  unprivileged launcher keeps writing. */
export interface TeardownRecord {
  version: 1;
  instance: string;
  /** Named network namespaces the instance created (the lab's). */
  createdNetns: string[];
  /** Tile and launcher ids whose locks (<runRoot>/.ids/<uid>) the instance holds. */
  idLocks: number[];
}

const TEARDOWN_DIR = ".teardown";

export function teardownRecordPath(instance: string, runRoot = RUN_ROOT): string {
  return join(runRoot, TEARDOWN_DIR, `${instance}.json`);
}

export function writeTeardownRecord(record: TeardownRecord, runRoot = RUN_ROOT): string {
  const dir = join(runRoot, TEARDOWN_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = teardownRecordPath(record.instance, runRoot);
  writeFileSync(`${path}.new`, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  renameSync(`${path}.new`, path);
  return path;
}

const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The record at path, checked: root's file in root's directory, writable by root alone, and
 *  namespaces named after its instance. undefined when there is none; an Error when it is wrong. */
export function readTeardownRecordIfAny(path: string): TeardownRecord | undefined {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return undefined;
  const dir = lstatSync(dirname(path));
  for (const [what, s] of [
    ["record", st],
    ["its directory", dir],
  ] as const) {
    if (s.uid !== 0 || (s.mode & 0o022) !== 0 || s.isSymbolicLink())
      throw new Error(
        `teardown record ${path}: ${what} is not root's alone (uid ${s.uid}, mode ${(s.mode & 0o777).toString(8)})`,
      );
  }
  const r = JSON.parse(readFileSync(path, "utf8")) as TeardownRecord;
  const ok =
    r.version === 1 &&
    typeof r.instance === "string" &&
    INSTANCE_NAME.test(r.instance) &&
    `${r.instance}.json` === basename(path) &&
    Array.isArray(r.createdNetns) &&
    r.createdNetns.every((n) => typeof n === "string" && n.startsWith(`tn-${r.instance}-`) && INSTANCE_NAME.test(n)) &&
    Array.isArray(r.idLocks) &&
    r.idLocks.every((u) => Number.isInteger(u) && u > 0);
  if (!ok) throw new Error(`teardown record ${path}: not a valid record`);
  return r;
}

/** The keeper's teardown of one instance (its launcher may still be alive, unprivileged, waiting
 *  for this): namespaces, staged runtime, id locks, run directory, the record itself. */
export function tearDownFromRecord(path: string): string[] {
  const record = readTeardownRecordIfAny(path);
  if (!record) return [];
  const problems: string[] = [];
  for (const ns of record.createdNetns) {
    try {
      deleteNetns(ns);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  problems.push(...removeInstanceFiles(record.instance, dirname(dirname(path)), record.idLocks));
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
