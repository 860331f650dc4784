// The neighbor and interface tables: churn against a Map model (insert, update, backward-shift
// delete, full table), interfaces with their addresses, and what deleting a link flushes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { InterfaceResult, NeighborResult, RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { type LinkRecord, type NeighRecord, NeighState } from "../shared/netmodel";
import { ip, newWriter, route } from "./support/netbase-helpers";

function macOf(ifindex: number, addr: number, salt: number): Uint8Array {
  return Uint8Array.of(2, ifindex & 255, addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, (addr + salt) & 255);
}

function link(ifindex: number, fields: Partial<LinkRecord> = {}): LinkRecord {
  return {
    ifindex,
    name: `veth${ifindex}`,
    mac: Uint8Array.of(0x02, 0, 0, 0, 0, ifindex),
    mtu: 1500,
    up: true,
    lowerUp: true,
    type: 1,
    flags: 0x1043,
    ...fields,
  };
}

describe("netbase neighbor table", () => {
  it("stores, updates and deletes entries, and copies the MAC into the caller's buffer", () => {
    const w = newWriter({ neighbors: 16 });
    const out = new NeighborResult();
    const n: NeighRecord = {
      ifindex: 3,
      ip: ip("198.18.0.2"),
      mac: macOf(3, 1, 0),
      state: NeighState.reachable,
      flags: 0,
    };
    expect(w.upsertNeighbor(n)).toBe(true);
    expect(w.reader.lookupNeighbor(3, ip("198.18.0.2"), out)).toBe(true);
    expect([...out.mac]).toEqual([...macOf(3, 1, 0)]);
    expect([out.state, out.hasMac]).toEqual([NeighState.reachable, true]);
    expect(w.reader.lookupNeighbor(4, ip("198.18.0.2"), out)).toBe(false); // other interface
    expect(w.upsertNeighbor({ ...n, mac: null, state: NeighState.failed })).toBe(true);
    expect(w.reader.lookupNeighbor(3, ip("198.18.0.2"), out)).toBe(true);
    expect([out.state, out.hasMac, ...out.mac]).toEqual([NeighState.failed, false, 0, 0, 0, 0, 0, 0]);
    expect(w.deleteNeighbor(n)).toBe(true);
    expect(w.reader.lookupNeighbor(3, ip("198.18.0.2"), out)).toBe(false);
    expect(w.deleteNeighbor(n)).toBe(false);
    expect(w.upsertNeighbor({ ...n, ifindex: 0 })).toBe(false);
    const c = w.counters();
    expect([c.neighbor_updates, c.neighbor_deletes, c.delete_missing, c.drop_bad_record, c.neighbors]).toEqual([
      2, 1, 1, 1, 0,
    ]);
  });

  it("matches a Map model through random churn, including a full table (drops counted, never corrupt)", () => {
    const caps = { neighbors: 12, routes: 16 };
    const buf = new ArrayBuffer(netbaseRegionSize(caps));
    const keys = Array.from({ length: 40 }, (_, i) => ({ ifindex: 1 + (i % 2), ip: ip("198.18.0.0") + i * 7 }));
    const opArb = fc.record({
      key: fc.nat({ max: keys.length - 1 }),
      del: fc.boolean(),
      salt: fc.nat({ max: 3 }),
      state: fc.constantFrom(NeighState.reachable, NeighState.stale, NeighState.delay, NeighState.permanent),
    });
    let dirty = true;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 200 }), (ops) => {
        // A run that ends cleanly leaves the table empty (checked below): the next one reuses it.
        if (dirty) initNetbase(buf, caps);
        dirty = true;
        const w = new NetbaseWriter(buf);
        const model = new Map<number, NeighRecord>();
        const out = new NeighborResult();
        let drops = 0;
        const check = (step: number): void => {
          for (let i = 0; i < keys.length; i++) {
            const want = model.get(i);
            const found = w.reader.lookupNeighbor(keys[i].ifindex, keys[i].ip, out);
            const same =
              want === undefined
                ? !found
                : found && out.state === want.state && out.mac.every((b, j) => b === want.mac?.[j]);
            if (!same)
              throw new Error(`step ${step}: key ${i} netbase ${found ? [...out.mac] : "miss"}, model ${want?.mac}`);
          }
        };
        ops.forEach((op, step) => {
          const k = keys[op.key];
          if (op.del) {
            if (w.deleteNeighbor(k) !== model.delete(op.key)) throw new Error(`step ${step}: delete result`);
          } else {
            const rec = { ...k, mac: macOf(k.ifindex, k.ip, op.salt), state: op.state, flags: 0 };
            const fits = model.has(op.key) || model.size < caps.neighbors;
            if (w.upsertNeighbor(rec) !== fits) throw new Error(`step ${step}: upsert result`);
            if (fits) model.set(op.key, rec);
            else drops++;
          }
          check(step);
        });
        expect(w.counters().drop_neighbors_full).toBe(drops);
        expect(w.counters().neighbors).toBe(model.size);
        expect(w.reader.neighbors().length).toBe(model.size);
        for (const i of model.keys()) expect(w.deleteNeighbor(keys[i])).toBe(true);
        model.clear();
        check(-1);
        expect(w.reader.neighbors().length).toBe(0);
        dirty = false;
      }),
      { numRuns: 150 },
    );
  });
});

describe("netbase interface table", () => {
  it("keeps links with their addresses, and derives route sources from them", () => {
    const w = newWriter({ interfaces: 4, addrsPerInterface: 2 });
    const out = new InterfaceResult(4);
    expect(w.upsertLink(link(7))).toBe(true);
    expect(w.upsertAddr({ ifindex: 7, address: ip("198.18.0.1"), prefixLen: 24, broadcast: 0, scope: 0 })).toBe(true);
    expect(w.upsertAddr({ ifindex: 7, address: ip("198.19.0.1"), prefixLen: 16, broadcast: 0, scope: 0 })).toBe(true);
    expect(w.upsertAddr({ ifindex: 7, address: ip("198.19.0.2"), prefixLen: 16, broadcast: 0, scope: 0 })).toBe(false);
    expect(w.upsertAddr({ ifindex: 9, address: ip("198.18.9.1"), prefixLen: 24, broadcast: 0, scope: 0 })).toBe(false);
    expect(w.reader.lookupInterface(7, out)).toBe(true);
    expect([out.mtu, out.up, out.lowerUp, out.hasMac, out.mac[5], out.addrCount]).toEqual([
      1500,
      true,
      true,
      true,
      7,
      2,
    ]);
    expect([out.addrs[0], out.prefixLens[0], out.addrs[1], out.prefixLens[1]]).toEqual([
      ip("198.18.0.1"),
      24,
      ip("198.19.0.1"),
      16,
    ]);
    // Updating the link keeps its addresses.
    expect(w.upsertLink(link(7, { mtu: 9000, up: false, name: "a-very-long-interface-name" }))).toBe(true);
    expect(w.reader.lookupInterface(7, out) && [out.mtu, out.up, out.addrCount]).toEqual([9000, false, 2]);
    expect(w.reader.interfaces()[0].link.name).toBe("a-very-long-int"); // IFNAMSIZ - 1 bytes
    // Sources: on-link route in the first subnet, gateway in the second, prefsrc wins.
    const r = new RouteResult();
    w.upsertRoute(route({ dst: ip("198.18.0.0"), dstLen: 24, oif: 7 }));
    w.upsertRoute(route({ dst: ip("10.0.0.0"), dstLen: 8, oif: 7, gateway: ip("198.19.5.5") }));
    w.upsertRoute(route({ dst: ip("11.0.0.0"), dstLen: 8, oif: 7, gateway: ip("198.19.5.5"), prefsrc: ip("1.2.3.4") }));
    w.upsertRoute(route({ dst: ip("12.0.0.0"), dstLen: 8, oif: 7, gateway: ip("203.0.113.1") }));
    const src = (dst: string): number => (w.reader.lookupRoute(ip(dst), r) ? r.src : -1);
    expect(src("198.18.0.9")).toBe(ip("198.18.0.1"));
    expect(src("10.1.1.1")).toBe(ip("198.19.0.1"));
    expect(src("11.1.1.1")).toBe(ip("1.2.3.4"));
    expect(src("12.1.1.1")).toBe(ip("198.18.0.1")); // no subnet matches: the first address
    // Removing an address re-derives the sources that used it.
    expect(w.deleteAddr({ ifindex: 7, address: ip("198.18.0.1"), prefixLen: 24, broadcast: 0, scope: 0 })).toBe(true);
    expect(src("198.18.0.9")).toBe(ip("198.19.0.1"));
    expect(src("12.1.1.1")).toBe(ip("198.19.0.1"));
    expect(w.reader.lookupInterface(7, out) && out.addrCount).toBe(1);
  });

  it("deleting a link removes its addresses and flushes its routes and neighbors (the kernel does not say)", () => {
    const w = newWriter({ interfaces: 4 });
    for (const i of [1, 2, 3]) w.upsertLink(link(i));
    w.upsertAddr({ ifindex: 2, address: ip("198.18.2.1"), prefixLen: 24, broadcast: 0, scope: 0 });
    w.upsertRoute(route({ dst: ip("198.18.2.0"), dstLen: 24, oif: 2 }));
    w.upsertRoute(route({ dst: ip("10.0.0.0"), dstLen: 8, oif: 2, gateway: ip("198.18.2.254") }));
    w.upsertRoute(route({ dst: ip("198.18.3.0"), dstLen: 24, oif: 3 }));
    for (let i = 0; i < 20; i++) {
      w.upsertNeighbor({ ifindex: 2 + (i % 2), ip: ip("198.18.2.10") + i, mac: macOf(2, i, 0), state: 2, flags: 0 });
    }
    expect(w.deleteLink(2)).toBe(true);
    const out = new InterfaceResult();
    const r = new RouteResult();
    const n = new NeighborResult();
    expect(w.reader.lookupInterface(2, out)).toBe(false);
    expect(w.reader.lookupInterface(3, out)).toBe(true);
    expect(w.reader.lookupRoute(ip("10.1.1.1"), r)).toBe(false);
    expect(w.reader.lookupRoute(ip("198.18.2.5"), r)).toBe(false);
    expect(w.reader.lookupRoute(ip("198.18.3.5"), r)).toBe(true);
    for (let i = 0; i < 20; i++)
      expect(w.reader.lookupNeighbor(2 + (i % 2), ip("198.18.2.10") + i, n)).toBe(i % 2 === 1);
    const c = w.counters();
    expect([c.flushed_routes, c.flushed_neighbors, c.interfaces, c.neighbors, c.routes_main]).toEqual([
      2, 10, 2, 10, 1,
    ]);
    expect(w.deleteLink(2)).toBe(false);
    // A full interface table drops (counted).
    expect(w.upsertLink(link(4))).toBe(true);
    expect(w.upsertLink(link(5))).toBe(true);
    expect(w.upsertLink(link(6))).toBe(false);
    expect(w.counters().drop_interfaces_full).toBe(1);
  });
});
