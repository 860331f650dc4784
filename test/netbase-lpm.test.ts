// Route lookups against a brute-force model of the kernel (local then main, longest prefix, lowest
// metric, throw), through random add/delete/replace sequences, and the capacity limits.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { ipToString, prefixMask, type RouteRecord, RouteType } from "../shared/netmodel";
import { ip, newWriter, referenceLookup, route } from "./support/netbase-helpers";

function describeRoute(r: RouteRecord | undefined): string {
  if (!r) return "none";
  return `${r.table} ${ipToString(r.dst)}/${r.dstLen} m${r.priority} t${r.type} gw ${ipToString(r.gateway)} oif ${r.oif}`;
}

function describeAnswer(found: boolean, out: RouteResult): string {
  if (!found) return "none";
  return `${out.table} m${out.metric} t${out.type} gw ${ipToString(out.gateway)} oif ${out.ifindex}`;
}

function expectSameAnswer(w: NetbaseWriter, routes: Map<string, RouteRecord>, addr: number, out: RouteResult): void {
  const want = referenceLookup(routes.values(), addr);
  const found = w.reader.lookupRoute(addr, out);
  const ok =
    want === undefined
      ? !found
      : found &&
        out.table === want.table &&
        out.metric === want.priority &&
        out.type === want.type &&
        out.gateway === want.gateway &&
        out.ifindex === want.oif &&
        out.nexthop === (want.gateway !== 0 ? want.gateway : addr >>> 0);
  if (!ok) {
    throw new Error(
      `lookup ${ipToString(addr)}: netbase says ${describeAnswer(found, out)}, kernel rules say ${describeRoute(want)}`,
    );
  }
}

const key = (r: RouteRecord): string => `${r.table} ${r.dst}/${r.dstLen} ${r.priority}`;

// A small address universe so that prefixes nest and collide often.
const octet3 = fc.constantFrom(0, 1, 2, 255);
// Around /28 row boundaries too (16, 32, ...): tbl8 groups link rows for prefixes longer than /28.
const octet4 = fc.constantFrom(0, 1, 15, 16, 17, 127, 128, 129, 200, 240, 255);
const addrArb = fc
  .tuple(fc.constantFrom(10, 192), fc.constantFrom(0, 1), octet3, octet4)
  .map(([a, b, c, d]) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0);
// Short prefixes repaint millions of entries: keep them rarer so the property stays fast.
const lenArb = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 8) },
  { weight: 8, arbitrary: fc.constantFrom(15, 16, 23, 24, 25, 26, 28, 29, 30, 31, 32) },
);
const typeArb = fc.constantFrom(
  RouteType.unicast,
  RouteType.unicast,
  RouteType.unicast,
  RouteType.unicast,
  RouteType.throw,
  RouteType.blackhole,
  RouteType.unreachable,
  RouteType.prohibit,
  RouteType.local,
  RouteType.broadcast,
);
const routeArb = fc
  .record({
    table: fc.constantFrom(254, 254, 254, 255),
    dst: addrArb,
    dstLen: lenArb,
    priority: fc.constantFrom(0, 10, 100),
    type: typeArb,
    gateway: fc.constantFrom(0, 0x0a000001, 0x0a000002, 0xc0a80001),
    oif: fc.constantFrom(1, 2, 3),
  })
  .map((r) => route({ ...r, dst: (r.dst & prefixMask(r.dstLen)) >>> 0 }));

type Op =
  | { kind: "add"; route: RouteRecord }
  | { kind: "delete"; pick: number }
  | { kind: "replace"; pick: number; gateway: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: routeArb.map((r): Op => ({ kind: "add", route: r })) },
  { weight: 3, arbitrary: fc.nat().map((pick): Op => ({ kind: "delete", pick })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(), fc.constantFrom(0, 0x0a000003, 0x0a000004))
      .map(([pick, gateway]): Op => ({ kind: "replace", pick, gateway })),
  },
);

/** Probe points: every prefix's first and last address and their neighbors, plus the universe. */
function probes(routes: Iterable<RouteRecord>, extra: number[]): number[] {
  const out = new Set<number>(extra);
  for (const r of routes) {
    const first = (r.dst & prefixMask(r.dstLen)) >>> 0;
    const last = (first + 2 ** (32 - r.dstLen) - 1) >>> 0;
    for (const a of [first, last, (first - 1) >>> 0, (last + 1) >>> 0, (first + 1) >>> 0]) out.add(a);
  }
  return [...out];
}

describe("netbase longest-prefix match", () => {
  const caps = { routes: 512, neighbors: 16, interfaces: 4 };
  const shared = new ArrayBuffer(netbaseRegionSize(caps));
  const universe = [ip("10.0.0.0"), ip("10.1.2.128"), ip("192.1.255.255"), ip("1.2.3.4"), ip("255.255.255.255"), 0];

  it("matches the kernel's rules through random add/delete/replace sequences", () => {
    let dirty = true;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        // A run that ends cleanly leaves the region empty (checked below): the next one reuses it.
        if (dirty) initNetbase(shared, caps);
        dirty = true;
        const w = new NetbaseWriter(shared);
        const model = new Map<string, RouteRecord>();
        const out = new RouteResult();
        for (const op of ops) {
          const live = [...model.values()];
          if (op.kind === "add") {
            expect(w.upsertRoute(op.route)).toBe(true);
            model.set(key(op.route), op.route);
          } else if (live.length > 0) {
            const victim = live[op.pick % live.length];
            if (op.kind === "delete") {
              expect(w.deleteRoute(victim)).toBe(true);
              model.delete(key(victim));
            } else {
              const replaced = { ...victim, gateway: op.gateway };
              expect(w.upsertRoute(replaced)).toBe(true);
              model.set(key(replaced), replaced);
            }
          }
          for (const a of probes(model.values(), universe)) expectSameAnswer(w, model, a, out);
        }
        // Deleting everything leaves no answer, no tbl8 group and no nexthop in use.
        for (const r of [...model.values()]) expect(w.deleteRoute(r)).toBe(true);
        model.clear();
        for (const a of probes([], universe)) expect(w.reader.lookupRoute(a, out)).toBe(false);
        const c = w.counters();
        expect([c.routes_main, c.routes_local, c.tbl8_groups_used, c.nexthops_used]).toEqual([0, 0, 0, 0]);
        dirty = false;
      }),
      { numRuns: 120 },
    );
  });

  it("applies the kernel's table order, metrics and throw", () => {
    const w = newWriter({ routes: 64 });
    const out = new RouteResult();
    const def = route({ dst: 0, dstLen: 0, gateway: ip("10.0.0.1"), oif: 2 });
    w.upsertRoute(def);
    // local table wins even with a shorter prefix
    w.upsertRoute(route({ table: 255, type: RouteType.local, dst: ip("127.0.0.0"), dstLen: 8, oif: 1 }));
    w.upsertRoute(route({ dst: ip("127.0.0.1"), dstLen: 32, gateway: ip("10.0.0.9") }));
    expect(w.reader.lookupRoute(ip("127.0.0.1"), out)).toBe(true);
    expect([out.type, out.table, out.nexthop]).toEqual([RouteType.local, 255, ip("127.0.0.1")]);
    expect(w.reader.isLocalAddress(ip("127.0.0.1"))).toBe(true);
    expect(w.reader.isLocalAddress(ip("10.9.9.9"))).toBe(false);
    // lowest metric wins among equal prefixes; deleting it restores the next
    w.upsertRoute(route({ dst: ip("10.1.0.0"), dstLen: 16, gateway: ip("10.0.0.2"), priority: 100 }));
    w.upsertRoute(route({ dst: ip("10.1.0.0"), dstLen: 16, gateway: ip("10.0.0.3"), priority: 10 }));
    expect(w.reader.lookupRoute(ip("10.1.2.3"), out) && out.gateway).toBe(ip("10.0.0.3"));
    w.deleteRoute(route({ dst: ip("10.1.0.0"), dstLen: 16, priority: 10 }));
    expect(w.reader.lookupRoute(ip("10.1.2.3"), out) && out.gateway).toBe(ip("10.0.0.2"));
    expect(out.metric).toBe(100);
    // throw in local continues in main; throw in main is no route
    w.upsertRoute(route({ table: 255, type: RouteType.throw, dst: ip("10.1.2.0"), dstLen: 24, oif: 0 }));
    expect(w.reader.lookupRoute(ip("10.1.2.3"), out) && out.gateway).toBe(ip("10.0.0.2"));
    w.upsertRoute(route({ type: RouteType.throw, dst: ip("10.1.2.0"), dstLen: 25, oif: 0 }));
    expect(w.reader.lookupRoute(ip("10.1.2.3"), out)).toBe(false);
    expect(w.reader.lookupRoute(ip("10.1.2.200"), out) && out.gateway).toBe(ip("10.0.0.2"));
    // error routes are answers, not misses
    w.upsertRoute(route({ type: RouteType.unreachable, dst: ip("10.1.3.0"), dstLen: 24, oif: 0 }));
    expect(w.reader.lookupRoute(ip("10.1.3.1"), out) && out.type).toBe(RouteType.unreachable);
    // on-link: the nexthop is the destination
    w.upsertRoute(route({ dst: ip("198.18.0.0"), dstLen: 24, oif: 3 }));
    expect(w.reader.lookupRoute(ip("198.18.0.77"), out)).toBe(true);
    expect([out.nexthop, out.gateway, out.ifindex]).toEqual([ip("198.18.0.77"), 0, 3]);
  });

  it("ignores other tables and TOS routes, counts them, and survives deletes of unknown routes", () => {
    const w = newWriter({ routes: 64 });
    const out = new RouteResult();
    expect(w.upsertRoute(route({ table: 100, dst: 0, dstLen: 0, gateway: 1 }))).toBe(false);
    expect(w.upsertRoute(route({ tos: 16, dst: 0, dstLen: 0, gateway: 1 }))).toBe(false);
    expect(w.upsertRoute(route({ dst: 0, dstLen: 33 }))).toBe(false);
    expect(w.reader.lookupRoute(ip("8.8.8.8"), out)).toBe(false);
    expect(w.deleteRoute(route({ dst: ip("10.0.0.0"), dstLen: 8 }))).toBe(false);
    const c = w.counters();
    expect([c.ignored_route_table, c.ignored_route_tos, c.drop_bad_record, c.delete_missing]).toEqual([1, 1, 1, 1]);
  });

  it("drops routes beyond capacity, tbl8 groups or nexthop records, and reuses records only after the delay", () => {
    let now = 0;
    const w = newWriter({ routes: 5, nexthops: 2, tbl8Groups: 1 }, { reuseDelayMs: 100, now: () => now });
    const out = new RouteResult();
    const r1 = route({ dst: ip("10.0.0.0"), dstLen: 8, gateway: ip("1.1.1.1") });
    const r2 = route({ dst: ip("11.0.0.0"), dstLen: 8, gateway: ip("1.1.1.2") });
    const r3 = route({ dst: ip("12.0.0.0"), dstLen: 8, gateway: ip("1.1.1.3") });
    expect(w.upsertRoute(r1)).toBe(true);
    expect(w.upsertRoute(r2)).toBe(true);
    expect(w.upsertRoute(r3)).toBe(false); // third distinct answer: no nexthop record
    expect(w.counters().drop_nexthops_full).toBe(1);
    // Same answer as r1: shares its record.
    expect(w.upsertRoute(route({ dst: ip("13.0.0.0"), dstLen: 8, gateway: ip("1.1.1.1") }))).toBe(true);
    expect(w.deleteRoute(r2)).toBe(true);
    expect(w.upsertRoute(r3)).toBe(false); // r2's record is still within its reuse delay
    now = 150;
    expect(w.upsertRoute(r3)).toBe(true);
    expect(w.reader.lookupRoute(ip("12.1.1.1"), out) && out.gateway).toBe(ip("1.1.1.3"));
    expect(w.reader.lookupRoute(ip("11.1.1.1"), out)).toBe(false);
    // tbl8: one group; a second /24 block with a longer prefix is dropped
    expect(w.upsertRoute(route({ dst: ip("10.0.0.128"), dstLen: 25, gateway: ip("1.1.1.1") }))).toBe(true);
    expect(w.upsertRoute(route({ dst: ip("10.0.1.128"), dstLen: 25, gateway: ip("1.1.1.1") }))).toBe(false);
    expect(w.counters().drop_tbl8_full).toBe(1);
    // routes capacity (5 live)
    expect(w.upsertRoute(route({ dst: ip("14.0.0.0"), dstLen: 8, gateway: ip("1.1.1.1") }))).toBe(true);
    expect(w.upsertRoute(route({ dst: ip("15.0.0.0"), dstLen: 8, gateway: ip("1.1.1.1") }))).toBe(false);
    expect(w.counters().drop_routes_full).toBe(1);
    expect(w.counters().routes_main).toBe(5);
    expect(w.reader.lookupRoute(ip("15.0.0.1"), out)).toBe(false);
  });

  it("keeps answers and shares records in a restarted writer (model rebuilt from the region)", () => {
    const caps = { routes: 64 };
    const buf = new ArrayBuffer(netbaseRegionSize(caps));
    initNetbase(buf, caps);
    const first = new NetbaseWriter(buf);
    const routes = [
      route({ dst: 0, dstLen: 0, gateway: ip("10.0.0.1") }),
      route({ dst: ip("10.1.0.0"), dstLen: 16, gateway: ip("10.0.0.2") }),
      route({ dst: ip("10.1.2.130"), dstLen: 31, gateway: ip("10.0.0.3") }),
    ];
    for (const r of routes) first.upsertRoute(r);
    const second = new NetbaseWriter(buf);
    const model = new Map(routes.map((r) => [key(r), r]));
    const out = new RouteResult();
    expect(second.counters().tbl8_groups_used).toBe(1);
    second.deleteRoute(routes[2]);
    model.delete(key(routes[2]));
    for (const a of probes(routes, [ip("10.1.2.131")])) expectSameAnswer(second, model, a, out);
    expect(second.counters().tbl8_groups_used).toBe(0);
    expect(second.diff({ links: [], addrs: [], routes: [...model.values()], neighs: [] })).toEqual([]);
  });
});
