// Shared-memory regions of one instance: memfds created and held by the launcher. A region's
// writer receives the read-write descriptor; every other process gets a read-only descriptor
// (re-opened O_RDONLY), so it can only map the region read-only: the kernel enforces who writes.
//
// A published region (netbase: any process on the host may read it, issue 12.4) is a file instead
// of a memfd, `<runDir>/netbase`, owned by root with mode 0600, or 0640 and the configured readers
// group ([netbase] readers_group): whoever the file mode lets open it O_RDONLY can map it, read-only,
// with no descriptor passing. Tiles still receive descriptors from the launcher and open no path.
// What a file loses against a sealed memfd: seals (F_SEAL_GROW/SHRINK/FUTURE_WRITE exist for memfds
// only). What stands in for them: only root may open it writable or truncate it by path; readers'
// O_RDONLY descriptors cannot map it writable; the writer tile's read-write descriptor could
// ftruncate it, which its seccomp filter does not allow (no ftruncate in the netlink policy). The
// file is created O_EXCL|O_NOFOLLOW in the root-owned run directory, so nobody can plant it first,
// and it goes with that directory. The run directory should be on tmpfs (/run usually is): on a
// disk file the writer's churn would also reach the disk through writeback.

import {
  closeSync,
  fchmodSync,
  fchownSync,
  constants as fsConstants,
  ftruncateSync,
  openSync,
  readFileSync,
} from "node:fs";
import { native } from "../shared/native";
import { ConfigError } from "./config";
import type { RegionEntry, RegionKind } from "./manifest";

export interface Region {
  name: string;
  kind: RegionKind;
  fd: number;
  size: number;
  /** The launcher's own read-write mapping (used to initialise headers). */
  buf: ArrayBuffer;
}

/** A region published as a file that readers open by path. */
export interface PublishedFile {
  path: string;
  /** Group allowed to read (mode 0640); undefined = root only (0600). */
  readersGid?: number;
}

export class RegionSet {
  private readonly regions = new Map<string, Region>();
  private readonly readOnly = new Map<string, number>();

  /** `published`: regions (by name) backed by a file readers open by path instead of a memfd. */
  constructor(
    private readonly instance: string,
    private readonly published: ReadonlyMap<string, PublishedFile> = new Map(),
  ) {}

  create(name: string, kind: RegionKind, size: number): Region {
    if (this.regions.has(name)) throw new Error(`region ${name} created twice`);
    const addon = native();
    const file = this.published.get(name);
    const fd = file ? createPublishedFile(file, size) : addon.memfdCreate(`tilenet:${this.instance}:${name}`, size);
    const region: Region = { name, kind, fd, size, buf: addon.mapFd(fd, size, true) };
    this.regions.set(name, region);
    return region;
  }

  get(name: string): Region {
    const r = this.regions.get(name);
    if (!r) throw new Error(`no region named ${name}`);
    return r;
  }

  /** A descriptor that can only be mapped read-only. */
  readOnlyFd(name: string): number {
    let fd = this.readOnly.get(name);
    if (fd === undefined) {
      fd = native().openPath(`/proc/self/fd/${this.get(name).fd}`, false);
      this.readOnly.set(name, fd);
    }
    return fd;
  }

  entries(): RegionEntry[] {
    return [...this.regions.values()].map((r) => ({ name: r.name, kind: r.kind, launcherFd: r.fd, size: r.size }));
  }

  closeAll(): void {
    const addon = native();
    for (const fd of this.readOnly.values()) addon.closeFd(fd);
    for (const r of this.regions.values()) addon.closeFd(r.fd);
    this.readOnly.clear();
    this.regions.clear();
  }
}

/** The file behind a published region: fresh (O_EXCL, no symlink followed), sized, then opened to
 *  its readers only once its mode and group are final. */
function createPublishedFile(file: PublishedFile, size: number): number {
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fsConstants;
  const fd = openSync(file.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    ftruncateSync(fd, size);
    if (file.readersGid !== undefined) {
      fchownSync(fd, 0, file.readersGid);
      fchmodSync(fd, 0o640);
    }
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The gid of `group` from /etc/group (the config names groups; the kernel wants numbers). */
export function groupIdOf(group: string, groupFile = "/etc/group"): number {
  for (const line of readFileSync(groupFile, "utf8").split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ConfigError("netbase.readers_group", `a group in ${groupFile}`, group);
}
