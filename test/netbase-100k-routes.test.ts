// 100,000 routes shaped like an Internet table (mostly /16-/24, some longer, a default route, some
// alternatives by metric) loaded into the region, every answer checked against a reference, then a
// third deleted (answers fall back to covering routes) and restored. (The 1M load is in the bench.)
import { describe, expect, it } from "vitest";
import { destinations, realisticRoutes } from "../bench/netbase-lookup";
import { RouteBatch, RouteResult } from "../shared/netbase/reader";
import { newWriter, ReferenceTable } from "./support/netbase-helpers";

function checkAll(
  lookup: (dst: number, out: RouteResult) => boolean,
  ref: ReferenceTable,
  dsts: Uint32Array,
): { checked: number; wrong: string[] } {
  const out = new RouteResult();
  const wrong: string[] = [];
  for (const dst of dsts) {
    const want = ref.lookup(dst);
    const found = lookup(dst, out);
    const same = want
      ? found && out.gateway === want.gateway && out.metric === want.priority && out.ifindex === want.oif
      : !found;
    if (!same && wrong.length < 5)
      wrong.push(`${dst >>> 0}: want ${want?.gateway} got ${found ? out.gateway : "none"}`);
  }
  return { checked: dsts.length, wrong };
}

describe("netbase with 100,000 routes", () => {
  it("answers like the reference after loading, deleting a third and restoring them", () => {
    const routes = realisticRoutes(100_000, 7);
    const w = newWriter({ routes: 100_016 });
    expect(routes.filter((r) => !w.upsertRoute(r))).toEqual([]);
    const c = w.counters();
    expect(c.routes_main).toBe(100_000);
    expect(c.tbl8_groups_used).toBeGreaterThan(100); // some longer prefixes
    expect(c.nexthops_used).toBeLessThan(16); // shared answers
    const dsts = destinations(routes, 150_000, 3);
    const lookup = (dst: number, out: RouteResult): boolean => w.reader.lookupRoute(dst, out);
    let result = checkAll(lookup, new ReferenceTable(routes), dsts);
    expect(result.wrong).toEqual([]);

    const kept = routes.filter((_, i) => i % 3 !== 1);
    expect(routes.filter((r, i) => i % 3 === 1 && !w.deleteRoute(r))).toEqual([]);
    result = checkAll(lookup, new ReferenceTable(kept), dsts);
    expect(result.wrong).toEqual([]);

    // The batched lookup gives the same answers.
    const batch = new RouteBatch(64);
    const single = new RouteResult();
    let mismatches = 0;
    for (let i = 0; i + 64 <= 64_000; i += 64) {
      w.reader.lookupRoutes(dsts, i, 64, batch);
      for (let j = 0; j < 64; j++) {
        const found = w.reader.lookupRoute(dsts[i + j], single);
        if (found !== (batch.found[j] === 1) || (found && batch.nexthop[j] !== single.nexthop)) mismatches++;
      }
    }
    expect(mismatches).toBe(0);

    expect(routes.filter((r, i) => i % 3 === 1 && !w.upsertRoute(r))).toEqual([]);
    result = checkAll(lookup, new ReferenceTable(routes), dsts.subarray(0, 50_000));
    expect(result.wrong).toEqual([]);
    expect(w.diff({ links: [], addrs: [], routes, neighs: [] })).toEqual([]);
  });
});
