// The decoder turns well-formed kernel messages into netmodel records and drops every malformed
// one, counted by reason, without ever throwing.
import { describe, expect, it } from "vitest";
import {
  AF_BRIDGE,
  ARPHRD_ETHER,
  NTF_PROXY,
  NUD_PERMANENT,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_F_CLONED,
} from "../shared/netlink/constants";
import {
  createCounters,
  type MALFORMED_REASONS,
  malformedTotal,
  type NetlinkCounters,
} from "../shared/netlink/counters";
import { EventReader } from "../shared/netlink/events";
import { RECV_FOREIGN_SENDER, RECV_OVERRUN } from "../shared/netlink/io";
import { HOST_LITTLE_ENDIAN, viewOf } from "../shared/netlink/wire";
import type { NetEvent } from "../shared/netmodel";
import {
  addrMessage,
  concat,
  ipv4,
  linkMessage,
  neighMessage,
  routeMessage,
  ScriptedSocket,
} from "./support/netlink-messages";

function decode(...datagrams: (Uint8Array | number)[]): {
  events: NetEvent[];
  counters: NetlinkCounters;
  overrun: boolean;
} {
  const socket = new ScriptedSocket();
  socket.push(...datagrams);
  const reader = new EventReader(0, { io: socket, counters: createCounters(), bufferBytes: 4096 });
  const events: NetEvent[] = [];
  const { overrun } = reader.drain(100, (e) => events.push(e));
  return { events, counters: reader.counters, overrun };
}

/** Only the named malformed counter moved, by one. */
function expectOnlyMalformed(counters: NetlinkCounters, reason: (typeof MALFORMED_REASONS)[number]): void {
  expect(counters[`malformed_${reason}`]).toBe(1);
  expect(malformedTotal(counters)).toBe(1);
}

function patchU16(msg: Uint8Array, offset: number, value: number): Uint8Array {
  const out = msg.slice();
  viewOf(out).setUint16(offset, value, HOST_LITTLE_ENDIAN);
  return out;
}

function patchU32(msg: Uint8Array, offset: number, value: number): Uint8Array {
  const out = msg.slice();
  viewOf(out).setUint32(offset, value, HOST_LITTLE_ENDIAN);
  return out;
}

// Offsets: nlmsghdr 16 bytes, then the fixed struct, then attributes.
const ROUTE_FIRST_ATTR = 16 + 12;

describe("rtnetlink decoder: well-formed messages", () => {
  it("decodes one datagram of link, address, route and neighbor messages in order", () => {
    const mac = Uint8Array.of(2, 0xaa, 0, 0, 0, 7);
    const { events, counters } = decode(
      concat(
        linkMessage({ ifindex: 7, name: "veth7", mac, mtu: 9000 }),
        addrMessage({
          ifindex: 7,
          prefixLen: 24,
          local: ipv4("198.18.7.1"),
          address: ipv4("198.18.7.1"),
          broadcast: ipv4("198.18.7.255"),
        }),
        routeMessage({
          dst: ipv4("198.18.70.0"),
          dstLen: 24,
          gateway: ipv4("198.18.7.2"),
          oif: 7,
          priority: 20,
          prefsrc: ipv4("198.18.7.1"),
        }),
        neighMessage({ msgType: RTM_DELNEIGH, ifindex: 7, ip: ipv4("198.18.7.2"), mac, state: NUD_PERMANENT }),
      ),
    );
    expect(malformedTotal(counters)).toBe(0);
    expect(events).toEqual([
      {
        kind: "link",
        op: "new",
        link: {
          ifindex: 7,
          name: "veth7",
          mac,
          mtu: 9000,
          up: true,
          lowerUp: true,
          type: ARPHRD_ETHER,
          flags: 0x10001,
        },
      },
      {
        kind: "addr",
        op: "new",
        addr: { ifindex: 7, address: ipv4("198.18.7.1"), prefixLen: 24, broadcast: ipv4("198.18.7.255"), scope: 0 },
      },
      {
        kind: "route",
        op: "new",
        route: {
          table: 254,
          type: 1,
          dst: ipv4("198.18.70.0"),
          dstLen: 24,
          gateway: ipv4("198.18.7.2"),
          oif: 7,
          prefsrc: ipv4("198.18.7.1"),
          priority: 20,
          scope: 0,
          protocol: 4,
          tos: 0,
        },
      },
      { kind: "neigh", op: "del", neigh: { ifindex: 7, ip: ipv4("198.18.7.2"), mac, state: NUD_PERMANENT, flags: 0 } },
    ]);
    expect(counters.events_link + counters.events_addr + counters.events_route + counters.events_neigh).toBe(4);
    expect(counters.messages).toBe(4);
    expect(counters.datagrams).toBe(1);
  });

  it("lets RTA_TABLE override rtm_table, keeps local+main only, and ignores clones, other families (MPLS, bridge) and proxy entries", () => {
    const { events, counters } = decode(
      routeMessage({ rtmTable: 252, rtaTable: 255, dst: ipv4("198.18.0.1"), dstLen: 32, type: 2 }),
      routeMessage({ rtmTable: 254, rtaTable: 1000, dst: ipv4("198.18.1.0") }),
      routeMessage({ rtmTable: 100, dst: ipv4("198.18.2.0") }),
      routeMessage({ msgType: RTM_DELROUTE, rtmFlags: RTM_F_CLONED, dst: ipv4("198.18.3.3"), dstLen: 32 }),
      routeMessage({ family: 28, dstLen: 64 }),
      linkMessage({ family: AF_BRIDGE }),
      neighMessage({ ip: ipv4("198.18.4.4"), flags: NTF_PROXY }),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "route", route: { table: 255, type: 2, dstLen: 32 } });
    expect(counters.ignored_table).toBe(2);
    expect(counters.ignored_cloned_route).toBe(1);
    expect(counters.ignored_family).toBe(2);
    expect(counters.ignored_proxy_neigh).toBe(1);
    expect(malformedTotal(counters)).toBe(0);
  });

  it("mirrors a multipath route with its first next hop, and a default route without RTA_DST", () => {
    const { events, counters } = decode(
      routeMessage({
        dst: ipv4("198.18.9.0"),
        hops: [
          { oif: 3, gateway: ipv4("198.18.1.2") },
          { oif: 4, gateway: ipv4("198.18.1.3") },
        ],
      }),
      routeMessage({ dstLen: 0, gateway: ipv4("198.18.1.1"), oif: 3 }),
    );
    expect(
      events.map((e) => e.kind === "route" && [e.route.oif, e.route.gateway, e.route.dst, e.route.dstLen]),
    ).toEqual([
      [3, ipv4("198.18.1.2"), ipv4("198.18.9.0"), 24],
      [3, ipv4("198.18.1.1"), 0, 0],
    ]);
    expect(counters.multipath_first_hop).toBe(1);
  });

  it("gives non-Ethernet links with other address sizes no MAC instead of dropping them", () => {
    const { events, counters } = decode(linkMessage({ arphrd: 768, mac: Uint8Array.of(198, 18, 0, 1) }));
    expect(events[0]).toMatchObject({ kind: "link", link: { type: 768, mac: null } });
    expect(malformedTotal(counters)).toBe(0);
  });

  it("reports an ENOBUFS as overrun, counts foreign datagrams, and keeps decoding what follows", () => {
    const { events, counters, overrun } = decode(
      RECV_OVERRUN,
      RECV_FOREIGN_SENDER,
      neighMessage({ ip: ipv4("198.18.5.5") }),
    );
    expect(overrun).toBe(true);
    expect(counters.enobufs).toBe(1);
    expect(counters.foreign_datagrams).toBe(1);
    expect(events).toHaveLength(1);
  });
});

describe("rtnetlink decoder: malformed messages are dropped and counted by reason", () => {
  const route = routeMessage({ dst: ipv4("198.18.1.0"), oif: 2 });

  it("truncated header", () => {
    const { events, counters } = decode(route.slice(0, 10));
    expect(events).toHaveLength(0);
    expectOnlyMalformed(counters, "short_header");
  });

  it("nlmsg_len beyond the datagram, and below the header size; the rest of the datagram is dropped", () => {
    const good = neighMessage({ ip: ipv4("198.18.5.5") });
    const beyond = decode(concat(good, patchU32(route, 0, route.byteLength + 64)));
    expect(beyond.events).toHaveLength(1);
    expectOnlyMalformed(beyond.counters, "bad_msg_len");
    const below = decode(concat(patchU32(route, 0, 8), good));
    expect(below.events).toHaveLength(0);
    expectOnlyMalformed(below.counters, "bad_msg_len");
  });

  it("payload shorter than the fixed struct", () => {
    const short = patchU32(route.slice(0, 16 + 8), 0, 16 + 8);
    const { events, counters } = decode(short);
    expect(events).toHaveLength(0);
    expectOnlyMalformed(counters, "short_payload");
  });

  it("rtattr length below 4", () => {
    const { events, counters } = decode(patchU16(route, ROUTE_FIRST_ATTR, 3));
    expect(events).toHaveLength(0);
    expectOnlyMalformed(counters, "bad_attr_len");
  });

  it("attribute past the end of its message", () => {
    const { events, counters } = decode(patchU16(route, ROUTE_FIRST_ATTR, 200));
    expect(events).toHaveLength(0);
    expectOnlyMalformed(counters, "attr_past_end");
  });

  it("a trailing partial attribute header", () => {
    const longer = concat(route, new Uint8Array(4));
    const msg = patchU32(longer, 0, route.byteLength + 2);
    const { events, counters } = decode(msg);
    expect(events).toHaveLength(0);
    expectOnlyMalformed(counters, "attr_past_end");
  });

  it("wrong sizes for fixed-size attributes (3-byte and 5-byte RTA_DST, 2-byte RTA_OIF, 5-byte NDA_DST)", () => {
    for (const [msg, at] of [
      [route, ROUTE_FIRST_ATTR],
      [routeMessage({ dst: ipv4("198.18.1.0"), oif: 2, priority: 5 }), ROUTE_FIRST_ATTR + 8],
    ] as const) {
      for (const len of [4 + 3, 4 + 5, 4 + 2]) {
        const { events, counters } = decode(patchU16(msg, at, len));
        expect(events).toHaveLength(0);
        expectOnlyMalformed(counters, "bad_attr_size");
      }
    }
    const neigh = neighMessage({ ip: ipv4("198.18.5.5"), mac: new Uint8Array(6) });
    const { counters } = decode(patchU16(neigh, 16 + 12, 4 + 5));
    expectOnlyMalformed(counters, "bad_attr_size");
  });

  it("hardware addresses that are not 6 bytes (neighbor, Ethernet link)", () => {
    const neigh = decode(neighMessage({ ip: ipv4("198.18.5.5"), mac: Uint8Array.of(1, 2, 3, 4, 5) }));
    expect(neigh.events).toHaveLength(0);
    expectOnlyMalformed(neigh.counters, "bad_lladdr_size");
    const link = decode(linkMessage({ arphrd: ARPHRD_ETHER, mac: Uint8Array.of(1, 2, 3, 4) }));
    expect(link.events).toHaveLength(0);
    expectOnlyMalformed(link.counters, "bad_lladdr_size");
  });

  it("interface names without NUL, empty or longer than IFNAMSIZ", () => {
    for (const name of [Uint8Array.of(0x61, 0x62), Uint8Array.of(0), new TextEncoder().encode("abcdefghijklmnopq\0")]) {
      const { events, counters } = decode(linkMessage({ name }));
      expect(events).toHaveLength(0);
      expectOnlyMalformed(counters, "bad_ifname");
    }
  });

  it("prefix lengths above 32 and destinations with host bits", () => {
    for (const msg of [
      routeMessage({ dst: ipv4("198.18.1.0"), dstLen: 33 }),
      routeMessage({ dst: ipv4("198.18.1.1"), dstLen: 24 }),
      addrMessage({ local: ipv4("198.18.1.1"), prefixLen: 40 }),
    ]) {
      const { events, counters } = decode(msg);
      expect(events).toHaveLength(0);
      expectOnlyMalformed(counters, "bad_prefix_len");
    }
  });

  it("missing required attributes and bad interface indexes", () => {
    for (const msg of [neighMessage({}), addrMessage({}), routeMessage({ dstLen: 24 })]) {
      const { counters } = decode(msg);
      expectOnlyMalformed(counters, "missing_attr");
    }
    for (const msg of [
      linkMessage({ ifindex: 0 }),
      neighMessage({ ifindex: -1, ip: 1 }),
      addrMessage({ ifindex: 0, local: 1 }),
    ]) {
      const { counters } = decode(msg);
      expectOnlyMalformed(counters, "bad_ifindex");
    }
  });

  it("a multipath attribute with a bad next hop", () => {
    const msg = routeMessage({ dst: ipv4("198.18.9.0"), hops: [{ oif: 3, gateway: ipv4("198.18.1.2") }] });
    // RTA_MULTIPATH is the second attribute (after the 8-byte RTA_DST); rtnh_len follows its header.
    const { events, counters } = decode(patchU16(msg, ROUTE_FIRST_ATTR + 8 + 4, 4));
    expect(events).toHaveLength(0);
    expectOnlyMalformed(counters, "bad_multipath");
  });

  it("a malformed message does not spoil the next datagram", () => {
    const { events, counters } = decode(patchU16(route, ROUTE_FIRST_ATTR, 1), route);
    expect(events).toHaveLength(1);
    expectOnlyMalformed(counters, "bad_attr_len");
  });
});
