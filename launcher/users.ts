// Tile ids, allocated like systemd's DynamicUser: every tile of every instance gets its own uid
// (and the same number as its gid) from a range no account uses, so no tile can signal, trace or
// read another one's /proc, and a process left by one instance owns nothing of the next. An id is
// held by a lock file `<runRoot>/.ids/<uid>` created with O_EXCL (two launchers never collide),
// released at stop, and reclaimed when the launcher that holds it is gone.
// Each tile also gets uid+1 as its *real* gid (effective gid = uid): a process whose real and
// effective gids differ at execve is made non-dumpable by the kernel (suid_dumpable), so the tile
// cannot be ptrace-attached or have its memory read from its very first instruction, before Node
// runs a line. The real gid grants nothing: file access uses the effective gid.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processStartTicks } from "./manifest";

export interface IdRange {
  first: number;
  count: number;
}

/** Default range: 2^31 - 2^24 upwards, far above login accounts, systemd's dynamic users
 *  (61184-65519) and the usual /etc/subuid ranges (100000 + 65536 n). */
export const DEFAULT_ID_RANGE: IdRange = { first: 2_130_706_432, count: 65_536 };

export interface TileIds {
  uid: number;
  gid: number;
  /** The real gid (uid + 1): makes the tile non-dumpable at exec, see above. */
  realGid: number;
}

interface Holder {
  instance: string;
  tile: string;
  launcherPid: number;
  launcherStartTicks: number;
}

const readText = (p: string): string => readFileSync(p, "utf8");

/** Ids named in the account databases and sub-id ranges: never allocated. */
function idsInUse(): (id: number) => boolean {
  const exact = new Set<number>();
  const ranges: [number, number][] = [];
  for (const file of ["/etc/passwd", "/etc/group"]) {
    try {
      for (const line of readText(file).split("\n")) {
        const f = line.split(":");
        if (f[2] !== undefined && /^\d+$/.test(f[2])) exact.add(Number(f[2]));
        if (file === "/etc/passwd" && f[3] !== undefined && /^\d+$/.test(f[3])) exact.add(Number(f[3]));
      }
    } catch {
      // no such database: nothing to avoid from it
    }
  }
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    try {
      for (const line of readText(file).split("\n")) {
        const [, start, count] = line.split(":");
        if (start && count) ranges.push([Number(start), Number(start) + Number(count)]);
      }
    } catch {
      // none
    }
  }
  return (id) => exact.has(id) || ranges.some(([a, b]) => id >= a && id < b);
}

function holderAlive(h: Holder): boolean {
  const ticks = processStartTicks(h.launcherPid, readText);
  return ticks >= 0 && ticks === h.launcherStartTicks;
}

export class TileIdAllocator {
  private readonly dir: string;
  private readonly held: string[] = [];

  constructor(
    runRoot: string,
    private readonly range: IdRange,
    private readonly owner: { instance: string; launcherPid: number; launcherStartTicks: number },
  ) {
    if (range.first < 1 || range.count < 2 || range.first + range.count > 0xfffffffe)
      throw new Error(`tile id range ${range.first}+${range.count} is not within 1..4294967294`);
    this.dir = join(runRoot, ".ids");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** A pair of ids (uid = gid, uid + 1 as real gid) nobody else holds. */
  allocate(tile: string): TileIds {
    const used = idsInUse();
    for (let uid = this.range.first; uid + 1 < this.range.first + this.range.count; uid += 2) {
      if (uid === 0 || used(uid) || used(uid + 1)) continue;
      const path = join(this.dir, String(uid));
      const holder: Holder = { ...this.owner, tile };
      if (!this.tryClaim(path, holder)) continue;
      this.held.push(path);
      return { uid, gid: uid, realGid: uid + 1 };
    }
    throw new Error(`no free tile id in ${this.range.first}..${this.range.first + this.range.count - 1}`);
  }

  private tryClaim(path: string, holder: Holder): boolean {
    try {
      writeFileSync(path, JSON.stringify(holder), { flag: "wx", mode: 0o600 });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let current: Holder | undefined;
    try {
      current = JSON.parse(readText(path)) as Holder;
    } catch {
      return false; // being written by another launcher right now
    }
    if (holderAlive(current)) return false;
    rmSync(path, { force: true }); // its launcher is gone: reclaim
    try {
      writeFileSync(path, JSON.stringify(holder), { flag: "wx", mode: 0o600 });
      return true;
    } catch {
      return false;
    }
  }

  releaseAll(): void {
    for (const p of this.held.splice(0)) rmSync(p, { force: true });
  }
}

/** Removes id locks whose launcher is gone (cleanup); returns how many. */
export function reclaimStaleIds(runRoot: string): number {
  const dir = join(runRoot, ".ids");
  let n = 0;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      const h = JSON.parse(readText(join(dir, name))) as Holder;
      if (holderAlive(h)) continue;
    } catch {
      // unreadable: a half-written file of a crashed launcher is stale too
    }
    rmSync(join(dir, name), { force: true });
    n++;
  }
  return n;
}
