// One codec: the netlink tile's records and the netstate library's typed objects are two
// projections of the same attribute walk (LinkScan, AddrScan, RouteScan, NeighScan), so on the
// same bytes they agree, and a message the walk refuses is dropped by both, the tile counting the
// walk's own reason.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AddressDecoder } from "../shared/netlink/addr-msg";
import { createCounters, malformedTotal } from "../shared/netlink/counters";
import { RecordDecoder } from "../shared/netlink/decode";
import { LinkDecoder } from "../shared/netlink/link-msg";
import { NeighborDecoder } from "../shared/netlink/neigh-msg";
import { RouteDecoder, RouteScan } from "../shared/netlink/route-msg";
import { MessageCursor } from "../shared/netlink/wire";
import { ipToString, macToString } from "../shared/netmodel";
import { addrMessage, ipv4, linkMessage, neighMessage, routeMessage } from "./support/netlink-messages";

const SEEDS = [
  linkMessage({ ifindex: 7, name: "veth7", mac: Uint8Array.of(2, 0xaa, 0, 0, 0, 7), mtu: 9000 }),
  addrMessage({ ifindex: 7, prefixLen: 24, local: ipv4("198.18.7.1"), broadcast: ipv4("198.18.7.255") }),
  routeMessage({ dst: ipv4("198.18.70.0"), dstLen: 24, gateway: ipv4("198.18.7.2"), oif: 7, priority: 20 }),
  routeMessage({ dst: ipv4("198.18.9.0"), hops: [{ oif: 3, gateway: ipv4("198.18.1.2") }] }),
  neighMessage({ ifindex: 7, ip: ipv4("198.18.7.2"), mac: Uint8Array.of(2, 0, 0, 0, 0, 9) }),
];

/** Both projections of the one message in `bytes`: what the tile and the library made of it. */
function both(bytes: Uint8Array) {
  const cursor = new MessageCursor(bytes);
  const counters = createCounters();
  const tile = new RecordDecoder(cursor, counters);
  const lib = {
    link: new LinkDecoder(cursor),
    addr: new AddressDecoder(cursor),
    route: new RouteDecoder(cursor),
    neigh: new NeighborDecoder(cursor),
  };
  const scan = new RouteScan(cursor);
  cursor.reset(bytes.byteLength);
  if (!cursor.next()) return undefined;
  const scanReason = scan.fixed() && scan.af === 2 && !scan.walk() ? scan.reason : undefined;
  return {
    counters,
    scanReason,
    link: [tile.link(), lib.link.link()] as const,
    addr: [tile.addr(), lib.addr.address()] as const,
    route: [tile.route(), lib.route.route()] as const,
    neigh: [tile.neigh(), lib.neigh.neighbor()] as const,
  };
}

/** The tile's record, when there is one, says what the library's object says. */
function expectAgreement(r: NonNullable<ReturnType<typeof both>>): void {
  const [link, libLink] = r.link;
  if (link && libLink) {
    expect([link.ifindex, link.name, link.mtu, link.flags]).toEqual([
      libLink.ifindex,
      libLink.name,
      libLink.mtu,
      libLink.flags,
    ]);
    if (link.mac) expect(macToString(link.mac)).toBe(libLink.address);
  }
  const [addr, libAddr] = r.addr;
  if (addr && libAddr) expect([ipToString(addr.address), addr.prefixLen]).toEqual([libAddr.local, libAddr.prefixLen]);
  const [route, libRoute] = r.route;
  if (route && libRoute) {
    expect([ipToString(route.dst), route.dstLen, route.table]).toEqual([
      libRoute.dst ?? "0.0.0.0",
      libRoute.dstLen,
      libRoute.table,
    ]);
    const hop = libRoute.nexthops?.[0];
    expect(route.oif).toBe(hop ? hop.oif : (libRoute.oif ?? 0));
    expect(route.gateway === 0 ? undefined : ipToString(route.gateway)).toBe(hop ? hop.gateway : libRoute.gateway);
  }
  const [neigh, libNeigh] = r.neigh;
  if (neigh && libNeigh) {
    expect([ipToString(neigh.ip), neigh.state]).toEqual([libNeigh.dst, libNeigh.state]);
    if (neigh.mac) expect(macToString(neigh.mac)).toBe(libNeigh.lladdr);
  }
}

describe("one codec: the tile's records and the library's objects come from the same walk", () => {
  it("agree on well-formed messages of every kind", () => {
    const kinds = SEEDS.map((seed) => {
      const r = both(seed);
      if (r === undefined) throw new Error("no message");
      expectAgreement(r);
      return [r.link, r.addr, r.route, r.neigh].findIndex(([tile, lib]) => tile !== undefined && lib !== undefined);
    });
    expect(kinds).toEqual([0, 1, 2, 2, 3]);
  });

  it("agree on mutated messages, and a route the walk refuses is dropped by both with the walk's reason", () => {
    const mutated = fc
      .tuple(
        fc.constantFrom(...SEEDS),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      )
      .map(([seed, edits]) => {
        const copy = seed.slice();
        // Edits after the netlink header: keep the message framed as what it is.
        for (const [at, value] of edits) copy[16 + (at % (copy.length - 16))] = value;
        return copy;
      });
    fc.assert(
      fc.property(mutated, (bytes) => {
        const r = both(bytes);
        if (r === undefined) return;
        expectAgreement(r);
        if (r.scanReason !== undefined) {
          expect(r.route).toEqual([undefined, undefined]);
          expect(r.counters[`malformed_${r.scanReason}`]).toBeGreaterThan(0);
        }
        if (malformedTotal(r.counters) === 0 && r.route[0] === undefined) expect(r.scanReason).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
  });
});
