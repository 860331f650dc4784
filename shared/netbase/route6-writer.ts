// The IPv6 routes of the local and main tables: the writer's model (per prefix and table, the
// alternatives ordered by metric, in a map of its own heap; one slot per route) from which every
// change repaints the region's IPv6 LPM (lpm6.ts) as a delta, and each route's listing record.
import { type Route6Record, RouteTable } from "../netmodel";
import type { Addr6Writer } from "./addr6-writer";
import {
  type NetbaseLayout,
  NH6_GATEWAY,
  NH6_META,
  NH6_METRIC,
  NH6_OIF,
  NH6_PREFSRC,
  NH6_SRC,
  RT_META_LIVE,
  RT_META_LOCAL,
  RT6_DST,
  RT6_META,
  RT6_NEXTHOP,
  RT6_SEQ,
  RT6_WORDS,
} from "./layout";
import { Lpm6Table, T6_LOCAL, T6_MAIN } from "./lpm6";
import { Nexthop6Content, Nexthop6Pool } from "./nexthops6";
import { isU32, type ResyncResult, type WriterCore } from "./write-core";

const NONE = -1;

/** dst masked to len, into out (4 words). */
export function mask6(dst: ArrayLike<number>, len: number, out: Uint32Array): Uint32Array {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - 32 * i));
    out[i] = bits === 0 ? 0 : (dst[i] & (-1 << (32 - bits))) >>> 0;
  }
  return out;
}

function prefixKey(dst: Uint32Array, len: number): string {
  return `${dst[0]},${dst[1]},${dst[2]},${dst[3]}/${len}`;
}

/** An IPv6 route's identity here: table, prefix, metric and output interface. The kernel keeps
 *  routes that differ only by interface side by side (fe80::/64 and ff00::/8 on every link), so
 *  the interface is part of the key; among those the lowest ifindex answers lookups. */
export function route6Key(r: Route6Record): string {
  return `${r.table} ${prefixKey(mask6(r.dst, r.dstLen, new Uint32Array(4)), r.dstLen)} ${r.priority >>> 0} ${r.oif >>> 0}`;
}

interface Prefix6 {
  dst: Uint32Array;
  len: number;
  /** Best alternative per table (T6_MAIN, T6_LOCAL), then chained through next. */
  head: [number, number];
}

export class Route6Writer {
  private readonly v: Int32Array;
  readonly len: Uint8Array;
  readonly type: Uint8Array;
  readonly nh: Int32Array;
  private readonly next: Int32Array;
  private readonly metric: Float64Array;
  /** Output interface of each route: with the metric, what tells alternatives of a prefix apart. */
  private readonly oif: Float64Array;
  private readonly table: Uint8Array;
  private readonly prefixOf: (Prefix6 | undefined)[];
  private readonly prefixes = new Map<string, Prefix6>();
  private readonly free: number[] = [];
  private highWater = 0;
  private live = 0;
  private readonly tableRoutes = [0, 0];
  private readonly lpm: Lpm6Table;
  private readonly nexthops: Nexthop6Pool;
  private readonly rtBase: number;
  private readonly capacity: number;
  private readonly content = new Nexthop6Content();
  private readonly scratch = new Uint32Array(4);

  constructor(
    private readonly core: WriterCore,
    layout: NetbaseLayout,
    private readonly addrs: Addr6Writer,
  ) {
    const cap = layout.caps.routes6;
    this.v = core.v;
    this.capacity = cap;
    this.len = new Uint8Array(cap);
    this.type = new Uint8Array(cap);
    this.nh = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.metric = new Float64Array(cap);
    this.oif = new Float64Array(cap);
    this.table = new Uint8Array(cap);
    this.prefixOf = new Array<Prefix6 | undefined>(cap);
    this.rtBase = layout.routes6Offset / 4;
    this.lpm = new Lpm6Table(core, layout, this);
    this.nexthops = new Nexthop6Pool(core, layout.nexthops6Offset / 4, layout.caps.nexthops6);
  }

  upsert(r: Route6Record): boolean {
    if (!this.accepted(r)) return this.core.published(false);
    const t = r.table === RouteTable.local ? T6_LOCAL : T6_MAIN;
    const dst = mask6(r.dst, r.dstLen, new Uint32Array(4));
    const key = prefixKey(dst, r.dstLen);
    let p = this.prefixes.get(key);
    const existing = p ? this.find(p, t, r.priority >>> 0, r.oif >>> 0) : NONE;
    if (existing === NONE && this.live >= this.capacity) return this.core.drop("drop_routes6_full");
    const fresh = p === undefined;
    if (p === undefined) {
      if (!this.lpm.addPrefix(dst, r.dstLen)) return this.core.drop("drop_lpm6_nodes_full");
      p = { dst, len: r.dstLen, head: [NONE, NONE] };
      this.prefixes.set(key, p);
    }
    this.contentOf(r, dst);
    const nh = this.nexthops.acquire(this.content);
    if (nh < 0) {
      if (fresh) this.dropPrefix(p, key);
      return this.core.drop("drop_nexthops6_full");
    }
    if (existing !== NONE) this.changeNexthop(p, existing, nh, r.type);
    else this.add(p, t, r, nh);
    this.core.count("route6_updates");
    return this.core.published(true);
  }

  /**
   * The kernel's `route replace` (NLM_F_REPLACE: no delete event for the route it replaced, which
   * had the same table, prefix and metric, perhaps another interface). The new route goes in
   * first, then the one it replaced leaves (no hole). False when several routes share the key:
   * which one the kernel replaced is unknown (the caller resyncs).
   */
  replace(r: Route6Record): boolean {
    if (!this.accepted(r)) return this.core.published(false);
    const t = r.table === RouteTable.local ? T6_LOCAL : T6_MAIN;
    const p = this.prefixes.get(prefixKey(mask6(r.dst, r.dstLen, this.scratch), r.dstLen));
    const metric = r.priority >>> 0;
    const same: number[] = [];
    for (let id = p?.head[t] ?? NONE; id !== NONE; id = this.next[id]) if (this.metric[id] === metric) same.push(id);
    if (same.length > 1) return false;
    const old = same[0];
    if (!this.upsert(r)) return false;
    if (old !== undefined && this.oif[old] !== r.oif >>> 0) {
      const q = this.prefixOf[old];
      if (q !== undefined) this.remove(q, old);
      this.core.published(true);
    }
    return true;
  }

  delete(r: Route6Record): boolean {
    if (!this.accepted(r)) return this.core.published(false);
    const t = r.table === RouteTable.local ? T6_LOCAL : T6_MAIN;
    const key = prefixKey(mask6(r.dst, r.dstLen, this.scratch), r.dstLen);
    const p = this.prefixes.get(key);
    const id = p ? this.find(p, t, r.priority >>> 0, r.oif >>> 0) : NONE;
    if (p === undefined || id === NONE) {
      this.core.count("delete_missing");
      return this.core.published(false);
    }
    this.remove(p, id);
    this.core.count("route6_deletes");
    return this.core.published(true);
  }

  private accepted(r: Route6Record): boolean {
    if (r.table !== RouteTable.local && r.table !== RouteTable.main) {
      this.core.count("ignored_route_table");
      return false;
    }
    const words = (a: Uint32Array): boolean => a instanceof Uint32Array && a.length === 4;
    const valid =
      Number.isInteger(r.dstLen) &&
      r.dstLen >= 0 &&
      r.dstLen <= 128 &&
      words(r.dst) &&
      words(r.gateway) &&
      words(r.prefsrc) &&
      isU32(r.oif) &&
      isU32(r.priority) &&
      Number.isInteger(r.type) &&
      r.type > 0 &&
      r.type < 256;
    if (!valid) this.core.count("drop_bad_record");
    return valid;
  }

  /** The record content for r (source derived from the output interface's addresses). */
  private contentOf(r: Route6Record, dst: Uint32Array): void {
    const c = this.content;
    // IPv6 routes carry no scope of their own (rtm_scope is universe): host for local routes.
    const scope = r.type === 2 ? 254 : 0;
    c.meta = (r.type & 255) | (scope << 8) | ((r.table & 255) << 16) | ((r.protocol & 255) << 24);
    c.gateway.set(r.gateway);
    c.oif = r.oif | 0;
    c.prefsrc.set(r.prefsrc);
    c.metric = r.priority | 0;
    this.addrs.sourceFor(r.prefsrc, r.oif, dst, r.dstLen, c.src);
  }

  private find(p: Prefix6, t: number, metric: number, oif: number): number {
    for (let id = p.head[t]; id !== NONE; id = this.next[id])
      if (this.metric[id] === metric && this.oif[id] === oif) return id;
    return NONE;
  }

  private add(p: Prefix6, t: number, r: Route6Record, nh: number): void {
    const id = this.free.length > 0 ? (this.free.pop() as number) : this.highWater++;
    this.nh[id] = nh;
    this.metric[id] = r.priority >>> 0;
    this.oif[id] = r.oif >>> 0;
    this.type[id] = r.type;
    this.len[id] = p.len;
    this.table[id] = t;
    this.prefixOf[id] = p;
    this.publish(id, p, nh);
    if (this.insertAlternative(p, t, id)) this.lpm.paint(p.dst, p.len, t, id, true);
    this.live++;
    this.tableRoutes[t]++;
    this.updateCounters();
  }

  /** Keeps a prefix's alternatives ordered by metric, then ifindex (the head answers lookups); true
   *  when id became the head. */
  private insertAlternative(p: Prefix6, t: number, id: number): boolean {
    let prev = NONE;
    let cur = p.head[t];
    while (
      cur !== NONE &&
      (this.metric[cur] < this.metric[id] || (this.metric[cur] === this.metric[id] && this.oif[cur] <= this.oif[id]))
    ) {
      prev = cur;
      cur = this.next[cur];
    }
    this.next[id] = cur;
    if (prev === NONE) p.head[t] = id;
    else this.next[prev] = id;
    return prev === NONE;
  }

  /** Rebuilds the model from the region's route and nexthop records (a restarted writer), then the
   *  LPM's bookkeeping; the region is not changed. */
  adopt(now: number): void {
    const v = this.v;
    this.nexthops.adoptRecords();
    for (let id = 0; id < this.capacity; id++) {
      const b = this.rtBase + id * RT6_WORDS;
      const meta = v[b + RT6_META];
      if ((meta & RT_META_LIVE) === 0) continue;
      this.highWater = id + 1;
      const nh = v[b + RT6_NEXTHOP];
      const nb = this.nexthops.recordBase(nh);
      const dst = Uint32Array.from(v.subarray(b + RT6_DST, b + RT6_DST + 4));
      const len = meta & 255;
      const t = meta & RT_META_LOCAL ? T6_LOCAL : T6_MAIN;
      const key = prefixKey(dst, len);
      let p = this.prefixes.get(key);
      if (p === undefined) {
        p = { dst, len, head: [NONE, NONE] };
        this.prefixes.set(key, p);
      }
      this.nh[id] = nh;
      this.metric[id] = v[nb + NH6_METRIC] >>> 0;
      this.oif[id] = v[nb + NH6_OIF] >>> 0;
      this.type[id] = v[nb + NH6_META] & 255;
      this.len[id] = len;
      this.table[id] = t;
      this.prefixOf[id] = p;
      this.insertAlternative(p, t, id);
      this.nexthops.adoptRoute(nh);
      this.live++;
      this.tableRoutes[t]++;
    }
    for (let id = this.highWater - 1; id >= 0; id--) if (this.prefixOf[id] === undefined) this.free.push(id);
    this.nexthops.adoptDone(now);
    this.lpm.adopt(now, [...this.prefixes.values()]);
    this.updateCounters();
  }

  private remove(p: Prefix6, id: number): void {
    const t = this.table[id];
    const wasHead = p.head[t] === id;
    let prev = NONE;
    for (let cur = p.head[t]; cur !== id; cur = this.next[cur]) prev = cur;
    if (prev === NONE) p.head[t] = this.next[id];
    else this.next[prev] = this.next[id];
    this.publish(id, p, NONE);
    if (wasHead) {
      if (p.head[t] !== NONE) this.lpm.paint(p.dst, p.len, t, p.head[t], true);
      else this.lpm.paint(p.dst, p.len, t, this.covering(p, t), false);
    }
    if (p.head[T6_MAIN] === NONE && p.head[T6_LOCAL] === NONE) this.dropPrefix(p, prefixKey(p.dst, p.len));
    this.nexthops.release(this.nh[id]);
    this.prefixOf[id] = undefined;
    this.free.push(id);
    this.live--;
    this.tableRoutes[t]--;
    this.updateCounters();
  }

  private dropPrefix(p: Prefix6, key: string): void {
    this.prefixes.delete(key);
    this.lpm.removePrefix(p.dst, p.len);
  }

  /** Table t's best route of the longest prefix strictly shorter than p covering it, or NONE. */
  private covering(p: Prefix6, t: number): number {
    const m = this.scratch;
    for (let l = p.len - 1; l >= 0; l--) {
      const q = this.prefixes.get(prefixKey(mask6(p.dst, l, m), l));
      if (q && q.head[t] !== NONE) return q.head[t];
    }
    return NONE;
  }

  private changeNexthop(p: Prefix6, id: number, nh: number, type: number): void {
    const old = this.nh[id];
    this.nh[id] = nh;
    this.type[id] = type;
    this.publish(id, p, nh);
    const t = this.table[id];
    if (p.head[t] === id && old !== nh) this.lpm.paint(p.dst, p.len, t, id, true);
    this.nexthops.release(old);
  }

  /** Slot id's listing record (nh NONE frees it), under its seqlock. */
  private publish(id: number, p: Prefix6, nh: number): void {
    const v = this.v;
    const b = this.rtBase + id * RT6_WORDS;
    Atomics.store(v, b + RT6_SEQ, (v[b + RT6_SEQ] + 1) | 1);
    for (let i = 0; i < 4; i++) v[b + RT6_DST + i] = nh === NONE ? 0 : p.dst[i];
    v[b + RT6_META] = nh === NONE ? 0 : p.len | (this.table[id] === T6_LOCAL ? RT_META_LOCAL : 0) | RT_META_LIVE;
    v[b + RT6_NEXTHOP] = nh === NONE ? 0 : nh;
    Atomics.store(v, b + RT6_SEQ, (v[b + RT6_SEQ] + 1) & ~1);
  }

  private updateCounters(): void {
    this.core.set("routes6_main", this.tableRoutes[T6_MAIN]);
    this.core.set("routes6_local", this.tableRoutes[T6_LOCAL]);
  }

  /** The route records as the model holds them (resync, flush, source refresh). */
  private recordOf(id: number): Route6Record {
    const v = this.v;
    const b = this.nexthops.recordBase(this.nh[id]);
    const meta = v[b + NH6_META];
    const p = this.prefixOf[id] as Prefix6;
    return {
      table: this.table[id] === T6_LOCAL ? RouteTable.local : RouteTable.main,
      type: meta & 255,
      dst: Uint32Array.from(p.dst),
      dstLen: p.len,
      gateway: Uint32Array.from(v.subarray(b + NH6_GATEWAY, b + NH6_GATEWAY + 4)),
      oif: v[b + NH6_OIF] >>> 0,
      prefsrc: Uint32Array.from(v.subarray(b + NH6_PREFSRC, b + NH6_PREFSRC + 4)),
      priority: this.metric[id],
      protocol: meta >>> 24,
    };
  }

  private liveIds(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.highWater; id++) if (this.prefixOf[id] !== undefined) out.push(id);
    return out;
  }

  /** Removes the routes through a link that is gone (not published: part of its deletion). */
  flushVia(ifindex: number): void {
    for (const id of this.liveIds()) {
      if (this.v[this.nexthops.recordBase(this.nh[id]) + NH6_OIF] !== (ifindex | 0)) continue;
      this.remove(this.prefixOf[id] as Prefix6, id);
      this.core.count("flushed_routes6");
    }
  }

  /** Routes via ifindex without prefsrc get their source re-derived (addresses changed). */
  refreshDerivedSources(ifindex: number): void {
    const src = this.content.src;
    for (const id of this.liveIds()) {
      const b = this.nexthops.recordBase(this.nh[id]);
      if (this.v[b + NH6_OIF] !== (ifindex | 0)) continue;
      const r = this.recordOf(id);
      this.contentOf(r, (this.prefixOf[id] as Prefix6).dst);
      let same = true;
      for (let i = 0; i < 4; i++) if (src[i] !== this.v[b + NH6_SRC + i]) same = false;
      if (same) continue;
      const nh = this.nexthops.acquire(this.content);
      if (nh < 0) {
        this.core.count("drop_nexthops6_full");
        continue;
      }
      this.changeNexthop(this.prefixOf[id] as Prefix6, id, nh, r.type);
    }
  }

  /** Routes to exactly `routes`: added and changed first, then the others removed (no hole). */
  resync(
    routes: readonly Route6Record[],
    result: ResyncResult,
    write: { upsert(r: Route6Record): boolean; remove(r: Route6Record): boolean },
  ): void {
    const want = new Map<string, Route6Record>();
    for (const r of routes) if (r.table === RouteTable.local || r.table === RouteTable.main) want.set(route6Key(r), r);
    const have = new Map<string, Route6Record>();
    for (const id of this.liveIds()) {
      const r = this.recordOf(id);
      have.set(route6Key(r), r);
    }
    for (const [key, r] of want) {
      const cur = have.get(key);
      if (cur && sameRoute6(cur, r)) continue;
      if (write.upsert(r)) result[cur ? "changed" : "added"]++;
    }
    for (const [key, r] of have) if (!want.has(key) && write.remove(r)) result.removed++;
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

/** Whether two routes of one key hold the same mirrored content. */
export function sameRoute6(a: Route6Record, b: Route6Record): boolean {
  return (
    a.type === b.type &&
    sameWords(a.gateway, b.gateway) &&
    a.oif >>> 0 === b.oif >>> 0 &&
    sameWords(a.prefsrc, b.prefsrc) &&
    a.protocol === b.protocol
  );
}
