// The rtnetlink decoder on AF_INET6 messages: addresses, routes (tables local and main, first hop
// of a multipath route, source-specific routes ignored) and neighbors become Addr6/Route6/Neigh6
// records with addresses as four words; every malformed attribute is a counted drop, never a
// throw; the fuzz target reaches the IPv6 decoders and never throws on mutated IPv6 messages; the
// IPv6 seeds of the netlink corpus are those messages, byte for byte.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatIp6, parseIp6 } from "../shared/ip6";
import {
  AF_INET6,
  NTF_PROXY,
  RTM_DELADDR,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_F_CLONED,
} from "../shared/netlink/constants";
import { createCounters, malformedTotal, type NetlinkCounters } from "../shared/netlink/counters";
import { EventReader } from "../shared/netlink/events";
import { fuzzDecode, fuzzDecodeCounted } from "../shared/netlink/fuzz";
import { dumpRequest } from "../shared/netlink/requests";
import { HOST_LITTLE_ENDIAN, viewOf } from "../shared/netlink/wire";
import type { NetEvent } from "../shared/netmodel";
import { addrMessage, concat, ipv4, neighMessage, routeMessage, ScriptedSocket } from "./support/netlink-messages";
import { addr6Message, ip6Bytes, neigh6Message, netlink6CorpusSeeds, route6Message } from "./support/netlink6-messages";

function decode(...messages: Uint8Array[]): { events: NetEvent[]; counters: NetlinkCounters } {
  const socket = new ScriptedSocket();
  const datagram = concat(...messages);
  socket.push(datagram);
  const counters = createCounters();
  const events: NetEvent[] = [];
  new EventReader(0, { io: socket, counters, bufferBytes: datagram.length + 64 }).drain(1, (e) => events.push(e));
  return { events, counters };
}

const w = (text: string): number[] => [...(parseIp6(text) ?? [])];
const txt = (a: Uint32Array): string => formatIp6(a[0] ?? 0, a[1] ?? 0, a[2] ?? 0, a[3] ?? 0);
const mac = Uint8Array.of(2, 0, 0, 0, 0, 7);

describe("IPv6 rtnetlink decoding", () => {
  it("decodes addresses, routes and neighbors of both families from one datagram, counted by kind", () => {
    const { events, counters } = decode(
      addrMessage({ local: ipv4("198.18.0.1"), address: ipv4("198.18.0.1") }),
      addr6Message({ address: "2001:2::1", prefixLen: 64, flags: 0x282 }),
      addr6Message({ msgType: RTM_DELADDR, address: "fe80::1", scope: 253, ifaFlags: 0x80 }),
      routeMessage({ dst: ipv4("198.18.1.0"), oif: 2 }),
      route6Message({ dst: "2001:2:1::", dstLen: 48, gateway: "fe80::2", oif: 2, prefsrc: "2001:2::1", priority: 7 }),
      route6Message({ msgType: RTM_DELROUTE, dst: "2001:2::1", dstLen: 128, rtmTable: 255, type: 2, priority: 0 }),
      neighMessage({ ip: ipv4("198.18.0.2"), mac }),
      neigh6Message({ ip: "2001:2::7", mac, state: 0x04, flags: 0x80 }),
      neigh6Message({ msgType: RTM_DELNEIGH, ip: "fe80::9", state: 0x01 }),
    );
    expect(malformedTotal(counters)).toBe(0);
    expect(events.map((e) => `${e.op} ${e.kind}`)).toEqual([
      "new addr",
      "new addr6",
      "del addr6",
      "new route",
      "new route6",
      "del route6",
      "new neigh",
      "new neigh6",
      "del neigh6",
    ]);
    expect(counters).toMatchObject({ events_addr6: 2, events_route6: 2, events_neigh6: 2, events_addr: 1 });
    const [, a1, a2, , r1, r2, , n1, n2] = events;
    if (a1?.kind !== "addr6" || a2?.kind !== "addr6") throw new Error("not addr6");
    expect({ ...a1.addr, address: [...a1.addr.address] }).toEqual({
      ifindex: 2,
      address: w("2001:2::1"),
      prefixLen: 64,
      scope: 0,
      flags: 0x282,
    });
    // Without IFA_FLAGS: the 8-bit ifa_flags.
    expect(a2.addr.flags).toBe(0x80);
    expect(txt(a2.addr.address)).toBe("fe80::1");
    if (r1?.kind !== "route6" || r2?.kind !== "route6") throw new Error("not route6");
    expect(r1.route).toMatchObject({ table: 254, type: 1, dstLen: 48, oif: 2, priority: 7, protocol: 3 });
    expect([txt(r1.route.dst), txt(r1.route.gateway), txt(r1.route.prefsrc)]).toEqual([
      "2001:2:1::",
      "fe80::2",
      "2001:2::1",
    ]);
    expect(r2.route).toMatchObject({ table: 255, type: 2, dstLen: 128, oif: 0, priority: 0 });
    expect(txt(r2.route.gateway)).toBe("::");
    if (n1?.kind !== "neigh6" || n2?.kind !== "neigh6") throw new Error("not neigh6");
    expect(n1.neigh).toMatchObject({ ifindex: 2, state: 0x04, flags: 0x80 });
    expect([...(n1.neigh.mac ?? [])]).toEqual([...mac]);
    expect(txt(n1.neigh.ip)).toBe("2001:2::7");
    expect(n2.neigh.mac).toBeNull();
  });

  it("keeps tables local and main (RTA_TABLE overrides rtm_table), ignores clones, source routes, proxies, tunnel neighbors", () => {
    const { events, counters } = decode(
      route6Message({ rtmTable: 252, rtaTable: 255, dst: "2001:2::1", dstLen: 128, type: 2 }),
      route6Message({ rtmTable: 100, dst: "2001:2:5::", dstLen: 48 }),
      route6Message({ rtmTable: 254, rtaTable: 1000, dst: "2001:2:6::", dstLen: 48 }),
      route6Message({ rtmFlags: RTM_F_CLONED, dst: "2001:2::9", dstLen: 128 }),
      route6Message({ dst: "2001:2:7::", dstLen: 48, srcLen: 64 }),
      neigh6Message({ ip: "2001:2::8", flags: NTF_PROXY }),
      neigh6Message({ ip: "2001:2::9", mac: Uint8Array.of(198, 18, 0, 9) }),
      route6Message({ dst: "2001:2:8::", dstLen: 48, hops: [{ oif: 3, gateway: "fe80::3" }, { oif: 4 }] }),
      route6Message({ dstLen: 0, gateway: "2001:2::fe", oif: 2 }),
    );
    expect(malformedTotal(counters)).toBe(0);
    expect(counters).toMatchObject({
      ignored_table: 2,
      ignored_cloned_route: 1,
      ignored_source_route: 1,
      ignored_proxy_neigh: 1,
      ignored_non_ethernet_lladdr: 1,
      multipath_first_hop: 1,
    });
    expect(events).toHaveLength(3);
    const [local, multi, dflt] = events;
    expect(local).toMatchObject({ kind: "route6", route: { table: 255, type: 2, dstLen: 128 } });
    if (multi?.kind !== "route6" || dflt?.kind !== "route6") throw new Error("not route6");
    expect(multi.route.oif).toBe(3);
    expect(txt(multi.route.gateway)).toBe("fe80::3");
    expect([txt(dflt.route.dst), dflt.route.dstLen, txt(dflt.route.gateway)]).toEqual(["::", 0, "2001:2::fe"]);
  });

  it("counts every malformed IPv6 message by reason and never throws", () => {
    const cases: [Uint8Array, string][] = [
      [addr6Message({ address: ip6Bytes("2001:2::1").subarray(0, 4) }), "bad_attr_size"],
      [addr6Message({ address: "2001:2::1", prefixLen: 129 }), "bad_prefix_len"],
      [addr6Message({ address: "2001:2::1", ifindex: 0 }), "bad_ifindex"],
      [addr6Message({}), "missing_attr"],
      [addr6Message({ address: "2001:2::1", flags: Uint8Array.of(1, 2) }), "bad_attr_size"],
      [route6Message({ dst: "2001:2::", dstLen: 129 }), "bad_prefix_len"],
      [route6Message({ dst: "2001:2::1", dstLen: 64 }), "bad_prefix_len"],
      [route6Message({ dstLen: 64 }), "missing_attr"],
      [route6Message({ dst: "2001:2::", dstLen: 64, srcLen: 200 }), "bad_prefix_len"],
      [route6Message({ dst: "2001:2::", dstLen: 64, gateway: Uint8Array.of(198, 18, 0, 1) }), "bad_attr_size"],
      [route6Message({ dst: "2001:2::", dstLen: 64, hops: [{ oif: -1 }] }), "bad_multipath"],
      [neigh6Message({ ip: "2001:2::2", mac: new Uint8Array(33) }), "bad_lladdr_size"],
      [neigh6Message({ ip: "2001:2::2", ifindex: 0 }), "bad_ifindex"],
      [neigh6Message({ ip: Uint8Array.of(198, 18, 0, 2) }), "bad_attr_size"],
      [neigh6Message({ mac }), "missing_attr"],
    ];
    for (const [message, reason] of cases) {
      const { events, counters } = decode(message);
      expect(events, reason).toEqual([]);
      expect(counters[`malformed_${reason}` as keyof NetlinkCounters], reason).toBe(1);
      expect(malformedTotal(counters), reason).toBe(1);
    }
    // A fixed struct cut short (nlmsg_len says so): short_payload, for each kind.
    for (const m of [addr6Message(), route6Message(), neigh6Message()]) {
      const cut = m.slice(0, 16 + 6);
      viewOf(cut).setUint32(0, cut.length, HOST_LITTLE_ENDIAN);
      expect(decode(cut).counters.malformed_short_payload).toBe(1);
    }
    // An attribute running past its message.
    const whole = addr6Message({ address: "2001:2::1" });
    const past = whole.slice(0, whole.length - 4);
    viewOf(past).setUint32(0, past.length, HOST_LITTLE_ENDIAN);
    expect(decode(past).counters.malformed_attr_past_end).toBe(1);
  });

  it("asks the kernel for IPv6 dumps of addresses, routes and neighbors", () => {
    for (const kind of ["addrs6", "routes6", "neighs6"] as const) expect(dumpRequest(kind, 1)[16]).toBe(AF_INET6);
    for (const kind of ["addrs", "routes", "neighs"] as const) expect(dumpRequest(kind, 1)[16]).toBe(2);
  });
});

const seeds = netlink6CorpusSeeds();
const corpus = seeds.map(([, bytes]) => bytes);
const datagram = fc.array(fc.constantFrom(...corpus), { minLength: 1, maxLength: 4 }).map((parts) => concat(...parts));
const mutated = fc.oneof(
  fc
    .tuple(datagram, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }))
    .map(([d, flips]) => {
      const out = d.slice();
      for (const [at, value] of flips) out[at % out.length] = value;
      return out;
    }),
  fc.tuple(datagram, fc.nat(), fc.integer({ min: 0, max: 0xffff })).map(([d, at, value]) => {
    const out = d.slice();
    viewOf(out).setUint16((at % (out.length - 1)) & ~1, value, HOST_LITTLE_ENDIAN);
    return out;
  }),
  fc.tuple(fc.constantFrom(...corpus), fc.nat()).map(([m, cut]) => {
    const out = m.slice(0, 16 + (cut % (m.length - 15)));
    viewOf(out).setUint32(0, out.length, HOST_LITTLE_ENDIAN);
    return out;
  }),
  fc
    .tuple(datagram, datagram, fc.nat(), fc.nat())
    .map(([a, b, i, j]) => concat(a.slice(0, i % (a.length + 1)), b.slice(j % (b.length + 1)))),
);

describe("netlink fuzz target on IPv6 messages", () => {
  it("the IPv6 corpus seeds are the builders' messages, byte for byte, and decode cleanly", () => {
    for (const [name, bytes] of seeds) {
      expect([...readFileSync(join(__dirname, "fuzz", "corpus", "netlink", name))], name).toEqual([...bytes]);
    }
    const counters = fuzzDecodeCounted(concat(...corpus));
    expect(malformedTotal(counters)).toBe(0);
    expect(counters).toMatchObject({ events_addr6: 3, events_route6: 5, events_neigh6: 2 });
  });

  it("never throws, and yields only well-formed IPv6 records, on mutated IPv6 messages", () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        fuzzDecode(bytes);
        const socket = new ScriptedSocket();
        socket.push(bytes);
        new EventReader(0, { io: socket, bufferBytes: Math.max(64, bytes.length + 8) }).drain(1, (e) => {
          const ok4 = (a: Uint32Array) => a instanceof Uint32Array && a.length === 4;
          if (e.kind === "addr6")
            expect(ok4(e.addr.address) && e.addr.prefixLen <= 128 && e.addr.ifindex >= 1).toBe(true);
          if (e.kind === "route6") {
            const r = e.route;
            expect(r.table === 254 || r.table === 255).toBe(true);
            expect(ok4(r.dst) && ok4(r.gateway) && ok4(r.prefsrc) && r.dstLen <= 128).toBe(true);
          }
          if (e.kind === "neigh6")
            expect(ok4(e.neigh.ip) && (e.neigh.mac === null || e.neigh.mac.length === 6)).toBe(true);
        });
      }),
      { numRuns: 4_000 },
    );
  });
});
