// Stages the code tiles run into a root-owned, world-readable, read-only directory under the
// run root. Tiles run as an unprivileged uid that cannot read a checkout under /root (mode 0700);
// rather than loosening the checkout or the sandbox, each instance gets its own copy of exactly
// the bundles it executes plus the addon, which no tile can modify.
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
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
      const target = stagedAppModulePath(dir, appName, source);
      writeFileSync(target, readAppModuleSource(appName, source), { mode: 0o444, flag: "wx" });
      chmodSync(target, 0o444);
      return target;
    },
  };
}

/** Largest app module staged (the tile reads at most this much, see tiles/app/loader.ts). */
export const MAX_APP_MODULE_BYTES = 8 << 20;

/**
 * An app module's bytes, read as root with care: opened without following a symlink and without
 * blocking (a FIFO or a device would hang or stream forever), then it must be a regular file, at
 * most MAX_APP_MODULE_BYTES, and readable by everyone already: the copy is handed to an
 * unprivileged tile, so a file only root may read (module = "/etc/shadow") is refused rather than
 * disclosed.
 */
export function readAppModuleSource(appName: string, source: string): Buffer {
  const what = `app ${appName}: module ${source}`;
  let fd: number;
  try {
    fd = openSync(source, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error(`${what} not found`);
    if (code === "ELOOP") throw new Error(`${what} is a symbolic link; name the file itself`);
    throw new Error(`${what} cannot be opened: ${code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${what} is not a regular file (${fileKind(st)})`);
    if (st.size > MAX_APP_MODULE_BYTES)
      throw new Error(`${what} is ${st.size} bytes, more than ${MAX_APP_MODULE_BYTES} (one bundled CommonJS file)`);
    if ((st.mode & 0o004) === 0)
      throw new Error(
        `${what} is not readable by everyone (mode ${(st.mode & 0o777).toString(8)}); an app module is handed to an unprivileged tile, so it must be a file anyone may read`,
      );
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function fileKind(st: ReturnType<typeof fstatSync>): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a file";
}

export function removeStagedRuntime(dir: string): void {
  if (dirname(dir) === "/" || dir.length < 8) throw new Error(`refusing to remove ${dir}`);
  rmSync(dir, { recursive: true, force: true });
}
