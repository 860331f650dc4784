// The region's IPv6 answer table: a multibit trie with a 16-bit first stride (the root, 2^16 words,
// 256 KiB) then 8-bit strides (nodes of 256 words, 1 KiB, in a fixed pool), prefix-expanded: every
// entry holds the kernel's final answer for its addresses (local table first, `throw` there falls
// through to main, `throw` in main = no route; a nexthop6 record + 1, or 0 for no route) or links the
// node of the next stride (ENTRY_GROUP_FLAG | node).
//
// Why this structure (and not binary search on prefix lengths over hash tables):
// - A lookup is a chain of plain loads with no compare or retry: 1 load for /0-/16, one more per 8
//   bits after that (an Internet mix, mostly /32-/48, is 3-5 loads, the root staying in cache), then
//   one nexthop record. Hash-based searches need ~log2(distinct lengths) probes, each with key
//   compares over 4 words and markers, and a torn-free hash table needs versioned entries.
// - It has the same protocol as the IPv4 DIR-24-8, which the readers and tests already trust: every
//   entry changes with one aligned 32-bit store (old or new answer, never a hole); a node is filled
//   with its parent entry's answer before the one store that links it; a node no longer linked waits
//   out the reuse delay. So a delta update never blackholes and there is nothing to seqlock.
// - Fixed-size nodes live in one preallocated pool of the shared region (no allocator in shared
//   memory), and only the nodes in use touch pages (the region is a memfd).
// - Cost: memory, 1 KiB per node; a full table (~230,000 routes, mostly /32-/48) needs about one
//   node per route (~230 MiB at most, counted by lpm6_nodes_used and capped by lpm6Nodes).
//
// - Measured (bench/netbase-lookup6.ts, 230,000 routes, this 2-core VM): ~15M lookups/s while the
//   nodes in use fit in cache (1,000 routes), but ~1.6M/s one at a time and ~6M/s in batches of 64
//   (lookupRoutes6: one stride per pass, misses overlap) for uniformly random destinations over the
//   whole table: 3 of the 4-5 loads of a /48 miss the cache (IPv4 DIR-24-8 has one). Reaching 10M/s
//   on cold lookups needs a structure whose hot part fits in cache (e.g. a popcount-compressed trie,
//   Poptrie-style, updated copy-on-write): not done yet.
// - Tried and measured, no gain (same VM, load average 2-5, so +-20% noise): a 24-bit root (64 MiB,
//   the /24 level folded into it): single 1.2-1.35M/s, batches 3.6-4.6M/s vs 1.2-1.4M / 4.4-5.7M.
//   The level it removes was already in cache (the routes' /24s cluster under ~100 /16s, so the
//   depth-16 nodes are ~100 KiB); the misses are the deep nodes (depth 24-40, ~250,000 of them) and
//   a wider root leaves their count unchanged. 2 MiB pages: no gain either (1.36M / 5.0-5.2M/s), so
//   TLB misses are not the limit. A branch-free compacted pending list in lookupRoutes6: within noise.
//
// Delta repaint (as DPDK's LPM6): the writer keeps, for every entry, the best route of each table
// that covers it (shadow arrays in its own heap, route id + 1). Adding (or changing the head of) a
// prefix P/len of table t rewrites the entries of P whose table-t route is no longer than len; deleting
// the last route of P/len rewrites the entries whose table-t route has length len (those are P's) with
// the next covering route. Longer prefixes inside P keep their entries; linked nodes are descended.
import { RouteType } from "../netmodel";
import { DeferredReuse } from "./deferred-reuse";
import { ENTRY_GROUP_FLAG, LPM6_NODE_WORDS, LPM6_ROOT_ENTRIES, type NetbaseLayout } from "./layout";
import type { WriterCore } from "./write-core";

const THROW = RouteType.throw;
/** Table index of the shadows. */
export const T6_MAIN = 0;
export const T6_LOCAL = 1;

/** What the LPM needs to know of a route id (owned by the route writer). */
export interface Route6Facts {
  readonly len: Uint8Array;
  readonly type: Uint8Array;
  /** nexthop6 record index. */
  readonly nh: Int32Array;
}

/** Index of the 8-bit stride at bit `depth` of the address (depth 16, 24, ..., 120). */
export function strideIndex(a: ArrayLike<number>, depth: number): number {
  return (a[depth >>> 5] >>> (24 - (depth & 31))) & 255;
}

export class Lpm6Table {
  private readonly v: Int32Array;
  /** Word index of root entry 0; node n's entries follow at base + 2^16 + 256 n (global entry g = word base + g). */
  private readonly base: number;
  private readonly capacity: number;
  private readonly shadow: [Int32Array, Int32Array];
  private readonly nodeInner: Int32Array;
  private readonly nodeParent: Int32Array;
  private readonly reuse = new DeferredReuse();
  private highWater = 0;
  used = 0;

  constructor(
    private readonly core: WriterCore,
    layout: NetbaseLayout,
    private readonly routes: Route6Facts,
  ) {
    if (layout.lpm6NodesOffset !== layout.lpm6RootOffset + LPM6_ROOT_ENTRIES * 4)
      throw new Error("netbase: lpm6 nodes must follow the root");
    this.v = core.v;
    this.base = layout.lpm6RootOffset / 4;
    this.capacity = layout.caps.lpm6Nodes;
    const entries = LPM6_ROOT_ENTRIES + this.capacity * LPM6_NODE_WORDS;
    // Zero = no route: untouched pages of these arrays are never committed.
    this.shadow = [new Int32Array(entries), new Int32Array(entries)];
    this.nodeInner = new Int32Array(this.capacity);
    this.nodeParent = new Int32Array(this.capacity);
  }

  /** Global entry index of node n's first entry. */
  private nodeStart(n: number): number {
    return LPM6_ROOT_ENTRIES + n * LPM6_NODE_WORDS;
  }

  /** The nodes on dst/len's path (depth 16, 24, ... below len), created when absent. A new prefix
   *  counts in each. False when the pool is exhausted (nothing changed then). */
  addPrefix(dst: Uint32Array, len: number): boolean {
    const created: number[] = [];
    let g = dst[0] >>> 16;
    for (let depth = 16; depth < len; depth += 8) {
      const existed = this.v[this.base + g] < 0;
      const n = this.ensureNode(g);
      if (n < 0) {
        for (let i = created.length - 1; i >= 0; i--) this.fold(created[i]);
        return false;
      }
      if (!existed) created.push(n);
      g = this.nodeStart(n) + strideIndex(dst, depth);
    }
    g = dst[0] >>> 16;
    for (let depth = 16; depth < len; depth += 8) {
      const n = this.v[this.base + g] & ~ENTRY_GROUP_FLAG;
      this.nodeInner[n]++;
      g = this.nodeStart(n) + strideIndex(dst, depth);
    }
    return true;
  }

  /** A prefix (already repainted away) is gone: nodes holding no longer prefix fold, deepest first. */
  removePrefix(dst: Uint32Array, len: number): void {
    const path: number[] = [];
    let g = dst[0] >>> 16;
    for (let depth = 16; depth < len; depth += 8) {
      const e = this.v[this.base + g];
      if (e >= 0) throw new Error("netbase: internal error: lpm6 path without node");
      const n = e & ~ENTRY_GROUP_FLAG;
      this.nodeInner[n]--;
      path.push(n);
      g = this.nodeStart(n) + strideIndex(dst, depth);
    }
    for (let i = path.length - 1; i >= 0; i--) if (this.nodeInner[path[i]] === 0) this.fold(path[i]);
  }

  /** The node linked from entry g, or a new one holding g's answer, linked by one store; -1 when full. */
  private ensureNode(g: number): number {
    const v = this.v;
    const cur = v[this.base + g];
    if (cur < 0) return cur & ~ENTRY_GROUP_FLAG;
    let n = this.highWater < this.capacity ? this.highWater++ : -1;
    if (n < 0) n = this.reuse.take(this.core.now(), this.core.reuseDelayMs, () => true);
    if (n < 0) return -1;
    const s = this.nodeStart(n);
    v.fill(cur, this.base + s, this.base + s + LPM6_NODE_WORDS);
    for (const sh of this.shadow) sh.fill(sh[g], s, s + LPM6_NODE_WORDS);
    this.nodeInner[n] = 0;
    this.nodeParent[n] = g;
    Atomics.store(v, this.base + g, n | ENTRY_GROUP_FLAG | 0); // after the node's words (full fence)
    this.used++;
    this.core.set("lpm6_nodes_used", this.used);
    return n;
  }

  /** Parent entry := the node's (uniform) answer, one store; the node waits out the reuse delay. */
  private fold(n: number): void {
    const s = this.nodeStart(n);
    const g = this.nodeParent[n];
    for (const sh of this.shadow) sh[g] = sh[s];
    Atomics.store(this.v, this.base + g, this.v[this.base + s]);
    this.reuse.push(n, this.core.now());
    this.used--;
    this.core.set("lpm6_nodes_used", this.used);
  }

  /**
   * Table t's best route at exactly dst/len is now `route` (id, or -1): with replaceShorter, entries
   * whose table-t route is no longer than len take it (an added or changed head); otherwise only
   * entries whose table-t route has length len (the prefix's last route was deleted; `route` is the
   * next covering one). The prefix's nodes exist (addPrefix before, removePrefix after).
   */
  paint(dst: Uint32Array, len: number, t: number, route: number, replaceShorter: boolean, store = true): void {
    let start = 0;
    let depth = 0;
    let span = 16;
    let g = dst[0] >>> 16;
    for (let d = 16; d < len; d += 8) {
      const e = this.v[this.base + g];
      if (e >= 0) throw new Error("netbase: internal error: lpm6 prefix without node");
      start = this.nodeStart(e & ~ENTRY_GROUP_FLAG);
      depth = d;
      span = 8;
      g = start + strideIndex(dst, d);
    }
    const free = depth + span - len; // bits of the stride the prefix leaves free
    const first = depth === 0 ? (dst[0] >>> 16) & ~((1 << free) - 1) : g - start;
    const from = depth === 0 ? first : start + (first & ~((1 << free) - 1));
    this.paintRange(from, 1 << free, t, route + 1, len, replaceShorter, store);
  }

  private paintRange(
    from: number,
    count: number,
    t: number,
    rid: number,
    len: number,
    shorter: boolean,
    store: boolean,
  ): void {
    const v = this.v;
    const sh = this.shadow[t];
    const rlen = this.routes.len;
    for (let g = from; g < from + count; g++) {
      const e = v[this.base + g];
      if (e < 0) {
        this.paintRange(this.nodeStart(e & ~ENTRY_GROUP_FLAG), LPM6_NODE_WORDS, t, rid, len, shorter, store);
        continue;
      }
      const cur = sh[g];
      const curLen = cur === 0 ? -1 : rlen[cur - 1];
      if (shorter ? curLen > len : curLen !== len) continue;
      sh[g] = rid;
      if (!store) continue;
      const answer = this.answer(this.shadow[T6_MAIN][g], this.shadow[T6_LOCAL][g]);
      if (answer !== e) v[this.base + g] = answer; // one aligned 32-bit store: old or new answer
    }
  }

  /**
   * A region an earlier writer left: finds the nodes in use (linked from the root, down), counts the
   * prefixes in each, and rebuilds the shadows by replaying the prefixes shortest first without
   * writing the region (its answers are already right). Unlinked nodes wait out the reuse delay.
   */
  adopt(now: number, prefixes: { dst: Uint32Array; len: number; head: [number, number] }[]): void {
    const v = this.v;
    const linked = new Uint8Array(this.capacity);
    const stack: number[] = [];
    const visit = (g: number): void => {
      const e = v[this.base + g];
      if (e >= 0) return;
      const n = e & ~ENTRY_GROUP_FLAG;
      linked[n] = 1;
      this.nodeParent[n] = g;
      this.highWater = Math.max(this.highWater, n + 1);
      this.used++;
      stack.push(n);
    };
    for (let g = 0; g < LPM6_ROOT_ENTRIES; g++) visit(g);
    while (stack.length > 0) {
      const s = this.nodeStart(stack.pop() as number);
      for (let g = s; g < s + LPM6_NODE_WORDS; g++) visit(g);
    }
    for (let n = 0; n < this.highWater; n++) if (!linked[n]) this.reuse.push(n, now);
    const sorted = [...prefixes].sort((a, b) => a.len - b.len);
    for (const p of sorted) {
      let g = p.dst[0] >>> 16;
      for (let depth = 16; depth < p.len; depth += 8) {
        const e = v[this.base + g];
        if (e >= 0) throw new Error("netbase: adopted IPv6 route without its LPM node");
        this.nodeInner[e & ~ENTRY_GROUP_FLAG]++;
        g = this.nodeStart(e & ~ENTRY_GROUP_FLAG) + strideIndex(p.dst, depth);
      }
      for (const t of [T6_MAIN, T6_LOCAL]) if (p.head[t] >= 0) this.paint(p.dst, p.len, t, p.head[t], true, false);
    }
    this.core.set("lpm6_nodes_used", this.used);
  }

  /** The lookup's answer for entries whose best routes are main/local (route id + 1, 0 = none). */
  private answer(main: number, local: number): number {
    const r = this.routes;
    if (local !== 0 && r.type[local - 1] !== THROW) return r.nh[local - 1] + 1;
    if (main !== 0 && r.type[main - 1] !== THROW) return r.nh[main - 1] + 1;
    return 0;
  }
}
