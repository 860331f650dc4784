// A full IPv6 table: 230,000 routes shaped like today's (bench/netbase-lookup6.ts), loaded as deltas,
// checked against a per-length reference on destinations inside the routes, then churned (10% of the
// routes deleted and re-added with other gateways) with the answers still exact, and emptied.
import { describe, expect, it } from "vitest";
import { destinations6, realisticRoutes6 } from "../bench/netbase-lookup6";
import { Route6Result } from "../shared/netbase/reader";
import { type Route6Record, RouteType } from "../shared/netmodel";
import { newWriter6 } from "./support/netbase6-helpers";

const COUNT = 230_000;

function keyOf(a: ArrayLike<number>, len: number): string {
  const d: number[] = [];
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - 32 * i));
    d.push(bits === 0 ? 0 : (a[i] & (-1 << (32 - bits))) >>> 0);
  }
  return `${d.join(",")}/${len}`;
}

/** Main-table reference: one map per prefix length (all routes unicast, one metric). */
class Reference6 {
  private readonly byKey = new Map<string, Route6Record>();
  private readonly lens = new Set<number>();
  set(r: Route6Record): void {
    this.byKey.set(keyOf(r.dst, r.dstLen), r);
    this.lens.add(r.dstLen);
  }
  lookup(a: ArrayLike<number>): Route6Record | undefined {
    const lens = [...this.lens].sort((x, y) => y - x);
    for (const len of lens) {
      const r = this.byKey.get(keyOf(a, len));
      if (r && r.type !== RouteType.throw) return r;
    }
    return undefined;
  }
}

describe("netbase IPv6 at 230,000 routes", () => {
  it("loads a full table and answers like the reference, through churn", () => {
    const routes = realisticRoutes6(COUNT);
    const w = newWriter6({ routes6: COUNT + 16 });
    const t0 = performance.now();
    for (const r of routes) expect(w.upsertRoute6(r)).toBe(true);
    const loadMs = performance.now() - t0;
    const c = w.counters();
    expect(c.routes6_main).toBe(COUNT);
    expect(c.drop_lpm6_nodes_full + c.drop_routes6_full + c.drop_nexthops6_full).toBe(0);
    const ref = new Reference6();
    for (const r of routes) ref.set(r);
    const dsts = destinations6(routes, 4096);
    const out = new Route6Result();
    const verify = (): void => {
      for (let i = 0; i < 4096; i++) {
        const a = dsts.subarray(4 * i, 4 * i + 4);
        const want = ref.lookup(a);
        const found = w.reader.lookupRoute6(a[0], a[1], a[2], a[3], out);
        expect(found).toBe(want !== undefined);
        if (want) expect([out.gateway[3], out.ifindex]).toEqual([want.gateway[3], want.oif]);
      }
    };
    verify();
    const agains: Route6Record[] = [];
    for (let i = 1; i < routes.length; i += 10) {
      w.deleteRoute6(routes[i]);
      const again = { ...routes[i], gateway: Uint32Array.of(0xfe800000, 0, 0, 9), oif: 3 };
      w.upsertRoute6(again);
      ref.set(again);
      agains.push(again);
    }
    verify();
    // Routes are (table, prefix, metric, interface): the re-added ones (oif 3) are routes of their own.
    for (const r of [...routes, ...agains]) w.deleteRoute6(r);
    expect(w.counters().lpm6_nodes_used).toBe(0);
    process.stdout.write(`230k IPv6 routes loaded in ${loadMs.toFixed(0)} ms, ${c.lpm6_nodes_used} LPM nodes\n`);
  }, 180_000);
});
