// The routes of the local and main tables: the writer's control-plane model (a Patricia trie of
// every route with, per prefix and table, the alternatives ordered by metric; RouteSlots per route)
// kept in its own heap, from which every change repaints the region's DIR-24-8 answers as a delta.
import { type RouteRecord, RouteTable } from "../netmodel";
import { isMirroredRoute } from "./diff";
import { Dir248Table } from "./dir24-8";
import type { InterfaceWriter } from "./interface-writer";
import {
  type NetbaseCounter,
  type NetbaseLayout,
  NH_GATEWAY,
  NH_META,
  NH_METRIC,
  NH_OIF,
  NH_PREFSRC,
  NH_SRC,
  RT_DST,
  RT_META,
  RT_META_LIVE,
  RT_META_LOCAL,
  RT_NEXTHOP,
} from "./layout";
import { NexthopPool, nexthopMeta } from "./nexthops";
import { RouteSlots } from "./route-slots";
import { mask32, NONE, PrefixTrie, TABLE_LOCAL, TABLE_MAIN } from "./trie";
import { isU32, type NetbaseWriterOptions, type NetbaseWrites, type ResyncResult, type WriterCore } from "./write-core";

function trieTable(table: number): number {
  return table === RouteTable.local ? TABLE_LOCAL : TABLE_MAIN;
}

export class RouteWriter {
  private readonly v: Int32Array;
  private readonly trie = new PrefixTrie();
  private readonly slots: RouteSlots;
  private readonly dir: Dir248Table;
  private readonly nexthops: NexthopPool;
  private readonly capacity: number;
  private liveRoutes = 0;
  private readonly tableRoutes = [0, 0];
  /** Resync bookkeeping: slots stamped with the current epoch were in the dump. */
  private readonly seen: Uint32Array;
  private epoch = 0;
  /** During resync, interfaces whose addresses changed (derived sources refreshed at the end). */
  private deferredSrcRefresh: Set<number> | null = null;

  constructor(
    private readonly core: WriterCore,
    layout: NetbaseLayout,
    /** Where route sources are derived from. */
    private readonly interfaces: InterfaceWriter,
    unsafe: NetbaseWriterOptions["unsafe"],
  ) {
    this.v = core.v;
    this.capacity = layout.caps.routes;
    this.slots = new RouteSlots(core.v, layout.routesOffset / 4, layout.caps.routes);
    this.seen = new Uint32Array(layout.caps.routes);
    this.nexthops = new NexthopPool(core, layout.nexthopsOffset / 4, layout.caps.nexthops);
    this.dir = new Dir248Table(core, layout, this.trie, this.slots, unsafe);
  }

  /** Adds a route, or replaces the one with the same (table, prefix, metric). Tables other than local
   *  and main, and routes with a TOS, are ignored (counted). False when ignored or dropped. */
  upsert(r: RouteRecord): boolean {
    if (!this.accepted(r)) return this.core.published(false);
    const t = trieTable(r.table);
    const len = r.dstLen;
    const dst = r.dst & mask32(len);
    const metric = r.priority >>> 0;
    const node = this.trie.insert(dst, len);
    const existing = this.findAlternative(node, t, metric);
    const src = this.interfaces.sourceFor(r.prefsrc, r.oif, r.gateway, dst, len);
    if (existing !== NONE) {
      const nh = this.nexthops.acquire(r, src);
      if (nh < 0) return this.core.drop("drop_nexthops_full");
      this.changeNexthop(existing, nh, r.type);
      this.core.count("route_updates");
      return this.core.published(true);
    }
    let full: NetbaseCounter | undefined;
    if (this.liveRoutes >= this.capacity) full = "drop_routes_full";
    else if (len > 24 && !this.dir.ensureGroup(dst >>> 8)) full = "drop_tbl8_full";
    else if (len > 28 && !this.dir.ensureRow(dst)) full = "drop_tbl8_rows_full";
    const nh = full ? -1 : this.nexthops.acquire(r, src);
    if (nh < 0) {
      this.trie.prune(node);
      if (len > 28) this.dir.maybeFreeRow(dst);
      if (len > 24) this.dir.maybeFreeGroup(dst >>> 8);
      return this.core.drop(full ?? "drop_nexthops_full");
    }
    this.add(node, t, dst, len, metric, r.type, nh);
    this.core.count("route_updates");
    return this.core.published(true);
  }

  /** A new route in a free slot (its group and row, if it needs them, are in place). */
  private add(node: number, t: number, dst: number, len: number, metric: number, type: number, nh: number): void {
    const slots = this.slots;
    const id = slots.allocate();
    slots.nh[id] = nh;
    slots.metric[id] = metric;
    slots.type[id] = type;
    slots.dst[id] = dst;
    slots.len[id] = len;
    slots.table[id] = t;
    slots.publish(id, dst, len | (t === TABLE_LOCAL ? RT_META_LOCAL : 0) | RT_META_LIVE, nh);
    const before = this.trie.head(node, t);
    this.insertAlternative(node, t, id);
    if (this.trie.head(node, t) !== before) this.dir.repaint(dst, len, t);
    this.liveRoutes++;
    this.tableRoutes[t]++;
    this.updateCounters();
  }

  /** Deletes the route with the same (table, prefix, metric); its addresses fall back to the next
   *  best covering route. */
  delete(r: RouteRecord): boolean {
    if (!this.accepted(r)) return this.core.published(false);
    const t = trieTable(r.table);
    const dst = r.dst & mask32(r.dstLen);
    const node = this.trie.find(dst, r.dstLen);
    const id = node === NONE ? NONE : this.findAlternative(node, t, r.priority >>> 0);
    if (id === NONE) {
      this.core.count("delete_missing");
      return this.core.published(false);
    }
    this.remove(node, id);
    this.core.count("route_deletes");
    return this.core.published(true);
  }

  private accepted(r: RouteRecord): boolean {
    if (r.table !== RouteTable.local && r.table !== RouteTable.main) {
      this.core.count("ignored_route_table");
      return false;
    }
    if (r.tos !== 0) {
      this.core.count("ignored_route_tos");
      return false;
    }
    const valid =
      Number.isInteger(r.dstLen) &&
      r.dstLen >= 0 &&
      r.dstLen <= 32 &&
      isU32(r.dst) &&
      isU32(r.gateway) &&
      isU32(r.oif) &&
      isU32(r.prefsrc) &&
      isU32(r.priority) &&
      Number.isInteger(r.type) &&
      r.type > 0 &&
      r.type < 256 &&
      Number.isInteger(r.scope) &&
      r.scope >= 0 &&
      r.scope < 256;
    if (!valid) this.core.count("drop_bad_record");
    return valid;
  }

  private remove(node: number, id: number): void {
    const slots = this.slots;
    const t = slots.table[id];
    const dst = slots.dst[id];
    const len = slots.len[id];
    const wasHead = this.trie.head(node, t) === id;
    this.removeAlternative(node, t, id);
    this.trie.prune(node);
    slots.publish(id, 0, 0, 0);
    if (wasHead) this.dir.repaint(dst, len, t);
    if (len > 28) this.dir.maybeFreeRow(dst);
    if (len > 24) this.dir.maybeFreeGroup(dst >>> 8);
    this.nexthops.release(slots.nh[id]);
    slots.release(id);
    this.liveRoutes--;
    this.tableRoutes[t]--;
    this.updateCounters();
  }

  /** Points a route at another nexthop record (gateway replaced, source re-derived). */
  private changeNexthop(id: number, nh: number, type: number): void {
    const slots = this.slots;
    const old = slots.nh[id];
    if (old === nh) {
      this.nexthops.release(nh);
      return;
    }
    slots.nh[id] = nh;
    slots.type[id] = type;
    const t = slots.table[id];
    const dst = slots.dst[id];
    const len = slots.len[id];
    slots.publish(id, dst, len | (t === TABLE_LOCAL ? RT_META_LOCAL : 0) | RT_META_LIVE, nh);
    const node = this.trie.find(dst, len);
    if (this.trie.head(node, t) === id) this.dir.repaint(dst, len, t);
    this.nexthops.release(old);
  }

  /** Removes the routes that leave through a link that is gone (not published: part of its deletion). */
  flushVia(ifindex: number): void {
    const slots = this.slots;
    for (let id = 0; id < slots.highWater; id++) {
      if (!slots.isLive(id)) continue;
      if (this.v[this.nexthops.recordBase(slots.nh[id]) + NH_OIF] !== (ifindex | 0)) continue;
      this.remove(this.trie.find(slots.dst[id], slots.len[id]), id);
      this.core.count("flushed_routes");
    }
  }

  private findAlternative(node: number, t: number, metric: number): number {
    for (let id = this.trie.head(node, t); id !== NONE; id = this.slots.next[id]) {
      if (this.slots.metric[id] === metric) return id;
    }
    return NONE;
  }

  /** Keeps a prefix's alternatives ordered by metric: the head is the kernel's choice. */
  private insertAlternative(node: number, t: number, id: number): void {
    const { metric, next } = this.slots;
    let prev = NONE;
    let cur = this.trie.head(node, t);
    while (cur !== NONE && metric[cur] <= metric[id]) {
      prev = cur;
      cur = next[cur];
    }
    next[id] = cur;
    if (prev === NONE) this.trie.setHead(node, t, id);
    else next[prev] = id;
  }

  private removeAlternative(node: number, t: number, id: number): void {
    const next = this.slots.next;
    let prev = NONE;
    for (let cur = this.trie.head(node, t); cur !== NONE; prev = cur, cur = next[cur]) {
      if (cur !== id) continue;
      if (prev === NONE) this.trie.setHead(node, t, next[cur]);
      else next[prev] = next[cur];
      return;
    }
  }

  // ---- source addresses

  /** After an address change: routes via the interface without prefsrc get their source re-derived
   *  (during a resync, once at its end). */
  refreshDerivedSources(ifindex: number): void {
    if (this.deferredSrcRefresh) {
      this.deferredSrcRefresh.add(ifindex);
      return;
    }
    const v = this.v;
    const slots = this.slots;
    for (let id = 0; id < slots.highWater; id++) {
      if (!slots.isLive(id)) continue;
      const b = this.nexthops.recordBase(slots.nh[id]);
      if (v[b + NH_OIF] !== (ifindex | 0) || v[b + NH_PREFSRC] !== 0) continue;
      const src = this.interfaces.sourceFor(0, ifindex, v[b + NH_GATEWAY], slots.dst[id], slots.len[id]);
      if (src === v[b + NH_SRC] >>> 0) continue;
      const meta = v[b + NH_META];
      const record: RouteRecord = {
        table: (meta >>> 16) & 255,
        type: meta & 255,
        dst: slots.dst[id] >>> 0,
        dstLen: slots.len[id],
        gateway: v[b + NH_GATEWAY] >>> 0,
        oif: ifindex,
        prefsrc: 0,
        priority: v[b + NH_METRIC] >>> 0,
        scope: (meta >>> 8) & 255,
        protocol: meta >>> 24,
        tos: 0,
      };
      const nh = this.nexthops.acquire(record, src);
      if (nh < 0) {
        this.core.count("drop_nexthops_full"); // keeps the old source until a record frees up
        continue;
      }
      this.changeNexthop(id, nh, record.type);
    }
  }

  /** Address changes from here on only mark their interface, until refreshDeferredSources(). */
  deferSourceRefresh(): void {
    this.deferredSrcRefresh = new Set();
  }

  refreshDeferredSources(): void {
    const dirty = this.deferredSrcRefresh;
    this.deferredSrcRefresh = null;
    if (dirty) for (const ifindex of dirty) this.refreshDerivedSources(ifindex);
  }

  // ---- resync

  /** Routes to exactly `routes` (the mirrored ones): unchanged ones are compared with the model
   *  in place (no records built from the region), so a resync costs about one pass over each side. */
  resync(routes: readonly RouteRecord[], result: ResyncResult, writes: NetbaseWrites): void {
    const epoch = ++this.epoch;
    const seen = this.seen;
    // Last to first: of two records with one key, the later one wins (as in a map built in order).
    for (let i = routes.length - 1; i >= 0; i--) {
      const r = routes[i];
      if (!isMirroredRoute(r)) continue;
      let id = this.idOf(r);
      if (id !== NONE && seen[id] === epoch) continue;
      if (id === NONE || !this.holds(id, r)) {
        const existed = id !== NONE;
        if (writes.upsertRoute(r)) result[existed ? "changed" : "added"]++;
        id = this.idOf(r);
      }
      if (id !== NONE) seen[id] = epoch;
    }
    const slots = this.slots;
    const stale: RouteRecord[] = [];
    for (let id = 0; id < slots.highWater; id++) {
      if (!slots.isLive(id) || seen[id] === epoch) continue;
      stale.push({
        table: slots.table[id] === TABLE_LOCAL ? RouteTable.local : RouteTable.main,
        type: slots.type[id],
        dst: slots.dst[id] >>> 0,
        dstLen: slots.len[id],
        gateway: 0,
        oif: 0,
        prefsrc: 0,
        priority: slots.metric[id],
        scope: 0,
        protocol: 0,
        tos: 0,
      });
    }
    for (const r of stale) if (writes.deleteRoute(r)) result.removed++;
  }

  /** The route slot holding r's key (table, prefix, metric), or NONE. */
  private idOf(r: RouteRecord): number {
    const len = r.dstLen;
    if (!Number.isInteger(len) || len < 0 || len > 32) return NONE;
    const node = this.trie.find(r.dst & mask32(len), len);
    if (node === NONE) return NONE;
    return this.findAlternative(node, trieTable(r.table), r.priority >>> 0);
  }

  /** Whether route slot id already gives r's answer (its source is derived the same way). */
  private holds(id: number, r: RouteRecord): boolean {
    const v = this.v;
    const b = this.nexthops.recordBase(this.slots.nh[id]);
    return (
      v[b + NH_META] === nexthopMeta(r) &&
      v[b + NH_GATEWAY] === (r.gateway | 0) &&
      v[b + NH_OIF] === (r.oif | 0) &&
      v[b + NH_PREFSRC] === (r.prefsrc | 0)
    );
  }

  // ---- adoption

  /** Rebuilds the model from the region's route records and nexthop records; then the DIR-24-8
   *  table's groups and rows in use. */
  adopt(now: number): void {
    const v = this.v;
    const slots = this.slots;
    this.nexthops.adoptRecords();
    for (let id = 0; id < this.capacity; id++) {
      const b = slots.recordBase(id);
      const meta = v[b + RT_META];
      if ((meta & RT_META_LIVE) === 0) continue;
      slots.highWater = id + 1;
      const nh = v[b + RT_NEXTHOP];
      const nhBase = this.nexthops.recordBase(nh);
      const t = meta & RT_META_LOCAL ? TABLE_LOCAL : TABLE_MAIN;
      slots.nh[id] = nh;
      slots.metric[id] = v[nhBase + NH_METRIC] >>> 0;
      slots.type[id] = v[nhBase + NH_META] & 255;
      slots.dst[id] = v[b + RT_DST];
      slots.len[id] = meta & 63;
      slots.table[id] = t;
      this.insertAlternative(this.trie.insert(v[b + RT_DST], meta & 63), t, id);
      this.nexthops.adoptRoute(nh);
      this.liveRoutes++;
      this.tableRoutes[t]++;
    }
    slots.rebuildFreeList();
    this.nexthops.adoptDone(now);
    this.dir.adopt(now);
    this.updateCounters();
  }

  private updateCounters(): void {
    this.core.set("routes_main", this.tableRoutes[TABLE_MAIN]);
    this.core.set("routes_local", this.tableRoutes[TABLE_LOCAL]);
  }
}
