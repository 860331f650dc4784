// What `configure init` changed, per interface, so that `fini` undoes exactly that: each record
// holds the value found before init and the value init wrote. Kept under /run/tilenet/.configure
// (tmpfs: a reboot forgets the changes and the records together).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Value } from "./stage";

export const STATE_DIR = "/run/tilenet/.configure";

export interface ChangeRecord {
  stage: string;
  key: string;
  before: Value;
  after: Value;
}

export interface ConfigureState {
  interface: string;
  netns?: string;
  changes: ChangeRecord[];
}

/** One file per (namespace, interface): "<netns base name or host>.<interface>.json". */
export function statePath(ifname: string, netns: string | undefined, dir = STATE_DIR): string {
  const ns = netns === undefined ? "host" : netns.replace(/[^A-Za-z0-9_.-]/g, "_");
  return join(dir, `${ns}.${ifname}.json`);
}

export function loadState(path: string, ifname: string, netns: string | undefined): ConfigureState {
  if (!existsSync(path)) return { interface: ifname, netns, changes: [] };
  const parsed = JSON.parse(readFileSync(path, "utf8")) as ConfigureState;
  if (!Array.isArray(parsed.changes)) throw new Error(`${path}: no "changes" array: not a configure state file`);
  return parsed;
}

/** Writes the state (atomically: a crash leaves the old file or the new one), or removes it when empty. */
export function saveState(path: string, state: ConfigureState): void {
  if (state.changes.length === 0) {
    rmSync(path, { force: true });
    return;
  }
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Records a change unless the key is already recorded: the first `before` is the original. */
export function recordChange(state: ConfigureState, change: ChangeRecord): void {
  const known = state.changes.find((c) => c.stage === change.stage && c.key === change.key);
  if (known) known.after = change.after;
  else state.changes.push(change);
}
