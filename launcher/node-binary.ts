// The Node binary tiles run: an execute-only copy of the launcher's own (process.execPath). The
// kernel makes an exec'd image non-dumpable when the executing uid may not read the file
// (fs/exec.c would_dump -> BINPRM_FLAGS_ENFORCE_NONDUMP), so a tile is non-dumpable from its
// first instruction: only root may ptrace it or open its /proc/PID/mem. Unlike a real gid unlike
// the effective one (tilenet-exec --real-gid), this exec is not "secure", so the parent-death
// signal survives it.
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, lstatSync, mkdirSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

export const NODE_CACHE_DIR = "/var/cache/tilenet";
const EXECUTE_ONLY = 0o111;

/** Names one build of the binary without reading its ~100 MB (hashing it costs about a second per
 *  start): its path, inode, size and times. A binary replaced in place gets a new id. */
export function nodeBinaryId(source: string): string {
  const st = statSync(source, { bigint: true });
  const key = [realpathSync(source), st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(":");
  return createHash("sha256").update(key).digest("hex").slice(0, 16);
}

/** The cached copy is usable when only root could have written it and it is still execute-only. */
function usableCopy(path: string, size: bigint): boolean {
  try {
    const st = lstatSync(path, { bigint: true });
    return st.isFile() && st.uid === 0n && (st.mode & 0o7777n) === BigInt(EXECUTE_ONLY) && st.size === size;
  } catch {
    return false;
  }
}

/** Path of the execute-only copy of `source` (made on first use: written beside, then renamed,
 *  so a concurrent launcher never execs half a file). The directory is root's, mode 0711: tiles
 *  may exec the file by name but not list the directory. */
export function executeOnlyNode(source = process.execPath, cacheDir = NODE_CACHE_DIR): string {
  const target = join(cacheDir, `node-${nodeBinaryId(source)}`);
  const size = statSync(source, { bigint: true }).size;
  if (usableCopy(target, size)) return target;
  mkdirSync(cacheDir, { recursive: true, mode: 0o711 });
  const dir = lstatSync(cacheDir);
  if (!dir.isDirectory() || dir.uid !== 0) throw new Error(`${cacheDir} is not a directory owned by root`);
  chmodSync(cacheDir, 0o711);
  const temp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    copyFileSync(source, temp);
    chmodSync(temp, EXECUTE_ONLY);
    renameSync(temp, target);
  } finally {
    rmSync(temp, { force: true });
  }
  if (!usableCopy(target, size)) throw new Error(`${target}: not an execute-only copy of ${source}`);
  return target;
}
