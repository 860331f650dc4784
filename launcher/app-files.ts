// Reads the read-only data files an app names in its config (`[[app]] files = { zone = "/path" }`)
// before any tile starts. The app gets their bytes in its bootstrap message (app.files.zone), never
// a path: the tile cannot open files. Read with the care the launcher (root) owes to a path an
// operator typed: the final component must not be a symlink (O_NOFOLLOW), the open must not block
// on a FIFO (O_NONBLOCK), the descriptor must be a regular file, and the size is bounded.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { ConfigError } from "./config";

/** Per file, and for all of one app's files together. */
export const APP_FILE_MAX_BYTES = 16 << 20;
export const APP_FILES_TOTAL_MAX_BYTES = 64 << 20;

/** Reads every file of one app; `keyPrefix` (e.g. "app[0].files") names the config key in errors. */
export function readAppFiles(files: Record<string, string>, keyPrefix: string): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  let total = 0;
  for (const [name, path] of Object.entries(files)) {
    out[name] = readAppFile(path, `${keyPrefix}.${name}`);
    total += out[name].length;
    if (total > APP_FILES_TOTAL_MAX_BYTES)
      throw new ConfigError(keyPrefix, `files of at most ${APP_FILES_TOTAL_MAX_BYTES} bytes together`, total);
  }
  return out;
}

export function readAppFile(path: string, key: string): Uint8Array {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ELOOP" ? "a symbolic link (name the file itself)" : code;
    throw new ConfigError(key, `a readable regular file at ${path}`, why);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(key, `a regular file at ${path}`, kindOf(st));
    if (st.size > APP_FILE_MAX_BYTES)
      throw new ConfigError(key, `a file of at most ${APP_FILE_MAX_BYTES} bytes at ${path}`, `${st.size} bytes`);
    // One byte more than announced: a file growing while read is refused, not cut short.
    const bytes = new Uint8Array(st.size + 1);
    let got = 0;
    for (let n = 1; n > 0 && got < bytes.length; got += n) n = readSync(fd, bytes, got, bytes.length - got, got);
    if (got !== st.size) throw new ConfigError(key, `a file that does not change while read (${path})`);
    return bytes.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function kindOf(st: ReturnType<typeof fstatSync>): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isDirectory()) return "a directory";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}
