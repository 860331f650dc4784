// The bootstrap message: everything a tile learns from the launcher, sent once over the pipe at
// fd 3 (msgpackr) before the tile touches any region or input. Fds named here are the only ones
// the tile holds besides stdio.
import { readSync } from "node:fs";
import { Packr } from "msgpackr";

export const BOOTSTRAP_FD = 3;
export const BOOTSTRAP_VERSION = 1;

export interface RegionHandle {
  /** Descriptor number in the tile. */
  fd: number;
  size: number;
  /** Mapped read-write (the tile is this region's only writer) or read-only. */
  writable: boolean;
  /** Read-write for several tiles (a doorbell): not sealed after mapping. */
  shared?: boolean;
}

export interface Bootstrap<Config = unknown> {
  version: number;
  instance: string;
  tileName: string;
  tileKind: string;
  logLevel: string;
  /** Regions by role name, e.g. "metrics", "netbase", "solicit.producer". */
  regions: Record<string, RegionHandle>;
  /** Other descriptors (sockets) by role name. */
  fds: Record<string, number>;
  /** Tile-specific settings, validated by the launcher. */
  config: Config;
  sandbox: { landlock: boolean };
  /** The tile's pid as the host sees it (in its own PID namespace process.pid is 1). */
  hostPid?: number;
  /** The launcher may restart this tile (apps): its writable regions are not sealed, so the next
   *  process of the same tile can map them read-write again. Other tiles map them through
   *  read-only descriptors, which can never be mapped writable anyway. */
  restartable?: boolean;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeBootstrap(b: Bootstrap): Buffer {
  return packr.pack(b);
}

export function decodeBootstrap(bytes: Uint8Array): Bootstrap {
  const b = packr.unpack(bytes) as Bootstrap;
  if (typeof b !== "object" || b === null || b.version !== BOOTSTRAP_VERSION)
    throw new Error(`bootstrap: unsupported message (version ${String((b as { version?: unknown })?.version)})`);
  return b;
}

/** Reads the whole bootstrap pipe (until the launcher closes it) synchronously. */
export function readBootstrap(fd = BOOTSTRAP_FD): Bootstrap {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue;
      throw new Error(`bootstrap: reading fd ${fd}: ${(e as Error).message}`);
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return decodeBootstrap(Buffer.concat(chunks));
}
