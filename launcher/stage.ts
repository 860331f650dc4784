// Stages the code tiles run into a root-owned, world-readable, read-only directory under the
// run root. Tiles run as an unprivileged uid that cannot read a checkout under /root (mode 0700);
// rather than loosening the checkout or the sandbox, each instance gets its own copy of exactly
// the bundles it executes plus the addon, which no tile can modify.
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { addonPath } from "../shared/native";

/** dist/ of this build: the CLI bundle lives in it; from TS sources it is ../dist. */
export function distDir(): string {
  if (existsSync(join(__dirname, "tiles"))) return __dirname;
  const fromSource = join(__dirname, "..", "dist");
  if (existsSync(join(fromSource, "tiles"))) return fromSource;
  throw new Error("tile bundles not found: run `npm run build`");
}

/** Where a tile kind's bundle is staged in `dir`. */
export function stagedBundlePath(dir: string, kind: string): string {
  return join(dir, `${kind}.js`);
}

/** Where an app's module is staged in `dir`. */
export function stagedAppModulePath(dir: string, appName: string, source: string): string {
  return join(dir, "apps", `${appName}-${basename(source)}`);
}

export interface StagedRuntime {
  dir: string;
  /** Absolute path of a tile kind's bundle in the staged directory. */
  tileBundle(kind: string): string;
  /** Copies an app module into the staged directory and returns its path there. */
  stageAppModule(appName: string, source: string): string;
}

export function stageRuntime(dir: string, tileKinds: string[]): StagedRuntime {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const dist = distDir();
  const copy = (from: string, to: string): void => {
    copyFileSync(from, to);
    chmodSync(to, 0o444);
  };
  copy(addonPath(), join(dir, "tilenet.node"));
  for (const kind of new Set(tileKinds)) {
    const bundle = join(dist, "tiles", `${kind}.js`);
    if (!existsSync(bundle)) throw new Error(`no bundle for tile kind "${kind}" (${bundle}): run \`npm run build\``);
    copy(bundle, stagedBundlePath(dir, kind));
  }
  mkdirSync(join(dir, "apps"), { mode: 0o755 });
  chmodSync(join(dir, "apps"), 0o755);
  return {
    dir,
    tileBundle: (kind) => stagedBundlePath(dir, kind),
    stageAppModule: (appName, source) => {
      if (!existsSync(source)) throw new Error(`app ${appName}: module ${source} not found`);
      const target = stagedAppModulePath(dir, appName, source);
      copy(source, target);
      return target;
    },
  };
}

export function removeStagedRuntime(dir: string): void {
  if (dirname(dir) === "/" || dir.length < 8) throw new Error(`refusing to remove ${dir}`);
  rmSync(dir, { recursive: true, force: true });
}
