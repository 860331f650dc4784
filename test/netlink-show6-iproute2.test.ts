// `netbase show` prints IPv6 records in the shapes `ip -6 -j` gives: the decoded dump of a fresh
// namespace (addresses with flags, routes of several types, tables and metrics, neighbors),
// shaped by the CLI's ipAddr6Info / ipRoute6 / ipNeighbor6, equals iproute2's JSON for every key
// both print; the text lines are `ip -6 route` / `ip -6 neigh` lines (less "pref medium").
import { afterAll, beforeAll, expect, it } from "vitest";
import { deviceNames, routeText } from "../launcher/iproute2-shape";
import { ipAddr6Info, ipNeighbor6, ipRoute6 } from "../launcher/netbase-cli";
import type { StoredInterface } from "../shared/netbase/reader";
import { NetlinkClient } from "../shared/netlink/client";
import { addon, createNetns, deleteNetns, ipBatch, ipJson, ipn, openNetlinkIn } from "./support/netlink-netns";
import { describeAsRoot } from "./support/root";

type Json = Record<string, unknown>;
const ROUTE_KEYS = ["type", "dst", "gateway", "dev", "table", "protocol", "prefsrc", "metric"] as const;
const ADDR_KEYS = ["family", "local", "prefixlen", "scope", "nodad", "dynamic", "noprefixroute", "tentative"] as const;
const NEIGH_KEYS = ["dst", "dev", "lladdr", "state"] as const;
const pick = (o: Json, keys: readonly string[]): Json =>
  Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
const sorted = (xs: Json[]): string[] => xs.map((x) => JSON.stringify(x)).sort();

describeAsRoot("netbase show: IPv6 in ip -6 -j shapes (needs root: network namespaces)", () => {
  let ns = "";
  let fd = -1;
  let client: NetlinkClient;

  beforeAll(() => {
    ns = createNetns("nl6show");
    ipn(ns, "link", "add", "sa6", "type", "veth", "peer", "name", "sb6");
    ipn(ns, "link", "set", "sa6", "up");
    ipn(ns, "link", "set", "sb6", "up");
    ipBatch(ns, [
      "addr add 2001:2:20::1/64 dev sa6 nodad",
      "addr add 2001:2:21::1/64 dev sb6 nodad noprefixroute",
      "route add 2001:2:22::/48 via 2001:2:20::2 metric 7",
      "route add blackhole 2001:2:23::/48",
      "route add 2001:2:24::1/128 dev sa6 src 2001:2:20::1 proto static",
      "route add default via 2001:2:20::fe",
      "neigh add 2001:2:20::7 lladdr 02:00:00:00:20:07 dev sa6 nud permanent",
      "neigh add 2001:2:20::8 lladdr 02:00:00:00:20:08 dev sa6 nud stale",
    ]);
    fd = openNetlinkIn(ns, 0, 1 << 20);
    client = new NetlinkClient(fd, { io: addon() });
  });

  afterAll(() => {
    if (fd >= 0) addon().closeFd(fd);
    deleteNetns(ns);
  });

  function dev(): (ifindex: number) => string {
    const links = client.dump("links").map((link) => ({ link, addrs: [] }) as unknown as StoredInterface);
    return deviceNames(links);
  }

  it("addresses, routes and neighbors as ip -6 -j prints them", () => {
    const names = dev();
    const byIf = new Map<number, Json[]>();
    for (const a of client.dump("addrs6").filter((x) => x.scope === 0)) {
      byIf.set(a.ifindex, [...(byIf.get(a.ifindex) ?? []), pick(ipAddr6Info(a) as unknown as Json, ADDR_KEYS)]);
    }
    const theirAddrs = ipJson<{ ifindex: number; addr_info: Json[] }[]>(ns, "-6", "addr", "show", "scope", "global");
    // (iproute2 prints the addresses its scope filter left out as {}.)
    for (const l of theirAddrs)
      expect(sorted(byIf.get(l.ifindex) ?? [])).toEqual(
        sorted(l.addr_info.filter((i) => i.family === "inet6").map((i) => pick(i, ADDR_KEYS))),
      );
    expect(byIf.size).toBe(2);

    const ours = client.dump("routes6").map((r) => pick(ipRoute6(r, names) as unknown as Json, ROUTE_KEYS));
    const theirs = ipJson<Json[]>(ns, "-6", "route", "show", "table", "all")
      .filter((r) => r.table === undefined || r.table === "local")
      .map((r) => pick(r, ROUTE_KEYS));
    expect(sorted(ours)).toEqual(sorted(theirs));
    expect(ours).toContainEqual({ dst: "2001:2:22::/48", gateway: "2001:2:20::2", dev: "sa6", metric: 7 });
    expect(ours).toContainEqual({ type: "blackhole", dst: "2001:2:23::/48", dev: "lo", metric: 1024 });
    expect(ours).toContainEqual({ dst: "default", gateway: "2001:2:20::fe", dev: "sa6", metric: 1024 });

    const neighs = client.dump("neighs6").map((n) => pick(ipNeighbor6(n, names) as unknown as Json, NEIGH_KEYS));
    // Multicast neighbors (ff00::/8) are not mirrored (shared/netlink/decode.ts).
    const theirNeighs = ipJson<Json[]>(ns, "-6", "neigh", "show", "nud", "all")
      .filter((n) => !String(n.dst).toLowerCase().startsWith("ff"))
      .map((n) => pick(n, NEIGH_KEYS));
    expect(sorted(neighs)).toEqual(sorted(theirNeighs));
    expect(neighs).toContainEqual({
      dst: "2001:2:20::7",
      dev: "sa6",
      lladdr: "02:00:00:00:20:07",
      state: ["PERMANENT"],
    });
  });

  it("text: each route line is `ip -6 route show table all`'s line without its pref", () => {
    const names = dev();
    const lines = client.dump("routes6").map((r) => routeText(ipRoute6(r, names)));
    const theirs = ipn(ns, "-6", "route", "show", "table", "all")
      .split("\n")
      .map((l) => l.replace(/ pref \w+/, "").trim())
      .filter((l) => l.length > 0 && !l.includes(" table 100"));
    expect(lines.sort()).toEqual(theirs.sort());
  });
});
