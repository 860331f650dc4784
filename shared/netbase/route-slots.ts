// The routes as slots: per route id, the writer's model of the route (struct of arrays in its own
// heap) and the route's record in the region (RT_*, what `netbase show` and a restarted writer read).
// A record is written under its own seqlock: the sequence word is odd while it changes.
import { RT_DST, RT_META, RT_META_LIVE, RT_NEXTHOP, RT_SEQ, RT_WORDS } from "./layout";

export class RouteSlots {
  /** Nexthop record giving the route's answer. */
  readonly nh: Int32Array;
  /** Next alternative of the same (table, prefix), by metric (NONE ends the list). */
  readonly next: Int32Array;
  readonly metric: Float64Array;
  readonly type: Uint8Array;
  readonly dst: Int32Array;
  readonly len: Uint8Array;
  /** TABLE_MAIN or TABLE_LOCAL. */
  readonly table: Uint8Array;
  /** One past the highest slot ever used. */
  highWater = 0;
  private readonly free: Int32Array;
  private freeTop = 0;

  constructor(
    private readonly v: Int32Array,
    /** Word index of the region's route record 0. */
    private readonly base: number,
    capacity: number,
  ) {
    this.nh = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    this.metric = new Float64Array(capacity);
    this.type = new Uint8Array(capacity);
    this.dst = new Int32Array(capacity);
    this.len = new Uint8Array(capacity);
    this.table = new Uint8Array(capacity);
    this.free = new Int32Array(capacity);
  }

  allocate(): number {
    return this.freeTop > 0 ? this.free[--this.freeTop] : this.highWater++;
  }

  release(id: number): void {
    this.free[this.freeTop++] = id;
  }

  /** Word index of slot id's record in the region. */
  recordBase(id: number): number {
    return this.base + id * RT_WORDS;
  }

  isLive(id: number): boolean {
    return (this.v[this.base + id * RT_WORDS + RT_META] & RT_META_LIVE) !== 0;
  }

  /** Writes slot id's region record (meta 0 frees it). */
  publish(id: number, dst: number, meta: number, nh: number): void {
    const v = this.v;
    const b = this.base + id * RT_WORDS;
    Atomics.store(v, b + RT_SEQ, (v[b + RT_SEQ] + 1) | 1);
    v[b + RT_DST] = dst;
    v[b + RT_META] = meta;
    v[b + RT_NEXTHOP] = nh;
    Atomics.store(v, b + RT_SEQ, (v[b + RT_SEQ] + 1) & ~1);
  }

  /** After adoption: the free slots below the high-water mark, lowest handed out first. */
  rebuildFreeList(): void {
    for (let id = this.highWater - 1; id >= 0; id--) if (!this.isLive(id)) this.free[this.freeTop++] = id;
  }
}
