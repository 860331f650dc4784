// The region's answer table, DIR-24-8: tbl24 (one word per /24) and tbl8 groups (16 words per /24
// block that holds longer prefixes, one per /28) with tbl8 rows (16 words per /28 that holds longer
// ones). Every entry holds the kernel's final answer for its addresses (local table first, `throw`
// falls through to main, `throw` in main = no route): a nexthop record + 1, or 0 for no route.
//
// A route change repaints only the addresses it governs (its prefix minus more specific prefixes of
// the same table, which keep their own answer), each entry with a single 32-bit store, so a reader
// sees the old or the new answer and never a hole. A group or row is filled before the one store
// that links it, and one no longer linked waits out the reuse delay before it is reused.
import { RouteType } from "../netmodel";
import { DeferredReuse } from "./deferred-reuse";
import {
  ENTRY_GROUP_FLAG,
  type NetbaseCapacities,
  type NetbaseLayout,
  TBL8_GROUP_WORDS,
  TBL8_ROW_WORDS,
  TBL24_ENTRIES,
} from "./layout";
import type { RouteSlots } from "./route-slots";
import { busyDelay } from "./seqtable";
import {
  bitAt,
  mask32,
  N_CHILD0,
  N_CHILD1,
  N_HEAD_LOCAL,
  N_HEAD_MAIN,
  N_KEY,
  N_LEN,
  NONE,
  type PrefixTrie,
} from "./trie";
import type { NetbaseWriterOptions, WriterCore } from "./write-core";

const THROW = RouteType.throw;

export class Dir248Table {
  private readonly v: Int32Array;
  private readonly tbl24: number;
  private readonly tbl8: number;
  private readonly rowsBase: number;
  private readonly caps: NetbaseCapacities;
  private readonly clearThenFill: boolean;
  private readonly fillDelay: number;

  // tbl8 groups.
  private readonly groupReuse = new DeferredReuse();
  private groupHighWater = 0;
  private groupsUsed = 0;
  // tbl8 rows (the group word of a /28 links one while the /28 holds a longer prefix).
  private readonly rowReuse = new DeferredReuse();
  private rowHighWater = 0;
  private rowsUsed = 0;
  /** One bit per /24 block: set while the block's tbl24 word links a group. */
  private readonly groupBits = new Uint32Array(TBL24_ENTRIES / 32);

  constructor(
    private readonly core: WriterCore,
    layout: NetbaseLayout,
    /** The route model the answers are painted from. */
    private readonly trie: PrefixTrie,
    private readonly routes: RouteSlots,
    unsafe: NetbaseWriterOptions["unsafe"],
  ) {
    this.v = core.v;
    this.caps = layout.caps;
    this.tbl24 = layout.tbl24Offset / 4;
    this.tbl8 = layout.tbl8Offset / 4;
    this.rowsBase = layout.tbl8RowsOffset / 4;
    this.clearThenFill = unsafe?.routeClearThenFill ?? false;
    this.fillDelay = unsafe?.writeDelay ?? 0;
  }

  // ---- painting

  /** The answer a lookup must give for addresses whose best routes are bestMain/bestLocal. */
  private answer(bestMain: number, bestLocal: number): number {
    const routes = this.routes;
    if (bestLocal !== NONE && routes.type[bestLocal] !== THROW) return routes.nh[bestLocal] + 1;
    if (bestMain !== NONE && routes.type[bestMain] !== THROW) return routes.nh[bestMain] + 1;
    return 0;
  }

  /** Rewrites the answers of dst/len after table t changed at exactly that prefix. */
  repaint(dst: number, len: number, t: number): void {
    const nodes = this.trie.nodes;
    let bestMain = NONE;
    let bestLocal = NONE;
    let sub = NONE;
    // Best routes of both tables covering dst/len from above; `sub` = the node at or under it.
    for (let n = this.trie.root; n !== NONE; ) {
      const l = nodes[n + N_LEN];
      if (l >= len) {
        if (((nodes[n + N_KEY] ^ dst) & mask32(len)) === 0) sub = n;
        break;
      }
      if (((nodes[n + N_KEY] ^ dst) & mask32(l)) !== 0) break;
      if (nodes[n + N_HEAD_MAIN] !== NONE) bestMain = nodes[n + N_HEAD_MAIN];
      if (nodes[n + N_HEAD_LOCAL] !== NONE) bestLocal = nodes[n + N_HEAD_LOCAL];
      n = nodes[n + N_CHILD0 + bitAt(dst, l)];
    }
    this.paint(dst, len, bestMain, bestLocal, sub, t, len);
  }

  /**
   * Paints prefix/len, where `sub` is the trie node at or below it (or NONE) and bestMain/bestLocal
   * the best routes covering it. A node below the changed prefix that has routes of the changed
   * table keeps its answers (the change does not reach them), so its subtree is skipped.
   */
  private paint(
    prefix: number,
    len: number,
    bestMain: number,
    bestLocal: number,
    sub: number,
    t: number,
    changedLen: number,
  ): void {
    if (sub === NONE) {
      this.fill(prefix, len, this.answer(bestMain, bestLocal));
      return;
    }
    const nodes = this.trie.nodes;
    const half = (1 << (31 - len)) | 0;
    if (nodes[sub + N_LEN] === len) {
      if (len > changedLen && this.trie.head(sub, t) !== NONE) return;
      if (nodes[sub + N_HEAD_MAIN] !== NONE) bestMain = nodes[sub + N_HEAD_MAIN];
      if (nodes[sub + N_HEAD_LOCAL] !== NONE) bestLocal = nodes[sub + N_HEAD_LOCAL];
      const c0 = nodes[sub + N_CHILD0];
      const c1 = nodes[sub + N_CHILD1];
      if (c0 === NONE && c1 === NONE) {
        this.fill(prefix, len, this.answer(bestMain, bestLocal));
        return;
      }
      this.paint(prefix, len + 1, bestMain, bestLocal, c0, t, changedLen);
      this.paint(prefix | half, len + 1, bestMain, bestLocal, c1, t, changedLen);
      return;
    }
    // The next node is deeper: the half without it has one answer.
    if (bitAt(nodes[sub + N_KEY], len)) {
      this.fill(prefix, len + 1, this.answer(bestMain, bestLocal));
      this.paint(prefix | half, len + 1, bestMain, bestLocal, sub, t, changedLen);
    } else {
      this.paint(prefix, len + 1, bestMain, bestLocal, sub, t, changedLen);
      this.fill(prefix | half, len + 1, this.answer(bestMain, bestLocal));
    }
  }

  /** Sets the answer of every address in prefix/len (one 32-bit store per entry). A /24 block with a
   *  tbl8 group that this covers whole has no longer prefix left: its group is folded back. */
  private fill(prefix: number, len: number, value: number): void {
    if (len > 24) {
      this.fillInBlock(prefix, len, value);
      return;
    }
    const end = (prefix >>> 8) + (1 << (24 - len));
    let from = prefix >>> 8;
    if (this.groupsUsed > 0) {
      for (let b = this.nextGroupBlock(from, end); b >= 0; b = this.nextGroupBlock(from, end)) {
        this.fillWords(this.tbl24 + from, this.tbl24 + b, value);
        this.foldGroup(b, value);
        from = b + 1;
      }
    }
    this.fillWords(this.tbl24 + from, this.tbl24 + end, value);
  }

  /** fill() inside a /24 block's group: whole /28 rows (folding the rows it covers: no longer prefix
   *  is left in a range painted with one answer), or addresses of one row. */
  private fillInBlock(prefix: number, len: number, value: number): void {
    const v = this.v;
    const e = v[this.tbl24 + (prefix >>> 8)];
    if (e >= 0) throw new Error(`netbase: internal error: no tbl8 group for ${prefix >>> 0}/${len}`);
    const group = this.tbl8 + (e & ~ENTRY_GROUP_FLAG) * TBL8_GROUP_WORDS;
    const r = (prefix >>> 4) & 15;
    if (len <= 28) {
      const end = r + (1 << (28 - len));
      for (let w = group + r; w < group + end; w++) if (v[w] < 0) this.foldRow(w, value);
      this.fillWords(group + r, group + end, value);
      return;
    }
    const row = v[group + r];
    if (row >= 0) throw new Error(`netbase: internal error: no tbl8 row for ${prefix >>> 0}/${len}`);
    const base = this.rowsBase + (row & ~ENTRY_GROUP_FLAG) * TBL8_ROW_WORDS + (prefix & 15);
    this.fillWords(base, base + (1 << (32 - len)), value);
  }

  /** Words [from, to) := value. Long runs use TypedArray.fill (aligned stores, so each 32-bit entry
   *  changes at once: a reader sees the old or the new answer). */
  private fillWords(from: number, to: number, value: number): void {
    const v = this.v;
    if (this.clearThenFill) for (let i = from; i < to; i++) v[i] = 0; // TEST ONLY: the broken rebuild
    if (this.fillDelay > 0) busyDelay(this.fillDelay); // TEST ONLY
    if (to - from > 64) v.fill(value, from, to);
    else for (let i = from; i < to; i++) if (v[i] !== value) v[i] = value;
  }

  /** First block in [from, to) that has a tbl8 group, or -1. */
  private nextGroupBlock(from: number, to: number): number {
    const bits = this.groupBits;
    let b = from;
    while (b < to) {
      const w = bits[b >>> 5] >>> (b & 31);
      if (w === 0) {
        b = ((b >>> 5) + 1) << 5;
        continue;
      }
      const found = b + 31 - Math.clz32(w & -w);
      return found < to ? found : -1;
    }
    return -1;
  }

  // ---- tbl8 groups and rows

  /** A tbl8 group for the /24 block, holding the block's current answer, published by one store. */
  ensureGroup(block: number): boolean {
    const v = this.v;
    const at = this.tbl24 + block;
    const cur = v[at];
    if (cur < 0) return true;
    let g = this.groupHighWater < this.caps.tbl8Groups ? this.groupHighWater++ : -1;
    if (g < 0) g = this.groupReuse.take(this.core.now(), this.core.reuseDelayMs, () => true);
    if (g < 0) return false;
    const base = this.tbl8 + g * TBL8_GROUP_WORDS;
    v.fill(cur, base, base + TBL8_GROUP_WORDS);
    Atomics.store(v, at, g | ENTRY_GROUP_FLAG | 0); // after the group's words (full fence)
    this.groupBits[block >>> 5] |= 1 << (block & 31);
    this.groupsUsed++;
    this.core.set("tbl8_groups_used", this.groupsUsed);
    return true;
  }

  /** Folds a block's group back into tbl24 once no prefix longer than /24 remains in it. */
  maybeFreeGroup(block: number): void {
    const cur = this.v[this.tbl24 + block];
    if (cur >= 0) return;
    const top = this.trie.subtreeTop(block << 8, 24);
    const nodes = this.trie.nodes;
    if (top !== NONE && (nodes[top + N_LEN] > 24 || nodes[top + N_CHILD0] !== NONE || nodes[top + N_CHILD1] !== NONE))
      return;
    // No longer prefix: the whole block has one answer, already in every word of the group.
    this.foldGroup(block, this.v[this.tbl8 + (cur & ~ENTRY_GROUP_FLAG) * TBL8_GROUP_WORDS]);
  }

  /** A tbl8 row for dst's /28 (its block has a group), holding the /28's current answer. */
  ensureRow(dst: number): boolean {
    const v = this.v;
    const at = this.tbl8 + (v[this.tbl24 + (dst >>> 8)] & ~ENTRY_GROUP_FLAG) * TBL8_GROUP_WORDS + ((dst >>> 4) & 15);
    const cur = v[at];
    if (cur < 0) return true;
    let q = this.rowHighWater < this.caps.tbl8Rows ? this.rowHighWater++ : -1;
    if (q < 0) q = this.rowReuse.take(this.core.now(), this.core.reuseDelayMs, () => true);
    if (q < 0) return false;
    const base = this.rowsBase + q * TBL8_ROW_WORDS;
    v.fill(cur, base, base + TBL8_ROW_WORDS);
    Atomics.store(v, at, q | ENTRY_GROUP_FLAG | 0); // after the row's words (full fence)
    this.rowsUsed++;
    this.core.set("tbl8_rows_used", this.rowsUsed);
    return true;
  }

  /** Folds dst's /28 row back into its group word once no prefix longer than /28 remains in it. */
  maybeFreeRow(dst: number): void {
    const v = this.v;
    const e = v[this.tbl24 + (dst >>> 8)];
    if (e >= 0) return;
    const at = this.tbl8 + (e & ~ENTRY_GROUP_FLAG) * TBL8_GROUP_WORDS + ((dst >>> 4) & 15);
    const row = v[at];
    if (row >= 0) return;
    const top = this.trie.subtreeTop(dst & ~15, 28);
    const nodes = this.trie.nodes;
    if (top !== NONE && (nodes[top + N_LEN] > 28 || nodes[top + N_CHILD0] !== NONE || nodes[top + N_CHILD1] !== NONE))
      return;
    this.foldRow(at, v[this.rowsBase + (row & ~ENTRY_GROUP_FLAG) * TBL8_ROW_WORDS]);
  }

  /** group word at := value (one store); the row waits out the reuse delay (a reader may be in it). */
  private foldRow(at: number, value: number): void {
    const q = this.v[at] & ~ENTRY_GROUP_FLAG;
    Atomics.store(this.v, at, value);
    this.rowReuse.push(q, this.core.now());
    this.rowsUsed--;
    this.core.set("tbl8_rows_used", this.rowsUsed);
  }

  /** tbl24[block] := value (one store); the group waits out the reuse delay (a reader may be in it). */
  private foldGroup(block: number, value: number): void {
    const at = this.tbl24 + block;
    const g = this.v[at] & ~ENTRY_GROUP_FLAG;
    Atomics.store(this.v, at, value);
    const base = this.tbl8 + g * TBL8_GROUP_WORDS;
    for (let w = base; w < base + TBL8_GROUP_WORDS; w++) if (this.v[w] < 0) this.foldRow(w, value);
    this.groupBits[block >>> 5] &= ~(1 << (block & 31));
    this.groupReuse.push(g, this.core.now());
    this.groupsUsed--;
    this.core.set("tbl8_groups_used", this.groupsUsed);
  }

  /** Groups and rows in use, found from the adopted routes longer than /24 and /28 (only those can
   *  link one). The unlinked ones below the highest in use may still be read by a slow reader: they
   *  wait out the reuse delay. */
  adopt(now: number): void {
    const v = this.v;
    const routes = this.routes;
    const usedGroups = new Uint8Array(this.caps.tbl8Groups);
    const usedRows = new Uint8Array(this.caps.tbl8Rows);
    for (let id = 0; id < routes.highWater; id++) {
      if (!routes.isLive(id) || routes.len[id] <= 24) continue;
      const dst = routes.dst[id];
      const block = dst >>> 8;
      const e = v[this.tbl24 + block];
      if (e >= 0) continue;
      const g = e & ~ENTRY_GROUP_FLAG;
      if (!usedGroups[g]) {
        usedGroups[g] = 1;
        this.groupBits[block >>> 5] |= 1 << (block & 31);
        this.groupHighWater = Math.max(this.groupHighWater, g + 1);
        this.groupsUsed++;
      }
      const row = v[this.tbl8 + g * TBL8_GROUP_WORDS + ((dst >>> 4) & 15)];
      if (routes.len[id] <= 28 || row >= 0 || usedRows[row & ~ENTRY_GROUP_FLAG]) continue;
      usedRows[row & ~ENTRY_GROUP_FLAG] = 1;
      this.rowHighWater = Math.max(this.rowHighWater, (row & ~ENTRY_GROUP_FLAG) + 1);
      this.rowsUsed++;
    }
    for (let g = 0; g < this.groupHighWater; g++) if (!usedGroups[g]) this.groupReuse.push(g, now);
    for (let q = 0; q < this.rowHighWater; q++) if (!usedRows[q]) this.rowReuse.push(q, now);
    this.core.set("tbl8_groups_used", this.groupsUsed);
    this.core.set("tbl8_rows_used", this.rowsUsed);
  }
}
