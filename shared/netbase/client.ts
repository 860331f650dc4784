// netbase for any process on the host: opens a running instance's netbase by instance name,
// read-only, with no netlink socket of its own, and answers route, neighbor and interface lookups
// from it. Access is the kernel's: the region is opened through the launcher's descriptor
// (/proc/<launcher>/fd/<n>), so whoever may open that may read. Waiting for changes watches the
// writer's generation counter with futex waits in short slices (a writer that also wakes the
// futex makes them return at once).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { native } from "../native";
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

/** Where instances keep their run directories (the launcher's default, or TILENET_RUN_ROOT). */
export function defaultRunRoot(): string {
  const fromEnv = process.env.TILENET_RUN_ROOT;
  return fromEnv?.startsWith("/") ? fromEnv : "/run/tilenet";
}

/** Bound on one futex wait slice while waiting for a change. */
const WAIT_SLICE_MS = 5;

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
    const manifestPath = join(runRoot, instance, "manifest.json");
    let manifest: PublishedInstance;
    try {
      manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as PublishedInstance;
    } catch (e) {
      throw new Error(`NetbaseClient.open: no running instance '${instance}' (${(e as Error).message})`);
    }
    const entry = manifest.regions.find((r) => r.kind === "netbase");
    if (!entry) throw new Error(`NetbaseClient.open: instance '${instance}' has no netbase region`);
    const addon = native();
    const fd = addon.openPath(`/proc/${manifest.launcherPid}/fd/${entry.launcherFd}`, false);
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

  /** Resolves with the new generation once it differs from `since`, or undefined after timeoutMs. */
  async waitForChange(since: number, timeoutMs: number): Promise<number | undefined> {
    const deadline = performance.now() + Math.max(0, timeoutMs);
    const addon = native();
    for (;;) {
      const now = this.generation();
      if (now !== since) return now;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      // A short futex wait, then yield to the event loop so that the caller's process stays live.
      addon.futexWait(this.words, H_SYNC_GENERATION, since, Math.min(WAIT_SLICE_MS, Math.ceil(left)));
      await new Promise((r) => setImmediate(r));
    }
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
