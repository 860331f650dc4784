// Resync after a netlink overrun: the region is brought to a full dump by applying only the
// differences (it ends equal to the dump, and a destination routed before and after never loses its
// route on the way); diff() says what differs; show() has the documented JSON shape.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { initNetbase, type NetbaseCapacities, netbaseRegionSize } from "../shared/netbase/layout";
import { RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import {
  type AddrRecord,
  type LinkRecord,
  type NeighRecord,
  NeighState,
  type NetSnapshot,
  prefixMask,
  type RouteRecord,
  RouteType,
} from "../shared/netmodel";
import { ip, newWriter, ReferenceTable, referenceLookup, route } from "./support/netbase-helpers";

function link(ifindex: number, mtu = 1500): LinkRecord {
  return {
    ifindex,
    name: `eth${ifindex}`,
    mac: Uint8Array.of(2, 0, 0, 0, 0, ifindex),
    mtu,
    up: true,
    lowerUp: true,
    type: 1,
    flags: 0x1043,
  };
}
function addr(ifindex: number, address: string, prefixLen: number): AddrRecord {
  return { ifindex, address: ip(address), prefixLen, broadcast: 0, scope: 0 };
}
function neigh(ifindex: number, address: string, last: number, state: number = NeighState.reachable): NeighRecord {
  return { ifindex, ip: ip(address), mac: Uint8Array.of(2, 1, 2, 3, 4, last), state, flags: 0 };
}

const base: NetSnapshot = {
  links: [link(1), link(2)],
  addrs: [addr(1, "198.18.0.1", 24), addr(2, "198.19.0.1", 16)],
  routes: [
    route({
      table: 255,
      type: RouteType.local,
      dst: ip("198.18.0.1"),
      dstLen: 32,
      oif: 1,
      prefsrc: ip("198.18.0.1"),
      scope: 254,
    }),
    route({ dst: ip("198.18.0.0"), dstLen: 24, oif: 1, prefsrc: ip("198.18.0.1"), scope: 253 }),
    route({ dst: 0, dstLen: 0, gateway: ip("198.18.0.254"), oif: 1 }),
    route({ dst: ip("10.0.0.0"), dstLen: 8, gateway: ip("198.19.0.9"), oif: 2, priority: 100 }),
    route({ table: 100, dst: ip("10.0.0.0"), dstLen: 8, gateway: ip("198.19.0.7"), oif: 2 }), // not mirrored
    route({ tos: 8, dst: ip("11.0.0.0"), dstLen: 8, gateway: ip("198.19.0.7"), oif: 2 }), // not mirrored
  ],
  neighs: [neigh(1, "198.18.0.254", 0xfe), neigh(2, "198.19.0.9", 9, NeighState.stale)],
};

describe("netbase resync and diff", () => {
  it("fills an empty region from a dump, then applies only what changed", () => {
    const w = newWriter({ routes: 64, neighbors: 16, interfaces: 4 });
    expect(w.resync(base)).toEqual({ added: 2 + 2 + 4 + 2, removed: 0, changed: 0 });
    expect(w.diff(base)).toEqual([]);
    expect(w.resync(base)).toEqual({ added: 0, removed: 0, changed: 0 });
    const next: NetSnapshot = {
      links: [link(1, 9000)], // mtu changed, link 2 gone (with its address, route and neighbor)
      addrs: [addr(1, "198.18.0.1", 24), addr(1, "198.18.0.2", 24)],
      routes: [
        base.routes[0],
        base.routes[1],
        route({ dst: 0, dstLen: 0, gateway: ip("198.18.0.253"), oif: 1 }), // gateway replaced
        route({ dst: ip("172.16.0.0"), dstLen: 12, gateway: ip("198.18.0.9"), oif: 1 }),
      ],
      neighs: [neigh(1, "198.18.0.254", 0xfe, NeighState.stale), neigh(1, "198.18.0.9", 9)],
    };
    // removed: link 2 (its address, route and neighbor go with it)
    expect(w.resync(next)).toEqual({ added: 3, removed: 1, changed: 3 });
    expect(w.diff(next)).toEqual([]);
    const c = w.counters();
    expect([c.interfaces, c.routes_main, c.routes_local, c.neighbors, c.resyncs]).toEqual([1, 3, 1, 2, 3]);
  });

  it("describes every difference between the region and a dump", () => {
    const w = newWriter({ routes: 64, neighbors: 16, interfaces: 4 });
    w.resync(base);
    const other: NetSnapshot = {
      links: [{ ...link(1), name: "wan0" }, link(2), link(3)],
      addrs: base.addrs.slice(1),
      routes: [...base.routes.slice(0, 3), { ...base.routes[3], gateway: ip("198.19.0.10") }],
      neighs: [neigh(1, "198.18.0.254", 0xfd)],
    };
    expect(w.diff(other).sort()).toEqual(
      [
        "addr 198.18.0.1/24 on 1: only in netbase",
        "link 1 (wan0): name eth1 in netbase, wan0 in kernel",
        "link 3 (eth3): missing in netbase",
        "neighbor 198.18.0.254 on 1: mac 02:01:02:03:04:fe in netbase, 02:01:02:03:04:fd in kernel",
        "neighbor 198.19.0.9 on 2: only in netbase",
        "route main 10.0.0.0/8 metric 100: gateway 198.19.0.9 in netbase, 198.19.0.10 in kernel",
      ].sort(),
    );
  });

  it("shows the region as the documented JSON", () => {
    const w = newWriter({ routes: 64, neighbors: 16, interfaces: 4 });
    w.resync(base);
    const show = w.reader.snapshot();
    expect(JSON.parse(JSON.stringify(show))).toEqual({
      interfaces: [
        { ifindex: 1, name: "eth1", mac: "02:00:00:00:00:01", mtu: 1500, up: true, addrs: ["198.18.0.1/24"] },
        { ifindex: 2, name: "eth2", mac: "02:00:00:00:00:02", mtu: 1500, up: true, addrs: ["198.19.0.1/16"] },
      ],
      routes: {
        local: [{ dst: "198.18.0.1/32", type: "local", ifindex: 1, src: "198.18.0.1", metric: 0, scope: 254 }],
        main: [
          { dst: "0.0.0.0/0", type: "unicast", gateway: "198.18.0.254", ifindex: 1, metric: 0, scope: 0 },
          { dst: "10.0.0.0/8", type: "unicast", gateway: "198.19.0.9", ifindex: 2, metric: 100, scope: 0 },
          { dst: "198.18.0.0/24", type: "unicast", ifindex: 1, src: "198.18.0.1", metric: 0, scope: 253 },
        ],
      },
      neighbors: [
        { ifindex: 1, ip: "198.18.0.254", mac: "02:01:02:03:04:fe", state: "REACHABLE" },
        { ifindex: 2, ip: "198.19.0.9", mac: "02:01:02:03:04:09", state: "STALE" },
      ],
      addrs6: [],
      routes6: { local: [], main: [] },
      neighbors6: [],
    });
    expect(Object.keys(show.routes.main[1])).toEqual(["dst", "type", "gateway", "ifindex", "metric", "scope"]);
  });

  it("never leaves a destination routed before and after without a route while it resyncs", () => {
    // Watches the region after every single change the resync makes.
    let checks = 0;
    let broken = "";
    class WatchedWriter extends NetbaseWriter {
      watch: (() => void) | undefined;
      override upsertRoute(r: RouteRecord): boolean {
        const ok = super.upsertRoute(r);
        this.watch?.();
        return ok;
      }
      override deleteRoute(r: RouteRecord): boolean {
        const ok = super.deleteRoute(r);
        this.watch?.();
        return ok;
      }
    }
    const caps: Partial<NetbaseCapacities> = { routes: 4096 };
    const buf = new ArrayBuffer(netbaseRegionSize(caps));
    initNetbase(buf, caps);
    const w = new WatchedWriter(buf);
    // Before: /16s with metric 100; after: half of them moved to metric 50 (another route key, so
    // the old one is deleted), some replaced, some removed, some added; plus /24s inside.
    const before: RouteRecord[] = [];
    const after: RouteRecord[] = [];
    for (let i = 0; i < 400; i++) {
      const dst = ip("20.0.0.0") + i * 65536;
      before.push(route({ dst, dstLen: 16, gateway: ip("192.0.2.1"), priority: 100 }));
      if (i % 4 === 0) after.push(route({ dst, dstLen: 16, gateway: ip("192.0.2.2"), priority: 50 }));
      else if (i % 4 === 1) after.push(route({ dst, dstLen: 16, gateway: ip("192.0.2.3"), priority: 100 }));
      else if (i % 4 === 2) after.push(before[before.length - 1]);
      if (i % 8 === 3) after.push(route({ dst: dst + 512, dstLen: 24, gateway: ip("192.0.2.4") }));
    }
    w.resync({ links: [], addrs: [], routes: before, neighs: [] });
    const stable = before.filter((_, i) => i % 4 !== 3).map((r) => r.dst + 0x0203);
    const out = new RouteResult();
    w.watch = () => {
      checks++;
      for (const dst of stable)
        if (!w.reader.lookupRoute(dst, out)) broken ||= `no route for ${dst} after ${checks} changes`;
    };
    w.resync({ links: [], addrs: [], routes: after, neighs: [] });
    w.watch = undefined;
    expect(broken).toBe("");
    expect(checks).toBeGreaterThan(300);
    expect(w.diff({ links: [], addrs: [], routes: after, neighs: [] })).toEqual([]);
    const table = new ReferenceTable(after);
    for (const dst of stable) {
      const want = table.lookup(dst);
      expect(w.reader.lookupRoute(dst, out) && out.gateway).toBe(want?.gateway);
    }
  });

  it("ends equal to any dump whatever it held before (random pairs of dumps)", () => {
    const caps = { routes: 256, neighbors: 16, interfaces: 4, addrsPerInterface: 4 };
    const buf = new ArrayBuffer(netbaseRegionSize(caps));
    const linkArb = fc.record({ ifindex: fc.constantFrom(1, 2, 3), mtu: fc.constantFrom(1500, 9000) });
    const routeArb = fc
      .record({
        table: fc.constantFrom(254, 255, 100),
        dst: fc.constantFrom(ip("10.0.0.0"), ip("10.1.0.0"), ip("10.1.2.0"), ip("10.1.2.128"), 0),
        dstLen: fc.constantFrom(0, 8, 16, 24, 25, 32),
        priority: fc.constantFrom(0, 10),
        type: fc.constantFrom(RouteType.unicast, RouteType.unicast, RouteType.throw, RouteType.blackhole),
        gateway: fc.constantFrom(0, ip("192.0.2.1"), ip("192.0.2.2")),
        oif: fc.constantFrom(1, 2, 3),
      })
      .map((r) => route({ ...r, dst: (r.dst & prefixMask(r.dstLen)) >>> 0 }));
    const neighArb = fc.record({
      ifindex: fc.constantFrom(1, 2, 3),
      last: fc.nat({ max: 20 }),
      state: fc.constantFrom(NeighState.reachable, NeighState.stale),
    });
    const snapArb = fc
      .record({
        links: fc.uniqueArray(linkArb, { selector: (l) => l.ifindex, maxLength: 3 }),
        addrs: fc.array(fc.record({ ifindex: fc.constantFrom(1, 2, 3), last: fc.nat({ max: 3 }) }), { maxLength: 6 }),
        routes: fc.array(routeArb, { maxLength: 30 }),
        neighs: fc.array(neighArb, { maxLength: 12 }),
      })
      .map(
        (s): NetSnapshot => ({
          links: s.links.map((l) => link(l.ifindex, l.mtu)),
          // Only on links that exist, as in a real dump.
          addrs: s.addrs
            .filter((a) => s.links.some((l) => l.ifindex === a.ifindex))
            .map((a) => addr(a.ifindex, `198.18.${a.ifindex}.${a.last + 1}`, 24)),
          routes: s.routes,
          neighs: s.neighs.map((n) => neigh(n.ifindex, `198.18.${n.ifindex}.${n.last + 10}`, n.last, n.state)),
        }),
      );
    fc.assert(
      fc.property(snapArb, snapArb, (a, b) => {
        initNetbase(buf, caps);
        const w = new NetbaseWriter(buf);
        w.resync(a);
        expect(w.diff(a)).toEqual([]);
        w.resync(b);
        expect(w.diff(b)).toEqual([]);
        expect(w.resync(b)).toEqual({ added: 0, removed: 0, changed: 0 });
        const mirrored = new Map<string, RouteRecord>();
        for (const r of b.routes) if (r.table !== 100) mirrored.set(`${r.table} ${r.dst}/${r.dstLen} ${r.priority}`, r);
        const out = new RouteResult();
        for (const dst of [ip("10.0.0.1"), ip("10.1.0.1"), ip("10.1.2.1"), ip("10.1.2.129"), ip("11.0.0.1")]) {
          const want = referenceLookup(mirrored.values(), dst);
          const found = w.reader.lookupRoute(dst, out);
          expect(found ? [out.table, out.metric, out.gateway, out.type] : undefined).toEqual(
            want ? [want.table, want.priority, want.gateway, want.type] : undefined,
          );
        }
      }),
      { numRuns: 80 },
    );
  });
});
