// The region's IPv6 nexthop records (64 bytes: gen, meta, gateway, oif, prefsrc, metric, src): the
// same rules as nexthops.ts. Immutable while referenced, shared by every route with the same answer
// (found by content through a map in the writer's heap), written and published (generation, a full
// fence) before any entry points to them, reused only after the reuse delay.
import { DeferredReuse } from "./deferred-reuse";
import { NH6_GATEWAY, NH6_GEN, NH6_META, NH6_METRIC, NH6_OIF, NH6_PREFSRC, NH6_SRC, NH6_WORDS } from "./layout";
import type { WriterCore } from "./write-core";

/** The content of a record (int32 words), as the writer builds it. */
export class Nexthop6Content {
  meta = 0;
  readonly gateway = new Int32Array(4);
  oif = 0;
  readonly prefsrc = new Int32Array(4);
  metric = 0;
  readonly src = new Int32Array(4);
  key(): string {
    return `${this.meta} ${this.gateway.join(",")} ${this.oif} ${this.prefsrc.join(",")} ${this.metric} ${this.src.join(",")}`;
  }
}

export class Nexthop6Pool {
  private readonly v: Int32Array;
  private readonly ref: Int32Array;
  private readonly freedAt: Float64Array;
  private readonly keys: (string | undefined)[];
  private readonly byKey = new Map<string, number>();
  private readonly reuse = new DeferredReuse();
  private highWater = 0;
  private live = 0;

  constructor(
    private readonly core: WriterCore,
    /** Word index of record 0. */
    private readonly base: number,
    private readonly capacity: number,
  ) {
    this.v = core.v;
    this.ref = new Int32Array(capacity);
    this.freedAt = new Float64Array(capacity);
    this.keys = new Array<string | undefined>(capacity);
  }

  recordBase(nh: number): number {
    return this.base + nh * NH6_WORDS;
  }

  /** A record holding c (shared), or -1 when full. */
  acquire(c: Nexthop6Content): number {
    const key = c.key();
    const found = this.byKey.get(key);
    if (found !== undefined) {
      if (this.ref[found]++ === 0) this.setLive(this.live + 1);
      return found;
    }
    const nh = this.fresh();
    if (nh < 0) return -1;
    const v = this.v;
    const b = this.recordBase(nh);
    Atomics.store(v, b + NH6_GEN, (v[b + NH6_GEN] + 1) | 1);
    v[b + NH6_META] = c.meta;
    v.set(c.gateway, b + NH6_GATEWAY);
    v[b + NH6_OIF] = c.oif;
    v.set(c.prefsrc, b + NH6_PREFSRC);
    v[b + NH6_METRIC] = c.metric;
    v.set(c.src, b + NH6_SRC);
    Atomics.store(v, b + NH6_GEN, (v[b + NH6_GEN] + 1) & ~1); // published before any entry points here
    this.keys[nh] = key;
    this.byKey.set(key, nh);
    this.ref[nh] = 1;
    this.setLive(this.live + 1);
    return nh;
  }

  /** A never used record, or the oldest unreferenced one past the reuse delay (unindexed); -1 if none. */
  private fresh(): number {
    if (this.highWater < this.capacity) return this.highWater++;
    const nh = this.reuse.take(
      this.core.now(),
      this.core.reuseDelayMs,
      (i, at) => this.ref[i] === 0 && this.freedAt[i] === at,
    );
    if (nh < 0) return -1;
    const key = this.keys[nh];
    if (key !== undefined && this.byKey.get(key) === nh) this.byKey.delete(key);
    this.keys[nh] = undefined;
    return nh;
  }

  release(nh: number): void {
    if (--this.ref[nh] > 0) return;
    const at = this.core.now();
    this.freedAt[nh] = at;
    this.reuse.push(nh, at);
    this.setLive(this.live - 1);
  }

  // ---- adoption of a region an earlier writer left: adoptRecords, adoptRoute per route, adoptDone

  /** Indexes every record ever written, by content. */
  adoptRecords(): void {
    const v = this.v;
    for (let nh = 0; nh < this.capacity; nh++) {
      const b = this.recordBase(nh);
      if (v[b + NH6_GEN] === 0) continue;
      this.highWater = nh + 1;
      const w = (at: number): string => v.subarray(b + at, b + at + 4).join(",");
      const key = `${v[b + NH6_META]} ${w(NH6_GATEWAY)} ${v[b + NH6_OIF]} ${w(NH6_PREFSRC)} ${v[b + NH6_METRIC]} ${w(NH6_SRC)}`;
      this.keys[nh] = key;
      if (!this.byKey.has(key)) this.byKey.set(key, nh);
    }
  }

  adoptRoute(nh: number): void {
    if (this.ref[nh]++ === 0) this.live++;
  }

  /** Records no adopted route references wait out the reuse delay from now. */
  adoptDone(now: number): void {
    for (let nh = 0; nh < this.highWater; nh++) {
      if (this.ref[nh] !== 0) continue;
      this.freedAt[nh] = now;
      this.reuse.push(nh, now);
    }
    this.setLive(this.live);
  }

  private setLive(n: number): void {
    this.live = n;
    this.core.set("nexthops6_used", n);
  }
}
