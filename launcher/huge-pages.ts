// Huge pages for the large regions (issue 15, the hugetlbfs stage's launcher side). netbase's
// DIR-24-8 first level alone is 64 MiB: on 4 KiB pages a random lookup misses the TLB almost
// every time; on 2 MiB pages the whole level is 32 TLB entries. UMEM and big ring producer regions
// are touched per packet for the same reason.
//
// memfds get MFD_HUGETLB | MFD_HUGE_2MB (pages from the vm.nr_hugepages pool). netbase is a file
// readers open by path (launcher/regions.ts), so it goes on the hugetlbfs mount the `configure`
// stage makes, /run/tilenet/.hugetlbfs, with a symlink at <runDir>/netbase. Seals on hugetlb
// memfds (measured on 6.18): F_SEAL_SHRINK, GROW, FUTURE_WRITE and SEAL are all accepted and
// enforced, exactly as on shmem. A hugetlbfs file has no seals, like the tmpfs file it replaces.
import {
  closeSync,
  fchmodSync,
  fchownSync,
  constants as fsConstants,
  lstatSync,
  openSync,
  readFileSync,
} from "node:fs";
import { join } from "node:path";
import { type RegionKind, RUN_ROOT } from "./manifest";

export type HugePagesMode = "auto" | "on" | "off";
export const HUGE_PAGE_BYTES = 2 * 1024 * 1024;
/** Where the hugetlbfs stage of `tilenet configure` mounts hugetlbfs: /run/tilenet/.hugetlbfs
 *  (under TILENET_RUN_ROOT when that is set, as everything else of tilenet's). */
export const HUGETLBFS_MOUNT = join(RUN_ROOT, ".hugetlbfs");
/** Regions smaller than this stay on normal pages: a 2 MiB page for a 64 KiB ring wastes the pool. */
const HUGE_MIN_BYTES = 1024 * 1024;
const HUGE_KINDS: ReadonlySet<RegionKind> = new Set(["netbase", "umem", "ring-producer"]);

/** What the manifest and `status` say about huge pages. */
export interface HugePagesReport {
  mode: HugePagesMode;
  pageBytes: number;
  /** Regions on huge pages. */
  regions: string[];
  /** Regions that wanted huge pages and got normal ones, with the reason (auto only). */
  fallbacks: string[];
}

export const roundUpToHugePage = (bytes: number): number => Math.ceil(bytes / HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES;

export function wantsHugePages(kind: RegionKind, size: number): boolean {
  return HUGE_KINDS.has(kind) && size >= HUGE_MIN_BYTES;
}

/** The mount point of hugetlbfs at `mount` per /proc/self/mounts, or undefined. */
export function hugetlbfsMounted(mount = HUGETLBFS_MOUNT, mounts = "/proc/self/mounts"): boolean {
  try {
    return readFileSync(mounts, "utf8")
      .split("\n")
      .some((line) => {
        const [, dir, type] = line.split(" ");
        return dir === mount && type === "hugetlbfs";
      });
  } catch {
    return false;
  }
}

/** The configured mode; unset means "auto" once the hugetlbfs stage ran, else "off". */
export function effectiveHugePagesMode(
  configured: HugePagesMode | undefined,
  mounted = hugetlbfsMounted(),
): HugePagesMode {
  return configured ?? (mounted ? "auto" : "off");
}

/** A fresh netbase file on the hugetlbfs mount (root-owned, not writable by others: checked, so
 *  nobody else can have planted a file or a symlink there). */
export function createHugetlbfsFile(instance: string, readersGid: number | undefined): { fd: number; path: string } {
  const dir = lstatSync(HUGETLBFS_MOUNT);
  if (!dir.isDirectory() || dir.uid !== 0 || (dir.mode & 0o022) !== 0)
    throw new Error(`${HUGETLBFS_MOUNT} must be a directory of root's that only root may write`);
  const path = join(HUGETLBFS_MOUNT, `${instance}.netbase`);
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fsConstants;
  const fd = openSync(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    if (readersGid !== undefined) {
      fchownSync(fd, 0, readersGid);
      fchmodSync(fd, 0o640);
    }
    return { fd, path };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Free 2 MiB pages in the pool (HugePages_Free), for messages. */
export function freeHugePages(meminfo = "/proc/meminfo"): number {
  const m = /^HugePages_Free:\s+(\d+)/m.exec(readFileSync(meminfo, "utf8"));
  return m ? Number(m[1]) : 0;
}
