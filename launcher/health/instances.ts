// Finding running instances and their manifests under the run root, and reaching a tile's
// metrics region read-only through the launcher's descriptor table.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MetricsReader } from "../../shared/metrics/reader";
import { native } from "../../shared/native";
import { asPermissionError, NotRunningError, PermissionError, UsageError } from "../errors";
import { MANIFEST_VERSION, type Manifest, type RegionEntry, RUN_ROOT } from "../manifest";

const INSTANCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** True while pid exists (a zombie counts: see the status report for that case). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function expect(cond: boolean, path: string, what: string): void {
  if (!cond) throw new Error(`${path}: invalid manifest: ${what}`);
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const isStr = (v: unknown): v is string => typeof v === "string";

/** Parses and checks a manifest (the fields status and monitor rely on). */
export function parseManifest(text: string, path: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: manifest is not JSON: ${(err as Error).message}`);
  }
  expect(typeof raw === "object" && raw !== null && !Array.isArray(raw), path, "not an object");
  const m = raw as Record<string, unknown>;
  expect(m.version === MANIFEST_VERSION, path, `version ${String(m.version)}, expected ${MANIFEST_VERSION}`);
  expect(isStr(m.instance) && INSTANCE_NAME.test(m.instance), path, "instance name");
  expect(isInt(m.launcherPid) && m.launcherPid > 0, path, "launcherPid");
  expect(Array.isArray(m.regions), path, "regions is not a list");
  expect(Array.isArray(m.tiles), path, "tiles is not a list");
  for (const r of m.regions as unknown[]) {
    const e = r as Record<string, unknown>;
    expect(typeof r === "object" && r !== null, path, "a region is not an object");
    expect(isStr(e.name) && isStr(e.kind) && isInt(e.launcherFd) && e.launcherFd >= 0, path, "region fields");
  }
  for (const t of m.tiles as unknown[]) {
    const e = t as Record<string, unknown>;
    expect(typeof t === "object" && t !== null, path, "a tile is not an object");
    expect(isStr(e.name) && isStr(e.kind) && isInt(e.pid) && isStr(e.metricsRegion), path, "tile fields");
  }
  return m as unknown as Manifest;
}

function readManifestAt(dir: string): Manifest {
  const path = join(dir, "manifest.json");
  return parseManifest(readFileSync(path, "utf8"), path);
}

export interface InstanceScan {
  /** Instances whose launcher is alive, sorted by name. */
  running: Manifest[];
  /** Directories whose manifest we may not read (they are root's, mode 0700). */
  forbidden: string[];
}

/** Directories under runRoot holding a valid manifest whose launcher is alive; those we may not
 *  read are listed apart; stale or broken ones are skipped. */
export function scanInstances(runRoot: string = RUN_ROOT): InstanceScan {
  const scan: InstanceScan = { running: [], forbidden: [] };
  if (!existsSync(runRoot)) return scan;
  let names: string[];
  try {
    names = readdirSync(runRoot).sort();
  } catch (e) {
    throw asPermissionError(e, `reading ${runRoot}`) ?? e;
  }
  for (const name of names) {
    if (!INSTANCE_NAME.test(name)) continue;
    let manifest: Manifest;
    try {
      manifest = readManifestAt(join(runRoot, name));
    } catch (e) {
      if (asPermissionError(e, name)) scan.forbidden.push(name);
      continue;
    }
    if (isPidAlive(manifest.launcherPid)) scan.running.push(manifest);
  }
  return scan;
}

/** Running instances (see scanInstances); a caller who may read none of them gets a PermissionError. */
export function listInstances(runRoot: string = RUN_ROOT): Manifest[] {
  const scan = scanInstances(runRoot);
  if (scan.running.length === 0 && scan.forbidden.length > 0) throw forbidden(runRoot, scan.forbidden);
  return scan.running;
}

function forbidden(runRoot: string, names: string[]): PermissionError {
  return new PermissionError(
    `the manifests under ${runRoot} (${names.join(", ")}) are readable by root only: run as root`,
  );
}

/** The manifest of the named instance, or of the only running one. Clear errors otherwise. */
export function loadManifest(instance?: string, runRoot: string = RUN_ROOT): Manifest {
  const running = () => {
    const names = listInstances(runRoot).map((m) => m.instance);
    return names.length === 0 ? "none is running" : `running: ${names.join(", ")}`;
  };
  if (instance === undefined) {
    const all = listInstances(runRoot);
    if (all.length === 1) return all[0];
    if (all.length === 0) throw new NotRunningError(`no running tilenet instance under ${runRoot}`);
    throw new UsageError(
      `${all.length} tilenet instances are running under ${runRoot} (${all.map((m) => m.instance).join(", ")}): name one`,
    );
  }
  if (!INSTANCE_NAME.test(instance)) throw new UsageError(`invalid instance name ${JSON.stringify(instance)}`);
  const dir = join(runRoot, instance);
  let manifest: Manifest;
  try {
    manifest = readManifestAt(dir);
  } catch (e) {
    const denied = asPermissionError(e, `reading the manifest of "${instance}"`);
    if (denied) throw denied;
    if ((e as NodeJS.ErrnoException).code === "ENOENT")
      throw new NotRunningError(`no tilenet instance "${instance}" under ${runRoot} (${running()})`);
    throw e;
  }
  if (!isPidAlive(manifest.launcherPid)) {
    throw new NotRunningError(
      `tilenet instance "${instance}" is not running: its launcher (pid ${manifest.launcherPid}) has exited; ` +
        `${dir} is left over (${running()})`,
    );
  }
  return manifest;
}

/** Path through which a region is reached read-only. */
export function regionPath(manifest: Manifest, region: RegionEntry): string {
  return `/proc/${manifest.launcherPid}/fd/${region.launcherFd}`;
}

/** Maps a tile's metrics region read-only (open O_RDONLY through the launcher's fd, PROT_READ
 *  mapping) and validates it. The descriptor is closed at once; the mapping stays. */
export function openMetricsReader(manifest: Manifest, regionName: string): MetricsReader {
  const region = manifest.regions.find((r) => r.name === regionName);
  if (!region) throw new Error(`manifest of ${manifest.instance} has no region named ${regionName}`);
  if (region.kind !== "metrics") throw new Error(`region ${regionName} is a ${region.kind} region, not metrics`);
  const path = regionPath(manifest, region);
  const addon = native();
  let fd: number;
  try {
    fd = addon.openPath(path, false);
  } catch (e) {
    throw asPermissionError(e, `opening ${path}`) ?? e;
  }
  let buf: ArrayBuffer;
  try {
    buf = addon.mapFd(fd, 0, false);
  } finally {
    addon.closeFd(fd);
  }
  return new MetricsReader(buf, `metrics region ${regionName} (${path})`);
}
