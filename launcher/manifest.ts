// The run manifest: what a running instance is made of, written by the launcher to
// <runDir>/manifest.json (mode 0600) and read by `status`, `monitor`, `netbase` and `cleanup`.
// Regions are memfds held open by the launcher (netbase: a file in the run directory, see
// launcher/regions.ts); root inspectors reach them read-only through /proc/<launcherPid>/fd/<launcherFd>.

import type { PublishedInstance } from "../shared/netbase/client";
import type { HugePagesReport } from "./huge-pages";
import type { LauncherSandbox } from "./launcher-sandbox";

export const MANIFEST_VERSION = 1;
/**
 * Where instances keep their run directories. TILENET_RUN_ROOT (an absolute path) gives a separate
 * namespace of instances: `run`, `status`, `cleanup` ... see only those under the same root.
 */
export const RUN_ROOT = runRootFromEnv(process.env.TILENET_RUN_ROOT);

function runRootFromEnv(value: string | undefined): string {
  if (value === undefined || value === "") return "/run/tilenet";
  if (!value.startsWith("/") || value.includes("\0"))
    throw new Error(`TILENET_RUN_ROOT must be an absolute path, got "${value}"`);
  return value.replace(/\/+$/, "") || "/";
}

export type RegionKind =
  | "metrics"
  | "ring-producer"
  | "ring-consumer"
  | "netbase"
  | "umem"
  | "data"
  | "capture-control"
  | "capture-ring";

export interface RegionEntry {
  name: string;
  kind: RegionKind;
  /** Descriptor number inside the launcher process. */
  launcherFd: number;
  size: number;
}

export interface TileEntry {
  name: string;
  kind: string;
  /** The tile's Node process, as the host numbers it (/proc, audit records). */
  pid: number;
  /** With a PID namespace: tilenet-exec's waiter, the tile's parent (the launcher's child). */
  waiterPid?: number;
  /** Name of this tile's metrics region in `regions`. */
  metricsRegion: string;
  /** Capabilities the tile keeps on purpose (hex mask as /proc prints it); absent = none. */
  allowedCaps?: string;
  /** App tiles: restarts so far, why the last one died, and whether it is down for good (its
   *  restart limit was reached). */
  restarts?: number;
  lastExit?: string;
  down?: boolean;
  /** The tile's own uid and gid (allocated per tile, launcher/users.ts). */
  uid?: number;
  gid?: number;
  /** Lines of its output the launcher dropped (not a JSON log record, or too long). */
  logLinesDropped?: number;
}

export interface LabInfo {
  tileNetns: string;
  peerNetns: string;
  tileAddr: string;
  peerAddr: string;
  /** IPv6 (2001:2::/64) of each end, and their link-local addresses (fe80::/64, on tileIf /
   *  peerIf). Absent in manifests written before IPv6. */
  tileAddr6?: string;
  peerAddr6?: string;
  tileLinkLocal?: string;
  peerLinkLocal?: string;
  tileIf: string;
  peerIf: string;
  ports: number[];
  /** Receive (and transmit) queues of each veth end; absent: 1. */
  queues?: number;
}

/** One interface's receive queues and the net tiles serving them. */
export interface QueueCoverage {
  interface: string;
  queueCount: number;
  /** Where the count came from ("ethtool channels", "link rx queues"). */
  source: string;
  /** Served queue ids, and the net tile of each (same order). */
  served: number[];
  tiles: string[];
}

/** What the launcher attached for the net tile, as the kernel accepted it. */
export interface XdpAttachment {
  interface: string;
  ifindex: number;
  queue: number;
  /** The mode the program is attached in: native (drv) or generic (skb). */
  mode: "drv" | "skb";
  /** What the configuration asked for; "auto" tries drv, then skb. */
  requestedMode: "auto" | "drv" | "skb";
  /** AF_XDP bound zero-copy (true) or copy mode (false), as the kernel holds it (XDP_OPTIONS). */
  zeroCopy: boolean;
  /** [net] xdp_zero_copy. Absent in manifests written before it existed. */
  requestedZeroCopy?: "auto" | boolean;
  /** With "auto": why the socket is in copy mode (the kernel's answer to XDP_ZEROCOPY, or skb mode). */
  zeroCopyFallback?: string;
  /** XDP_USE_NEED_WAKEUP (always asked for). */
  needWakeup?: boolean;
  /** The busy-polling options read back from the socket; absent when the config sets none. The
   *  budget is what setsockopt took (the kernel has no getsockopt for it). */
  busyPoll?: { prefer: boolean; usecs: number; budget: number };
  /** The interface's napi_defer_hard_irqs and gro_flush_timeout (ns) at set-up, which prefer-busy-poll
   *  relies on; null when unreadable. */
  napi?: { deferHardIrqs: number | null; groFlushTimeoutNs: number | null };
  /** Why auto fell back to skb (the kernel's answer to the native attach). */
  fallbackReason?: string;
}

/** The data plane the net tile runs on ([net] provider) and why: "configured", "auto: XDP
 *  attached", or "auto: XDP attach failed: <the kernel's answer>". */
export interface NetProviderReport {
  provider: "xdp" | "socket";
  configured: "auto" | "xdp" | "socket";
  reason: string;
  /** Provider socket: the busy-polling options set on its UDP sockets (setsockopt took them, or
   *  the start failed); with XDP they are in the attachment, read back. */
  busyPoll?: { prefer: boolean; usecs: number; budget: number };
}

export interface Manifest {
  version: number;
  instance: string;
  launcherPid: number;
  /** Start time of the launcher (field 22 of /proc/PID/stat), so a reused pid is not mistaken for it. */
  launcherStartTicks: number;
  startedAt: string;
  /** Root-owned read-only directory with the code tiles execute (see launcher/stage.ts). */
  runtimeDir: string;
  runDir: string;
  /** Path of the network namespace the instance's interfaces live in (undefined = the host's). */
  netnsPath?: string;
  /** Names of namespaces the launcher created and must delete. */
  createdNetns: string[];
  regions: RegionEntry[];
  tiles: TileEntry[];
  /** The sandbox the config asked for ([sandbox]); status checks every tile against the full one. */
  sandbox?: { unshare: string[]; landlock: boolean };
  /** The launcher's own sandbox once it has dropped its privileges (launcher/launcher-sandbox.ts). */
  launcherSandbox?: LauncherSandbox;
  /** The keeper: the root helper that starts every tile and tears the instance down (launcher/keeper.ts). */
  keeperPid?: number;
  lab?: LabInfo;
  /** The first AF_XDP socket's attachment (as before several net tiles); all are in xdpAttachments. */
  xdp?: XdpAttachment;
  /** Every net tile's AF_XDP socket, in tile order (tile names the net tile). */
  xdpAttachments?: (XdpAttachment & { tile: string })[];
  /** Per interface: its receive queues and which have a net tile (status warns of the others). */
  queues?: QueueCoverage[];
  /** Present when a net tile runs. */
  netProvider?: NetProviderReport;
  /** Which regions are on 2 MiB pages and which fell back (launcher/huge-pages.ts). */
  hugePages?: HugePagesReport;
  /** When every tile first ran (`tilenet ready` and systemd's READY=1 wait for it). */
  readyAt?: string;
}

export function runDirOf(instance: string, runRoot = RUN_ROOT): string {
  return `${runRoot}/${instance}`;
}

/** The instance's staged runtime (code its tiles execute), beside its run directory. */
export function runtimeDirOf(instance: string, runRoot = RUN_ROOT): string {
  return `${runRoot}/.rt-${instance}`;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), or -1 if the process is gone. */
export function processStartTicks(pid: number, readFile: (p: string) => string): number {
  try {
    const stat = readFile(`/proc/${pid}/stat`);
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[19]);
  } catch {
    return -1;
  }
}

/** The manifest honours the contract netbase clients read it by (shared/netbase/client.ts). */
export const manifestIsPublished: (m: Manifest) => PublishedInstance = (m) => m;
