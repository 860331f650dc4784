// The region's nexthop records: immutable answers shared by all routes with the same answer (found by
// content through a hash index in the writer's heap), reference-counted by route. A record is fully
// written and its generation published (Atomics.store, a full fence) before any entry points to it;
// one no longer referenced waits the reuse delay before it is rewritten (the generation check
// catches a reader stalled longer than that).
import type { RouteRecord } from "../netmodel";
import { DeferredReuse } from "./deferred-reuse";
import { NH_GATEWAY, NH_GEN, NH_META, NH_METRIC, NH_OIF, NH_PREFSRC, NH_SRC, NH_WORDS } from "./layout";
import type { WriterCore } from "./write-core";

/** Hash of a nexthop record's content (int32 words). */
function nexthopHash(meta: number, gateway: number, oif: number, prefsrc: number, metric: number, src: number): number {
  let h = Math.imul(meta ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ gateway ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ oif ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ prefsrc ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ metric ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ src ^ (h >>> 15), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A record's meta word: route type, scope, table and protocol (RTPROT_*), a byte each. */
export function nexthopMeta(r: Pick<RouteRecord, "type" | "scope" | "table" | "protocol">): number {
  return (r.type & 255) | ((r.scope & 255) << 8) | ((r.table & 255) << 16) | ((r.protocol & 255) << 24);
}

export class NexthopPool {
  private readonly v: Int32Array;
  private readonly ref: Int32Array;
  private readonly freedAt: Float64Array;
  /** Records by content: hash -> first record, chained through chain (-1 ends). */
  private readonly byHash = new Map<number, number>();
  private readonly chain: Int32Array;
  private readonly hashOf: Int32Array;
  private readonly reuse = new DeferredReuse();
  private highWater = 0;
  private live = 0;

  constructor(
    private readonly core: WriterCore,
    /** Word index of record 0 in the region. */
    private readonly base: number,
    private readonly capacity: number,
  ) {
    this.v = core.v;
    this.ref = new Int32Array(capacity);
    this.freedAt = new Float64Array(capacity);
    this.chain = new Int32Array(capacity);
    this.hashOf = new Int32Array(capacity);
  }

  /** Word index of record nh in the region (read its fields at + NH_*). */
  recordBase(nh: number): number {
    return this.base + nh * NH_WORDS;
  }

  /** A record holding this answer (shared with every route giving the same answer), or -1 when full. */
  acquire(r: RouteRecord, src: number): number {
    const meta = nexthopMeta(r);
    const gateway = r.gateway | 0;
    const oif = r.oif | 0;
    const prefsrc = r.prefsrc | 0;
    const metric = r.priority | 0;
    src |= 0;
    const hash = nexthopHash(meta, gateway, oif, prefsrc, metric, src);
    const v = this.v;
    for (let nh = this.byHash.get(hash) ?? -1; nh >= 0; nh = this.chain[nh]) {
      const b = this.base + nh * NH_WORDS;
      if (
        v[b + NH_META] !== meta ||
        v[b + NH_GATEWAY] !== gateway ||
        v[b + NH_OIF] !== oif ||
        v[b + NH_PREFSRC] !== prefsrc ||
        v[b + NH_METRIC] !== metric ||
        v[b + NH_SRC] !== src
      )
        continue;
      if (this.ref[nh]++ === 0) {
        this.freedAt[nh] = -1; // back in use before it was reused: its content is still right
        this.live++;
        this.core.set("nexthops_used", this.live);
      }
      return nh;
    }
    const nh = this.freshRecord();
    if (nh < 0) return -1;
    const b = this.base + nh * NH_WORDS;
    Atomics.store(v, b + NH_GEN, (v[b + NH_GEN] + 1) | 1);
    v[b + NH_META] = meta;
    v[b + NH_GATEWAY] = gateway;
    v[b + NH_OIF] = oif;
    v[b + NH_PREFSRC] = prefsrc;
    v[b + NH_METRIC] = metric;
    v[b + NH_SRC] = src;
    Atomics.store(v, b + NH_GEN, (v[b + NH_GEN] + 1) & ~1); // published before any entry points here
    this.index(nh, hash);
    this.ref[nh] = 1;
    this.freedAt[nh] = -1;
    this.live++;
    this.core.set("nexthops_used", this.live);
    return nh;
  }

  /** A record never used, or one that waited out the reuse delay (taken out of the index); -1 if none. */
  private freshRecord(): number {
    if (this.highWater < this.capacity) return this.highWater++;
    const nh = this.reuse.take(
      this.core.now(),
      this.core.reuseDelayMs,
      (i, at) => this.ref[i] === 0 && this.freedAt[i] === at,
    );
    if (nh >= 0) this.unindex(nh);
    return nh;
  }

  release(nh: number): void {
    if (--this.ref[nh] > 0) return;
    const at = this.core.now();
    this.freedAt[nh] = at;
    this.reuse.push(nh, at);
    this.live--;
    this.core.set("nexthops_used", this.live);
  }

  private index(nh: number, hash: number): void {
    this.hashOf[nh] = hash;
    this.chain[nh] = this.byHash.get(hash) ?? -1;
    this.byHash.set(hash, nh);
  }

  private unindex(nh: number): void {
    const hash = this.hashOf[nh];
    let cur = this.byHash.get(hash) ?? -1;
    if (cur === nh) {
      const next = this.chain[nh];
      if (next < 0) this.byHash.delete(hash);
      else this.byHash.set(hash, next);
      return;
    }
    while (cur >= 0 && this.chain[cur] !== nh) cur = this.chain[cur];
    if (cur >= 0) this.chain[cur] = this.chain[nh];
  }

  // ---- adoption of a region written by an earlier writer: adoptRecords, adoptRoute per route, adoptDone

  /** Indexes every record ever written, by content. */
  adoptRecords(): void {
    const v = this.v;
    for (let nh = 0; nh < this.capacity; nh++) {
      const b = this.base + nh * NH_WORDS;
      if (v[b + NH_GEN] === 0) continue;
      this.highWater = nh + 1;
      this.index(
        nh,
        nexthopHash(
          v[b + NH_META],
          v[b + NH_GATEWAY],
          v[b + NH_OIF],
          v[b + NH_PREFSRC],
          v[b + NH_METRIC],
          v[b + NH_SRC],
        ),
      );
    }
  }

  /** Counts a reference from an adopted route. */
  adoptRoute(nh: number): void {
    if (this.ref[nh]++ === 0) this.live++;
  }

  /** Records no adopted route references wait out the reuse delay from now. */
  adoptDone(now: number): void {
    for (let nh = 0; nh < this.highWater; nh++) {
      if (this.ref[nh] === 0) {
        this.freedAt[nh] = now;
        this.reuse.push(nh, now);
      } else this.freedAt[nh] = -1;
    }
    this.core.set("nexthops_used", this.live);
  }
}
