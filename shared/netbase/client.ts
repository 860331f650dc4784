// netbase for any process on the host: opens a running instance's netbase by instance name,
// read-only, with no netlink socket of its own, and answers route, neighbor and interface lookups
// from it. Access is the file mode's: the launcher publishes the region as the file
// `<runRoot>/<instance>/netbase` (root 0600, or 0640 with [netbase] readers_group, the run
// directory 0710 for that group), so whoever may open it O_RDONLY may read; the mapping is
// read-only. Waiting for changes sleeps on the writer's generation counter with a futex wait on
// a pool thread, woken by the netlink tile after each batch it applies.
import { join } from "node:path";
import { FUTEX_TIMED_OUT, native } from "../native";
import { formatIpv4, parseIpv4 } from "../netlink/address-text";
import { H_SYNC_GENERATION } from "./layout";
import { InterfaceResult, NeighborResult, NetbaseReader, RouteResult } from "./reader";

/**
 * What a client reads of a running instance's manifest (`<runRoot>/<instance>/manifest.json`,
 * written by the launcher, whose Manifest type is checked against this contract).
 */
export interface PublishedInstance {
  launcherPid: number;
  regions: { name: string; kind: string; launcherFd: number; size: number }[];
}

/** The published netbase file's name inside an instance's run directory. */
export const NETBASE_FILE = "netbase";

/** Where instances keep their run directories (the launcher's default, or TILENET_RUN_ROOT). */
export function defaultRunRoot(): string {
  const fromEnv = process.env.TILENET_RUN_ROOT;
  return fromEnv?.startsWith("/") ? fromEnv : "/run/tilenet";
}

/** Longest single futex sleep: a pool thread is held no longer than this per wait. */
const WAIT_SLICE_MS = 1000;

/** The error open() throws, with the errno of the failed open (EACCES: the file mode said no). */
function openError(instance: string, path: string, e: NodeJS.ErrnoException): Error {
  const why =
    e.code === "ENOENT"
      ? `no running instance '${instance}' publishes a netbase at ${path}`
      : e.code === "EACCES"
        ? `permission denied opening ${path}: an instance's netbase is readable by root, and by the group its config names in [netbase] readers_group`
        : e.message;
  const err = new Error(`NetbaseClient.open: ${why}`) as NodeJS.ErrnoException;
  err.code = e.code;
  err.errno = e.errno;
  return err;
}

export interface NetbaseRoute {
  type: number;
  table: number;
  scope: number;
  /** The gateway, undefined when on-link. */
  gateway?: string;
  /** Where to send: the gateway or the destination itself. */
  nexthop: string;
  ifindex: number;
  src?: string;
  metric: number;
}

export interface NetbaseNeighbor {
  /** Hardware address, undefined while unresolved. */
  lladdr?: string;
  state: number;
}

export interface NetbaseInterface {
  ifindex: number;
  mtu: number;
  up: boolean;
  address?: string;
  addresses: string[];
}

function u32ToText(ip: number): string {
  const b = new Uint8Array([ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255]);
  return formatIpv4(b);
}

function textToU32(operation: string, text: string): number {
  const b = parseIpv4(text);
  if (b === undefined) throw new TypeError(`${operation}: '${text}' is not an IPv4 address`);
  return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
}

const hexMac = (m: Uint8Array): string => Array.from(m, (x) => x.toString(16).padStart(2, "0")).join(":");

/** A read-only view of one instance's netbase. */
export class NetbaseClient {
  private readonly route = new RouteResult();
  private readonly neighbor = new NeighborResult();
  private readonly iface = new InterfaceResult();
  private readonly words: Int32Array;

  constructor(
    readonly instance: string,
    readonly reader: NetbaseReader,
    buffer: ArrayBuffer,
  ) {
    this.words = new Int32Array(buffer, 0, 64);
  }

  /** Opens the netbase of the running instance `instance` (as in `tilenet run --instance`). */
  static open(instance: string, runRoot = defaultRunRoot()): NetbaseClient {
    if (!/^[a-z0-9][a-z0-9-]{0,23}$/.test(instance))
      throw new TypeError(`NetbaseClient.open: instance '${instance}' is not a valid name`);
    const path = join(runRoot, instance, NETBASE_FILE);
    const addon = native();
    let fd: number;
    try {
      fd = addon.openPath(path, false);
    } catch (e) {
      throw openError(instance, path, e as NodeJS.ErrnoException);
    }
    try {
      const buffer = addon.mapFd(fd, 0, false);
      return new NetbaseClient(instance, new NetbaseReader(buffer), buffer);
    } finally {
      addon.closeFd(fd);
    }
  }

  /** The writer's generation counter: it changes with every update applied. */
  generation(): number {
    return this.reader.syncGeneration();
  }

  /** Resolves with the new generation once it differs from `since`, or undefined after timeoutMs.
   *  The event loop keeps running meanwhile (the futex sleep is on a pool thread, shared by the
   *  callers waiting on the same generation). */
  async waitForChange(since: number, timeoutMs: number): Promise<number | undefined> {
    const deadline = performance.now() + Math.max(0, timeoutMs);
    for (;;) {
      const now = this.generation();
      if (now !== since) return now;
      const left = Math.ceil(deadline - performance.now());
      if (left <= 0) return undefined;
      const outcome = await this.sleep(since, Math.min(WAIT_SLICE_MS, left));
      if (outcome === FUTEX_TIMED_OUT && performance.now() >= deadline) {
        const last = this.generation();
        return last !== since ? last : undefined;
      }
    }
  }

  private pending: { since: number; until: number; done: Promise<number> } | undefined;

  /** Concurrent waiters on one generation share a futex sleep that ends no later than theirs
   *  would (each re-checks its own deadline when it ends). */
  private sleep(since: number, ms: number): Promise<number> {
    const until = performance.now() + ms;
    const p = this.pending;
    if (p && p.since === since && p.until <= until + 1) return p.done;
    const done = native().futexWaitAsync(this.words, H_SYNC_GENERATION, since, ms);
    const mine = { since, until, done };
    this.pending = mine;
    const clear = (): void => {
      if (this.pending === mine) this.pending = undefined;
    };
    done.then(clear, clear);
    return done;
  }

  /** Longest-prefix match over the mirrored tables (local, then main). */
  lookupRoute(dst: string): NetbaseRoute | undefined {
    const r = this.route;
    if (!this.reader.lookupRoute(textToU32("lookupRoute", dst), r)) return undefined;
    return {
      type: r.type,
      table: r.table,
      scope: r.scope,
      gateway: r.gateway === 0 ? undefined : u32ToText(r.gateway),
      nexthop: u32ToText(r.nexthop),
      ifindex: r.ifindex,
      src: r.src === 0 ? undefined : u32ToText(r.src),
      metric: r.metric,
    };
  }

  lookupNeighbor(ifindex: number, ip: string): NetbaseNeighbor | undefined {
    const n = this.neighbor;
    if (!this.reader.lookupNeighbor(ifindex, textToU32("lookupNeighbor", ip), n)) return undefined;
    return { lladdr: n.hasMac ? hexMac(n.mac) : undefined, state: n.state };
  }

  lookupInterface(ifindex: number): NetbaseInterface | undefined {
    const i = this.iface;
    if (!this.reader.lookupInterface(ifindex, i)) return undefined;
    const addresses: string[] = [];
    for (let k = 0; k < i.addrCount; k++) addresses.push(`${u32ToText(i.addrs[k] as number)}/${i.prefixLens[k]}`);
    return { ifindex: i.ifindex, mtu: i.mtu, up: i.up, address: i.hasMac ? hexMac(i.mac) : undefined, addresses };
  }
}
