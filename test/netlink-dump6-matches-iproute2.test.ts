// IPv6 dumps through NetlinkClient, from a socket inside a fresh namespace, return what iproute2
// (`ip -6 -j`) reports there: addresses (global, link-local, flags), routes of tables main and
// local of several types and metrics (table 100 ignored; a multipath route by its first hop;
// two fe80::/64 routes that differ only by device both kept), neighbors in several NUD states
// (one resolved by real NDP); again after churn. The event socket (RTMGRP_TILENET) delivers
// addr6/route6/neigh6 events for those changes, and a model built from the first dump plus the
// events equals the final dump (an IPv6 route replace is flagged NLM_F_REPLACE and has no delete
// event for the route it replaced: isRoute6Replace).
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { formatIp6 } from "../shared/ip6";
import { addr6Key, NetlinkClient, neigh6Key, route6Key, route6ReplaceKey } from "../shared/netlink/client";
import { RTMGRP_TILENET } from "../shared/netlink/constants";
import { EventReader, isRoute6Replace } from "../shared/netlink/events";
import {
  type Addr6Record,
  macToString,
  type Neigh6Record,
  NeighState,
  type NetEvent,
  type Route6Record,
  RouteType,
} from "../shared/netmodel";
import { addon, createNetns, deleteNetns, ipBatch, ipJson, ipn, openNetlinkIn } from "./support/netlink-netns";
import { describeAsRoot } from "./support/root";

interface IpAddr {
  ifindex: number;
  addr_info: ({ family: string; local: string; prefixlen: number; scope: string } & Record<string, unknown>)[];
}
interface IpRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  metric?: number;
  nexthops?: { gateway?: string; dev: string }[];
}
interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
}

const SCOPES: Record<string, number> = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 };
/** IFA_F_* as iproute2 prints them for inet6 ("dynamic" = not permanent). */
const IFA_FLAGS: Record<string, number> = {
  temporary: 0x01,
  nodad: 0x02,
  optimistic: 0x04,
  dadfailed: 0x08,
  home: 0x10,
  deprecated: 0x20,
  tentative: 0x40,
  mngtmpaddr: 0x100,
  noprefixroute: 0x200,
  autojoin: 0x400,
  "stable-privacy": 0x800,
};
const IFA_PERMANENT = 0x80;
const SHOWN_FLAGS = 0xfff;

const t6 = (w: Uint32Array): string => formatIp6(w[0] ?? 0, w[1] ?? 0, w[2] ?? 0, w[3] ?? 0);
const addrText = (a: Addr6Record): string =>
  JSON.stringify([a.ifindex, t6(a.address), a.prefixLen, a.scope, a.flags & SHOWN_FLAGS]);
const routeText = (r: Route6Record): string =>
  [r.table, r.type, `${t6(r.dst)}/${r.dstLen}`, t6(r.gateway), r.oif, t6(r.prefsrc), r.priority].join(" ");
const neighText = (n: Neigh6Record): string => JSON.stringify([n.ifindex, t6(n.ip), macToString(n.mac), n.state]);

/** The kernel announces a neighbor entry only when it becomes valid: entries it creates NOARP for
 *  multicast groups, and entries added INCOMPLETE, appear without an RTM_NEWNEIGH (the tile's
 *  resync and verification cover them). Those with a link-layer address, not multicast, are announced. */
const isAnnounced = (n: Neigh6Record): boolean => n.mac !== null && (n.ip[0] ?? 0) >>> 24 !== 0xff;
const announced = (m: Map<string, Neigh6Record>): string[] =>
  [...m.entries()].filter(([, n]) => isAnnounced(n)).map(([k]) => k);

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describeAsRoot("IPv6 rtnetlink dumps and events match iproute2 (needs root: network namespaces)", () => {
  let ns = "";
  let peer = "";
  let fd = -1;
  let eventsFd = -1;
  let client: NetlinkClient;
  let reader: EventReader;
  const ifindex = new Map<string, number>();
  const model = { addrs: new Map<string, Addr6Record>(), routes: new Map<string, Route6Record>() };
  const neighModel = new Map<string, Neigh6Record>();
  const seen: NetEvent[] = [];
  let replaces = 0;

  const theirAddrs = (): string[] =>
    ipJson<IpAddr[]>(ns, "-6", "addr", "show").flatMap((l) =>
      l.addr_info
        .filter((a) => a.family === "inet6")
        .map((a) => {
          let flags = a.dynamic === true ? 0 : IFA_PERMANENT;
          for (const [name, bit] of Object.entries(IFA_FLAGS)) if (a[name] === true) flags |= bit;
          return JSON.stringify([l.ifindex, a.local, a.prefixlen, SCOPES[a.scope] ?? Number.NaN, flags]);
        }),
    );
  const theirRoutes = (table: "main" | "local"): string[] =>
    ipJson<IpRoute[]>(ns, "-6", "route", "show", "table", table).map((r) => {
      const [addr, len] = r.dst === "default" ? ["::", "0"] : r.dst.split("/");
      const hop = r.nexthops?.[0];
      const dev = hop?.dev ?? r.dev;
      return [
        table === "main" ? 254 : 255,
        RouteType[(r.type ?? "unicast") as keyof typeof RouteType],
        `${addr}/${len ?? "128"}`,
        hop?.gateway ?? r.gateway ?? "::",
        dev === undefined ? 0 : ifindex.get(dev),
        r.prefsrc ?? "::",
        r.metric ?? 0,
      ].join(" ");
    });
  // Multicast neighbors (ff00::/8, NOARP) are not mirrored: never a next hop, made without events.
  const theirNeighs = (): string[] =>
    ipJson<IpNeigh[]>(ns, "-6", "neigh", "show", "nud", "all")
      .filter((n) => !n.dst.toLowerCase().startsWith("ff"))
      .map((n) =>
        JSON.stringify([
          ifindex.get(n.dev),
          n.dst,
          n.lladdr ?? "",
          n.state.reduce((bits, s) => bits | (NeighState[s.toLowerCase() as keyof typeof NeighState] ?? 0), 0),
        ]),
      );

  /** Ours and iproute2's, sorted; retried while the kernel's timers (DAD, NUD) move under us. */
  function compareSettled(ours: () => string[], theirs: () => string[]): { ours: string[]; theirs: string[] } {
    let last = { ours: [] as string[], theirs: [] as string[] };
    for (let attempt = 0; attempt < 40; attempt++) {
      const a = ours().sort();
      const b = theirs().sort();
      const again = ours().sort();
      last = { ours: a, theirs: b };
      if (JSON.stringify(a) === JSON.stringify(b) && JSON.stringify(a) === JSON.stringify(again)) break;
      sleep(250);
    }
    return last;
  }

  function applyEvents(): void {
    reader.drain(1000, (e, flags) => {
      seen.push(e);
      if (isRoute6Replace(e, flags) && e.kind === "route6") {
        // The kernel replaced the (here: only) route of that table, prefix and metric, silently.
        replaces++;
        const k = route6ReplaceKey(e.route);
        for (const [key, r] of model.routes) if (route6ReplaceKey(r) === k) model.routes.delete(key);
      }
      if (e.kind === "addr6") {
        if (e.op === "new") model.addrs.set(addr6Key(e.addr), e.addr);
        else model.addrs.delete(addr6Key(e.addr));
      } else if (e.kind === "route6") {
        if (e.op === "new") model.routes.set(route6Key(e.route), e.route);
        else model.routes.delete(route6Key(e.route));
      } else if (e.kind === "neigh6") {
        if (e.op === "new") neighModel.set(neigh6Key(e.neigh), e.neigh);
        else neighModel.delete(neigh6Key(e.neigh));
      }
    });
  }

  beforeAll(() => {
    ns = createNetns("nl6dump");
    peer = createNetns("nl6dumpb");
    eventsFd = openNetlinkIn(ns, RTMGRP_TILENET, 4 << 20);
    reader = new EventReader(eventsFd, { io: addon() });
    fd = openNetlinkIn(ns, 0, 1 << 20);
    client = new NetlinkClient(fd, { timeoutMs: 10_000, io: addon() });
    // Subscribed before anything exists: the model starts from an (almost) empty dump.
    for (const a of client.dump("addrs6")) model.addrs.set(addr6Key(a), a);
    for (const r of client.dump("routes6")) model.routes.set(route6Key(r), r);
    for (const n of client.dump("neighs6")) neighModel.set(neigh6Key(n), n);
    ipn(ns, "link", "add", "va6", "type", "veth", "peer", "name", "vb6", "netns", peer);
    ipn(ns, "link", "add", "vc6", "type", "veth", "peer", "name", "vd6");
    for (const dev of ["va6", "vc6", "vd6"]) ipn(ns, "link", "set", dev, "up");
    ipn(peer, "link", "set", "vb6", "up");
    ipn(peer, "addr", "add", "2001:2::2/64", "dev", "vb6", "nodad");
    for (const l of ipJson<{ ifname: string; ifindex: number }[]>(ns, "link", "show")) ifindex.set(l.ifname, l.ifindex);
    ipBatch(ns, [
      "addr add 2001:2::1/64 dev va6 nodad",
      "addr add 2001:2:1::1/64 dev vc6 nodad noprefixroute",
      "addr add 2001:2:1::2/64 dev vc6 nodad",
      "addr add 2001:2:2::1/56 dev vd6 nodad",
      "route add 2001:2:10::/48 via 2001:2::2 metric 7",
      "route add 2001:2:11::/48 dev vc6 metric 50",
      "route add 2001:2:11::/48 dev vd6 metric 60",
      "route add blackhole 2001:2:12::/48",
      "route add unreachable 2001:2:13::/48",
      "route add prohibit 2001:2:14::/48",
      "route add throw 2001:2:15::/48",
      "route add 2001:2:16::/48 nexthop via 2001:2::2 dev va6 nexthop via 2001:2::3 dev va6",
      "route add 2001:2:17::1/128 dev va6 src 2001:2::1 proto static",
      "route add default via 2001:2::2 metric 100",
      "route add 2001:2:18::/48 via 2001:2::2 table 100",
      "neigh add 2001:2::50 lladdr 02:00:00:00:00:50 dev va6",
      "neigh add 2001:2:1::51 lladdr 02:00:00:00:00:51 dev vc6 nud stale",
      "neigh add 2001:2:2::52 lladdr 02:00:00:00:00:52 dev vd6 nud noarp",
      "neigh add 2001:2::53 lladdr 02:00:00:00:00:53 dev va6 nud reachable",
      "neigh add 2001:2::54 dev va6 nud incomplete",
      "neigh add 2001:2::55 lladdr 02:00:00:00:00:55 dev va6 nud delay",
      "neigh add proxy 2001:2::60 dev va6",
    ]);
    // One neighbor resolved by the kernel itself (NDP with the peer namespace).
    execFileSync("ip", ["netns", "exec", ns, "ping", "-6", "-c", "1", "-W", "2", "2001:2::2"], { stdio: "ignore" });
  });

  afterAll(() => {
    if (fd >= 0) addon().closeFd(fd);
    if (eventsFd >= 0) addon().closeFd(eventsFd);
    deleteNetns(ns, peer);
  });

  it("addresses as `ip -6 -j addr show` (global, link-local, flags)", () => {
    const { ours, theirs } = compareSettled(() => client.dump("addrs6").map(addrText), theirAddrs);
    expect(ours).toEqual(theirs);
    expect(ours).toContainEqual(JSON.stringify([ifindex.get("vc6"), "2001:2:1::1", 64, 0, 0x80 | 0x02 | 0x200]));
    expect(ours.some((a) => a.includes('"fe80::'))).toBe(true);
  });

  it("routes of tables main and local as `ip -6 -j route show table main/local`, table 100 ignored", () => {
    const before = client.counters.ignored_table;
    const { ours, theirs } = compareSettled(
      () => client.dump("routes6").map(routeText),
      () => [...theirRoutes("main"), ...theirRoutes("local")],
    );
    expect(ours).toEqual(theirs);
    expect(client.counters.ignored_table).toBeGreaterThan(before);
    const va = ifindex.get("va6");
    const lo = ifindex.get("lo");
    for (const want of [
      `254 1 2001:2:10::/48 2001:2::2 ${va} :: 7`,
      `254 6 2001:2:12::/48 :: ${lo} :: 1024`,
      `254 9 2001:2:15::/48 :: ${lo} :: 1024`,
      `254 1 2001:2:16::/48 2001:2::2 ${va} :: 1024`,
      `254 1 ::/0 2001:2::2 ${va} :: 100`,
      `254 1 2001:2:17::1/128 :: ${va} 2001:2::1 1024`,
      `255 2 2001:2::1/128 :: ${va} :: 0`,
      `255 5 ff00::/8 :: ${va} :: 256`,
    ])
      expect(ours).toContain(want);
    // fe80::/64 on every interface: same table, prefix and metric, kept apart by device.
    expect(ours.filter((r) => r.startsWith("254 1 fe80::/64")).length).toBeGreaterThanOrEqual(3);
  });

  it("neighbors in several NUD states as `ip -6 -j neigh show nud all`, proxy entries left out", () => {
    const { ours, theirs } = compareSettled(() => client.dump("neighs6").map(neighText), theirNeighs);
    expect(ours).toEqual(theirs);
    const states = new Set(client.dump("neighs6").map((n) => n.state));
    for (const s of [NeighState.permanent, NeighState.stale]) expect(states.has(s)).toBe(true);
    expect(client.dump("neighs6").some((n) => (n.ip[0] ?? 0) >>> 24 === 0xff)).toBe(false);
    expect(ours.some((n) => n.includes('"2001:2::2"'))).toBe(true);
  });

  it("the full snapshot holds both families", () => {
    const snap = client.fullSnapshot();
    expect(snap.addrs6?.length).toBeGreaterThan(4);
    expect(snap.routes6?.length).toBeGreaterThan(10);
    expect(snap.neighs6?.length).toBeGreaterThan(3);
    expect(snap.routes.length).toBeGreaterThan(0); // IPv4 local routes of 127.0.0.1 on lo
  });

  it("after churn: dumps still match iproute2, and events rebuilt the same state", () => {
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) lines.push(`route add 2001:2:100:${i.toString(16)}::/64 via 2001:2::2 metric ${i}`);
    for (let i = 0; i < 200; i += 2) lines.push(`route del 2001:2:100:${i.toString(16)}::/64 metric ${i}`);
    for (let i = 0; i < 20; i++) lines.push(`addr add 2001:2:3::${i + 1}/64 dev vd6 nodad`);
    for (let i = 0; i < 20; i += 3) lines.push(`addr del 2001:2:3::${i + 1}/64 dev vd6`);
    for (let i = 0; i < 30; i++)
      lines.push(
        `neigh add 2001:2::${(0x100 + i).toString(16)} lladdr 02:00:00:00:01:${(i + 16).toString(16)} dev va6 nud permanent`,
      );
    for (let i = 0; i < 30; i += 4) lines.push(`neigh del 2001:2::${(0x100 + i).toString(16)} dev va6`);
    lines.push("route replace 2001:2:10::/48 via 2001:2::3 metric 7", "route del 2001:2:14::/48");
    lines.push("neigh replace 2001:2::50 lladdr 02:00:00:00:00:5f dev va6 nud permanent");
    ipBatch(ns, lines);
    const r = compareSettled(
      () => client.dump("routes6").map(routeText),
      () => [...theirRoutes("main"), ...theirRoutes("local")],
    );
    expect(r.ours).toEqual(r.theirs);
    expect(r.ours).toContain(`254 1 2001:2:10::/48 2001:2::3 ${ifindex.get("va6")} :: 7`);
    const a = compareSettled(() => client.dump("addrs6").map(addrText), theirAddrs);
    expect(a.ours).toEqual(a.theirs);
    const n = compareSettled(() => client.dump("neighs6").map(neighText), theirNeighs);
    expect(n.ours).toEqual(n.theirs);

    // The events: every kind and op arrived, and the model they built is the dump's membership.
    const keysEqual = (): boolean => {
      applyEvents();
      const same = (m: Map<string, unknown> | string[], d: string[]) =>
        JSON.stringify([...(Array.isArray(m) ? m : m.keys())].sort()) === JSON.stringify(d.sort());
      return (
        same(model.addrs, client.dump("addrs6").map(addr6Key)) &&
        same(model.routes, client.dump("routes6").map(route6Key)) &&
        same(announced(neighModel), client.dump("neighs6").filter(isAnnounced).map(neigh6Key))
      );
    };
    let equal = false;
    for (let attempt = 0; attempt < 20 && !equal; attempt++) {
      equal = keysEqual();
      if (!equal) sleep(250);
    }
    expect([...model.routes.keys()].sort()).toEqual(client.dump("routes6").map(route6Key).sort());
    expect([...model.addrs.keys()].sort()).toEqual(client.dump("addrs6").map(addr6Key).sort());
    expect(announced(neighModel).sort()).toEqual(client.dump("neighs6").filter(isAnnounced).map(neigh6Key).sort());
    const kinds = new Set(seen.map((e) => `${e.op} ${e.kind}`));
    for (const k of ["new addr6", "del addr6", "new route6", "del route6", "new neigh6", "del neigh6"])
      expect(kinds.has(k), k).toBe(true);
    expect(reader.counters.events_route6).toBeGreaterThanOrEqual(300);
    expect(replaces).toBe(1);
    expect(reader.counters.enobufs).toBe(0);
    expect(Object.entries(reader.counters).filter(([k, v]) => k.startsWith("malformed_") && v > 0)).toEqual([]);
    const replaced = model.routes.get(
      route6Key(client.dump("routes6").find((x) => t6(x.dst) === "2001:2:10::") as Route6Record),
    );
    expect(replaced && t6(replaced.gateway)).toBe("2001:2::3");
  });
});
