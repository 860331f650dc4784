// What every part of the netbase writer shares: the region's words, its counters, the clock, and the
// publication rule. Each public write of NetbaseWriter ends with exactly one published(), which bumps
// the sync generation (Atomics.add, a full fence after the write's stores) and so wakes the readers
// waiting for a change (NetbaseClient futex-waits on that word).
import type { AddrRecord, LinkRecord, NeighRecord, RouteRecord } from "../netmodel";
import { COUNTER_INDEX, H_COUNTERS_BYTE, H_SYNC_GENERATION, NETBASE_COUNTERS, type NetbaseCounter } from "./layout";

export interface NetbaseWriterOptions {
  /** How long a nexthop record or tbl8 group that nothing points to waits before reuse. Default 1000 ms. */
  reuseDelayMs?: number;
  /** Monotonic clock in ms (tests inject one). Default performance.now. */
  now?: () => number;
  /** TEST ONLY: deliberately broken variants, to prove the concurrent stress test catches them. */
  unsafe?: {
    /** Neighbor entries rewritten in place without versioning, key first (Firedancer issue 11198). */
    neighborSkipVersioning?: boolean;
    /** Route repaints clear the covered entries before writing the answers (a rebuild, not a delta). */
    routeClearThenFill?: boolean;
    /** Busy-loop iterations in the middle of every neighbor write (between key and MAC) and every
     *  route fill, in correct and broken variants alike: widens the windows a reader could hit. */
    writeDelay?: number;
  };
}

export interface ResyncResult {
  added: number;
  removed: number;
  changed: number;
}

/** The writer's public writes. A resync applies its changes through them (NetbaseWriter's own
 *  methods), so each change it makes is one published write, the same as an event's. */
export interface NetbaseWrites {
  upsertLink(link: LinkRecord): boolean;
  deleteLink(ifindex: number): boolean;
  upsertAddr(addr: AddrRecord): boolean;
  deleteAddr(addr: AddrRecord): boolean;
  upsertNeighbor(n: NeighRecord): boolean;
  deleteNeighbor(n: Pick<NeighRecord, "ifindex" | "ip">): boolean;
  upsertRoute(r: RouteRecord): boolean;
  deleteRoute(r: RouteRecord): boolean;
}

export class WriterCore {
  /** The whole region as int32 words. */
  readonly v: Int32Array;
  readonly reuseDelayMs: number;
  readonly now: () => number;
  private readonly counterView: Float64Array;

  constructor(buf: ArrayBuffer, regionBytes: number, options: NetbaseWriterOptions) {
    this.v = new Int32Array(buf, 0, regionBytes / 4);
    this.counterView = new Float64Array(buf, H_COUNTERS_BYTE, NETBASE_COUNTERS.length);
    this.reuseDelayMs = options.reuseDelayMs ?? 1000;
    this.now = options.now ?? (() => performance.now());
  }

  count(name: NetbaseCounter, by = 1): void {
    this.counterView[COUNTER_INDEX[name]] += by;
  }

  set(name: NetbaseCounter, value: number): void {
    this.counterView[COUNTER_INDEX[name]] = value;
  }

  /** Counts a dropped write and publishes (a no-op change still ends the write). */
  drop(name: NetbaseCounter): boolean {
    this.count(name);
    return this.published(false);
  }

  bad(): boolean {
    return this.drop("drop_bad_record");
  }

  published(result: boolean): boolean {
    Atomics.add(this.v, H_SYNC_GENERATION, 1);
    return result;
  }
}

export function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** A MAC as the two words netbase stores (hi: first 4 bytes, lo: last 2); zeros when absent. */
export function macWords(mac: Uint8Array | null): [number, number] {
  if (mac?.length !== 6) return [0, 0];
  return [(mac[0] << 24) | (mac[1] << 16) | (mac[2] << 8) | mac[3] | 0, (mac[4] << 8) | mac[5]];
}
