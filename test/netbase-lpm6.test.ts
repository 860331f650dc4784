// IPv6 route lookups against a brute-force model of the kernel (local then main, longest prefix,
// lowest metric, throw), through random add/delete/replace sequences; addresses and source
// selection; neighbors; capacity limits counted as drops; events; resync and diff.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatIp6 } from "../shared/ip6";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NeighborResult, Route6Result } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { type Neigh6Record, type Route6Record, RouteType } from "../shared/netmodel";
import { ip6, newWriter6, reference6, route6 } from "./support/netbase6-helpers";

function masked(r: Route6Record): string {
  const d = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, r.dstLen - 32 * i));
    d[i] = bits === 0 ? 0 : r.dst[i] & (-1 << (32 - bits));
  }
  // netbase's identity of an IPv6 route: table, prefix, metric and interface.
  return `${r.table} ${formatIp6(d[0], d[1], d[2], d[3])}/${r.dstLen} ${r.priority} ${r.oif >>> 0}`;
}

function check(w: NetbaseWriter, routes: Map<string, Route6Record>, a: Uint32Array, out: Route6Result): void {
  const want = reference6(routes.values(), a);
  const found = w.reader.lookupRoute6(a[0], a[1], a[2], a[3], out);
  const what = `lookup ${formatIp6(a[0], a[1], a[2], a[3])}`;
  if (!want) {
    expect(found, `${what}: expected no route, got table ${out.table} metric ${out.metric}`).toBe(false);
    return;
  }
  expect(found, `${what}: expected ${masked(want)}`).toBe(true);
  expect(`${out.table} ${out.metric} ${out.type} ${out.ifindex} ${out.gateway.join(",")}`, what).toBe(
    `${want.table} ${want.priority} ${want.type} ${want.oif} ${want.gateway.join(",")}`,
  );
}

// A small universe so that prefixes nest and collide often, around stride boundaries.
const w0 = fc.constantFrom(0x20010002, 0x20010003, 0x2001ff02, 0xfe800000);
const w1 = fc.constantFrom(0, 1, 0xff, 0x100, 0x80000000, 0xffffffff);
const w3 = fc.constantFrom(0, 1, 2, 0x80, 0xff);
const addr6Arb = fc.tuple(w0, w1, fc.constantFrom(0, 0xffff), w3).map((t) => Uint32Array.from(t));
const lenArb = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 8, 15) },
  { weight: 8, arbitrary: fc.constantFrom(16, 17, 23, 24, 32, 40, 47, 48, 56, 63, 64, 65, 96, 120, 127, 128) },
);
const routeArb = fc
  .record({
    table: fc.constantFrom(254, 254, 255),
    type: fc.constantFrom(RouteType.unicast, RouteType.unicast, RouteType.throw, RouteType.blackhole, RouteType.local),
    dst: addr6Arb,
    dstLen: lenArb,
    priority: fc.constantFrom(0, 256, 1024),
    oif: fc.constantFrom(1, 2),
    gw: fc.constantFrom(0, 1, 2),
  })
  .map((f) =>
    route6({
      ...f,
      gateway: f.gw === 0 ? new Uint32Array(4) : Uint32Array.of(0xfe800000, 0, 0, f.gw),
    }),
  );
const opArb = fc.record({ del: fc.boolean(), r: routeArb });

describe("netbase IPv6 routes: kernel semantics", () => {
  it("matches the reference model through random add/replace/delete sequences", () => {
    const w = newWriter6(); // one region: every run must leave it empty
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.array(addr6Arb, { minLength: 8, maxLength: 16 }),
        (ops, probes) => {
          const model = new Map<string, Route6Record>();
          const out = new Route6Result();
          for (const { del, r } of ops) {
            if (del) {
              const victim = [...model.values()][r.priority % Math.max(1, model.size)];
              if (victim) {
                expect(w.deleteRoute6(victim)).toBe(true);
                model.delete(masked(victim));
              }
            } else {
              expect(w.upsertRoute6(r)).toBe(true);
              model.set(masked(r), r);
            }
            for (const a of probes) check(w, model, a, out);
            for (const r2 of model.values()) check(w, model, r2.dst, out);
          }
          for (const r of [...model.values()]) w.deleteRoute6(r);
          expect(w.counters().lpm6_nodes_used).toBe(0);
          expect(w.counters().nexthops6_used).toBe(0);
          expect(w.reader.routes6()).toEqual([]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a restarted writer adopts the region and carries on (same answers, deltas still exact)", () => {
    const caps = { routes: 16, routes6: 4096 };
    const buf = new ArrayBuffer(netbaseRegionSize(caps));
    initNetbase(buf, caps);
    const first = new NetbaseWriter(buf);
    const model = new Map<string, Route6Record>();
    const out = new Route6Result();
    const sample = fc.sample(routeArb, { numRuns: 80, seed: 7 });
    for (const r of sample) {
      first.upsertRoute6(r);
      model.set(masked(r), r);
    }
    first.upsertRoute6(route6({ dst: ip6("::"), dstLen: 0, gateway: ip6("fe80::1") }));
    model.set(
      masked(route6({ dst: ip6("::"), dstLen: 0 })),
      route6({ dst: ip6("::"), dstLen: 0, gateway: ip6("fe80::1") }),
    );
    const before = first.counters();
    const second = new NetbaseWriter(buf);
    const after = second.counters();
    expect([after.lpm6_nodes_used, after.nexthops6_used, after.routes6_main, after.routes6_local]).toEqual([
      before.lpm6_nodes_used,
      before.nexthops6_used,
      before.routes6_main,
      before.routes6_local,
    ]);
    const probes = fc.sample(addr6Arb, { numRuns: 64, seed: 8 });
    for (const a of probes) check(second, model, a, out);
    // Deltas after adoption: delete half, add more, all still exact; then empty.
    for (const r of [...model.values()].slice(0, 40)) {
      expect(second.deleteRoute6(r)).toBe(true);
      model.delete(masked(r));
      for (const a of probes) check(second, model, a, out);
    }
    for (const r of fc.sample(routeArb, { numRuns: 40, seed: 9 })) {
      second.upsertRoute6(r);
      model.set(masked(r), r);
      for (const a of probes) check(second, model, a, out);
    }
    for (const r of [...model.values()]) second.deleteRoute6(r);
    expect(second.counters().lpm6_nodes_used).toBe(0);
    expect(second.counters().nexthops6_used).toBe(0);
  });

  it("a throw in local continues in main; in main it is no route", () => {
    const w = newWriter6();
    const out = new Route6Result();
    w.upsertRoute6(route6({ dst: ip6("::"), dstLen: 0, gateway: ip6("fe80::1"), oif: 2 }));
    w.upsertRoute6(route6({ table: 255, type: RouteType.throw, dst: ip6("2001:2::"), dstLen: 48 }));
    w.upsertRoute6(route6({ table: 255, type: RouteType.local, dst: ip6("2001:2::1"), dstLen: 128, oif: 1 }));
    const a = ip6("2001:2::5");
    expect(w.reader.lookupRoute6(a[0], a[1], a[2], a[3], out)).toBe(true);
    expect(out.table).toBe(254);
    expect(formatIp6(out.nexthop[0], out.nexthop[1], out.nexthop[2], out.nexthop[3])).toBe("fe80::1");
    expect(w.reader.isLocalAddress6(...(Array.from(ip6("2001:2::1")) as [number, number, number, number]))).toBe(true);
    expect(w.reader.isLocalAddress6(a[0], a[1], a[2], a[3])).toBe(false);
    w.upsertRoute6(route6({ type: RouteType.throw, dst: ip6("2001:2::"), dstLen: 32 }));
    expect(w.reader.lookupRoute6(a[0], a[1], a[2], a[3], out)).toBe(false);
  });

  it("sources: prefsrc, else the interface's best global address, link-local for link-local destinations", () => {
    const w = newWriter6();
    w.upsertLink({ ifindex: 2, name: "eth0", mac: null, mtu: 1500, up: true, lowerUp: true, type: 1, flags: 0 });
    w.upsertAddr6({ ifindex: 2, address: ip6("fe80::2"), prefixLen: 64, scope: 253, flags: 0x80 });
    w.upsertAddr6({ ifindex: 2, address: ip6("2001:2::2"), prefixLen: 64, scope: 0, flags: 0x80 });
    w.upsertAddr6({ ifindex: 2, address: ip6("2001:2:0:1::2"), prefixLen: 64, scope: 0, flags: 0x80 });
    w.upsertRoute6(route6({ dst: ip6("2001:2:0:1::"), dstLen: 64, oif: 2 }));
    w.upsertRoute6(route6({ dst: ip6("fe80::"), dstLen: 64, oif: 2, priority: 256 }));
    w.upsertRoute6(route6({ dst: ip6("2001:db8::"), dstLen: 32, oif: 2, prefsrc: ip6("2001:2::2") }));
    const out = new Route6Result();
    const text = (a: Uint32Array): string => formatIp6(a[0], a[1], a[2], a[3]);
    const look = (t: string): string => {
      const a = ip6(t);
      expect(w.reader.lookupRoute6(a[0], a[1], a[2], a[3], out)).toBe(true);
      return text(out.src);
    };
    expect(look("2001:2:0:1::9")).toBe("2001:2:0:1::2");
    expect(look("fe80::9")).toBe("fe80::2");
    expect(look("2001:db8::1")).toBe("2001:2::2");
    const ll = new Uint32Array(4);
    expect(w.reader.linkLocalAddress6(2, ll)).toBe(true);
    expect(text(ll)).toBe("fe80::2");
    expect(w.reader.linkLocalAddress6(3, ll)).toBe(false);
    // An address change re-derives the sources of the routes via the link.
    w.deleteAddr6({ ifindex: 2, address: ip6("2001:2:0:1::2"), prefixLen: 64, scope: 0, flags: 0 });
    expect(look("2001:2:0:1::9")).toBe("2001:2::2");
    // A link that goes takes its addresses, routes and neighbors.
    w.upsertNeighbor6({ ifindex: 2, ip: ip6("fe80::1"), mac: Uint8Array.of(2, 0, 0, 0, 0, 1), state: 2, flags: 0x80 });
    w.deleteLink(2);
    expect(w.reader.addresses6()).toEqual([]);
    expect(w.reader.routes6()).toEqual([]);
    expect(w.reader.neighbors6()).toEqual([]);
    expect(w.counters().lpm6_nodes_used).toBe(0);
  });
});

describe("netbase IPv6 neighbors and addresses", () => {
  it("stores neighbors keyed by (ifindex, address) with MAC and NUD state", () => {
    const w = newWriter6({ neighbors6: 64 });
    const n = (i: number, ifindex = 1): Neigh6Record => ({
      ifindex,
      ip: Uint32Array.of(0x20010002, 0, 0, i),
      mac: Uint8Array.of(2, 0, 0, 0, i >> 8, i & 255),
      state: 2,
      flags: 0,
    });
    for (let i = 1; i <= 64; i++) expect(w.upsertNeighbor6(n(i))).toBe(true);
    expect(w.upsertNeighbor6(n(65))).toBe(false);
    expect(w.counters().drop_neighbors6_full).toBe(1);
    const out = new NeighborResult();
    for (let i = 1; i <= 64; i++) {
      expect(w.reader.lookupNeighbor6(1, 0x20010002, 0, 0, i, out)).toBe(true);
      expect(out.mac[5]).toBe(i & 255);
      expect(w.reader.lookupNeighbor6(2, 0x20010002, 0, 0, i, out)).toBe(false);
    }
    for (let i = 1; i <= 64; i += 2) expect(w.deleteNeighbor6(n(i))).toBe(true);
    for (let i = 1; i <= 64; i++) expect(w.reader.lookupNeighbor6(1, 0x20010002, 0, 0, i, out)).toBe(i % 2 === 0);
    expect(w.reader.neighbors6().length).toBe(32);
    const show = w.reader.snapshot();
    expect(show.neighbors6[0]).toEqual({
      ifindex: 1,
      dst: "2001:2::2",
      lladdr: "02:00:00:00:00:02",
      state: "REACHABLE",
      router: false,
    });
  });

  it("counts addresses without a link and beyond the per-interface limit as drops", () => {
    const w = newWriter6({ addrs6PerInterface: 2 });
    const a = (t: string, ifindex = 1) => ({ ifindex, address: ip6(t), prefixLen: 64, scope: 0, flags: 0 });
    expect(w.upsertAddr6(a("2001:2::1"))).toBe(false);
    expect(w.counters().drop_addr_no_link).toBe(1);
    w.upsertLink({ ifindex: 1, name: "lo", mac: null, mtu: 65536, up: true, lowerUp: true, type: 772, flags: 0 });
    expect(w.upsertAddr6(a("2001:2::1"))).toBe(true);
    expect(w.upsertAddr6(a("2001:2::2"))).toBe(true);
    expect(w.upsertAddr6(a("2001:2::3"))).toBe(false);
    expect(w.counters().drop_addrs6_full).toBe(1);
    expect(w.reader.snapshot().addrs6.map((x) => x.local)).toEqual(["2001:2::1", "2001:2::2"]);
  });

  it("counts routes beyond the capacities as drops, and the table keeps working", () => {
    const w = newWriter6({ routes6: 8, lpm6Nodes: 20 });
    let ok = 0;
    for (let i = 0; i < 12; i++)
      if (w.upsertRoute6(route6({ dst: Uint32Array.of(0x20010002, i << 16, 0, 1), dstLen: 128 }))) ok++;
    const c = w.counters();
    expect(ok).toBeLessThan(12);
    expect(c.drop_lpm6_nodes_full + c.drop_routes6_full).toBe(12 - ok);
    expect(c.lpm6_nodes_used).toBeLessThanOrEqual(20);
    const out = new Route6Result();
    expect(w.reader.lookupRoute6(0x20010002, 0, 0, 1, out)).toBe(true);
  });

  it("applies addr6/route6/neigh6 events, resyncs to a dump and diffs against it", () => {
    const w = newWriter6();
    w.upsertLink({ ifindex: 1, name: "eth0", mac: null, mtu: 1500, up: true, lowerUp: true, type: 1, flags: 0 });
    const addr = { ifindex: 1, address: ip6("2001:2::1"), prefixLen: 64, scope: 0, flags: 0x80 };
    const r1 = route6({ dst: ip6("2001:2::"), dstLen: 64 });
    const r2 = route6({ dst: ip6("::"), dstLen: 0, gateway: ip6("fe80::1") });
    const nb: Neigh6Record = {
      ifindex: 1,
      ip: ip6("fe80::1"),
      mac: Uint8Array.of(2, 0, 0, 0, 0, 1),
      state: 2,
      flags: 0x80,
    };
    expect(w.applyEvent({ kind: "addr6", op: "new", addr })).toBe(true);
    expect(w.applyEvent({ kind: "route6", op: "new", route: r1 })).toBe(true);
    expect(w.applyEvent({ kind: "route6", op: "new", route: r2 })).toBe(true);
    expect(w.applyEvent({ kind: "neigh6", op: "new", neigh: nb })).toBe(true);
    const snap = w.reader.toNetSnapshot();
    expect(w.diff(snap)).toEqual([]);
    const r3 = route6({ dst: ip6("2001:2:1::"), dstLen: 48, gateway: ip6("fe80::1") });
    const want = { ...snap, routes6: [r1, r3], neighs6: [], addrs6: [{ ...addr, flags: 0 }] };
    expect(w.diff(want).length).toBe(4);
    const res = w.resync(want);
    expect(res).toEqual({ added: 1, removed: 2, changed: 1 });
    expect(w.diff(want)).toEqual([]);
    // Absent lists: nothing of that family compared or changed.
    expect(w.diff({ links: snap.links, addrs: [], routes: [], neighs: [] })).toEqual([]);
    expect(w.reader.snapshot().routes6.main.map((r) => r.dst)).toEqual(["2001:2::/64", "2001:2:1::/48"]);
  });
});
