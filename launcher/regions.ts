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
  rmSync,
  symlinkSync,
} from "node:fs";
import { native } from "../shared/native";
import { ConfigError } from "./config";
import {
  createHugetlbfsFile,
  freeHugePages,
  HUGE_PAGE_BYTES,
  HUGETLBFS_MOUNT,
  type HugePagesMode,
  type HugePagesReport,
  hugetlbfsMounted,
  roundUpToHugePage,
  wantsHugePages,
} from "./huge-pages";
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
  /** Files this set made on the hugetlbfs mount: removed with the regions (their pages go back). */
  private readonly hugetlbfsFiles: string[] = [];
  readonly hugePages: HugePagesReport;

  /** `published`: regions (by name) backed by a file readers open by path instead of a memfd.
   *  `hugePagesMode`: whether the large regions go on 2 MiB pages (launcher/huge-pages.ts). */
  constructor(
    private readonly instance: string,
    private readonly published: ReadonlyMap<string, PublishedFile> = new Map(),
    hugePagesMode: HugePagesMode = "off",
  ) {
    this.hugePages = { mode: hugePagesMode, pageBytes: HUGE_PAGE_BYTES, regions: [], fallbacks: [] };
  }

  create(name: string, kind: RegionKind, size: number): Region {
    if (this.regions.has(name)) throw new Error(`region ${name} created twice`);
    const huge =
      this.hugePages.mode !== "off" && wantsHugePages(kind, size) ? this.createHuge(name, kind, size) : undefined;
    if (huge) return huge;
    const addon = native();
    const file = this.published.get(name);
    const fd = file ? createPublishedFile(file, size) : addon.memfdCreate(`tilenet:${this.instance}:${name}`, size);
    const region: Region = { name, kind, fd, size, buf: addon.mapFd(fd, size, true) };
    this.regions.set(name, region);
    return region;
  }

  /** The region on 2 MiB pages (size rounded up), or undefined after a fallback ("auto"); "on"
   *  throws. The pool is reserved at mmap, so a short pool fails here, not later in a tile. */
  private createHuge(name: string, kind: RegionKind, size: number): Region | undefined {
    const addon = native();
    const hugeSize = roundUpToHugePage(size);
    const file = this.published.get(name);
    let fd = -1;
    let path: string | undefined;
    try {
      if (file) {
        if (!hugetlbfsMounted())
          throw new Error(`no hugetlbfs mounted at ${HUGETLBFS_MOUNT} (tilenet configure init hugetlbfs)`);
        ({ fd, path } = createHugetlbfsFile(this.instance, file.readersGid));
        this.hugetlbfsFiles.push(path);
        ftruncateSync(fd, hugeSize);
      } else fd = addon.memfdCreate(`tilenet:${this.instance}:${name}`, hugeSize, true);
      const buf = addon.mapFd(fd, hugeSize, true);
      // Readers keep opening <runDir>/netbase: a root-made symlink in the root-only run directory.
      if (file && path) symlinkSync(path, file.path);
      const region: Region = { name, kind, fd, size: hugeSize, buf };
      this.regions.set(name, region);
      this.hugePages.regions.push(name);
      return region;
    } catch (e) {
      if (fd >= 0) addon.closeFd(fd);
      return this.fellBack(name, hugeSize, (e as Error).message);
    }
  }

  /** A memfd on 2 MiB pages, already reserved (mapped once), for a region another part of the
   *  launcher owns (UMEM: setUpXdp closes it); undefined when off, not wanted or fallen back. */
  hugeMemfd(name: string, kind: RegionKind, size: number): number | undefined {
    if (this.hugePages.mode === "off" || !wantsHugePages(kind, size)) return undefined;
    // The UMEM's size is its frame geometry: it is not rounded, so it must be whole pages already.
    if (size % HUGE_PAGE_BYTES !== 0) return this.fellBack(name, size, "size is not a multiple of 2 MiB");
    const addon = native();
    let fd = -1;
    try {
      fd = addon.memfdCreate(`tilenet:${this.instance}:${name}`, size, true);
      addon.mapFd(fd, size, true); // hugetlb reserves a shared mapping's pages at mmap, for the file
      this.hugePages.regions.push(name);
      return fd;
    } catch (e) {
      if (fd >= 0) addon.closeFd(fd);
      return this.fellBack(name, size, (e as Error).message);
    }
  }

  /** "on": the error that stops the start; "auto": the fallback recorded for the log and status. */
  private fellBack(name: string, size: number, reason: string): undefined {
    const why = `${name} (${(size / 2 ** 20).toFixed(0)} MiB): ${reason}; ${freeHugePages()} huge pages free`;
    if (this.hugePages.mode === "on")
      throw new Error(
        `[memory] huge_pages = "on" but no huge pages for ${why} (reserve them: sysctl vm.nr_hugepages, or tilenet configure init hugetlbfs)`,
      );
    this.hugePages.fallbacks.push(why);
    return undefined;
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
    for (const path of this.hugetlbfsFiles.splice(0)) {
      try {
        rmSync(path, { force: true });
      } catch (e) {
        // After the launcher's privilege drop the keeper's teardown removes it.
        if ((e as NodeJS.ErrnoException).code !== "EACCES") throw e;
      }
    }
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
