// The netstate library's routes, rules and neighbors against the kernel, with iproute2 as the
// independent oracle: IPv4 and IPv6 routes of several tables and every type, metrics, gateways,
// multipath next hops, protocol and scope; replace and delete; the kernel's RTM_GETROUTE answer;
// policy rules; neighbors with states and the NTF_USE request; link statistics.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetns, deleteNetns, NetlinkError, NetState, NetstateArgumentError } from "../shared/netstate";
import { ipJson, isRoot, uniqueNetnsName } from "./support/netlink-netns";

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  type?: string;
  table?: string;
  nexthops?: { gateway: string; dev: string; weight: number }[];
  metrics?: Record<string, number>[];
}

describe.skipIf(!isRoot)("netstate: routes, rules, neighbors", () => {
  const a = uniqueNetnsName("nsr");
  const b = uniqueNetnsName("nsr");
  let ns: NetState;

  beforeAll(async () => {
    await createNetns(a);
    await createNetns(b);
    ns = await NetState.open({ netns: a });
    await ns.addVeth({ name: "r0" }, { name: "r1" });
    for (const dev of ["lo", "r0", "r1"]) await ns.setLink(dev, { up: true });
    await ns.addAddress("r0", "198.18.9.1/24");
    await ns.addAddress("r1", "198.18.10.1/24");
    await ns.addAddress("r0", "2001:2:0:9::1/64", { flags: 0x02 });
    await ns.addAddress("r1", "2001:2:0:10::1/64", { flags: 0x02 });
  });

  afterAll(async () => {
    ns?.close();
    for (const name of [a, b]) await deleteNetns(name).catch(() => undefined);
  });

  it("adds IPv4 and IPv6 routes of every type, in several tables, as iproute2 sees them", async () => {
    await ns.addRoute({
      dst: "198.18.100.0/24",
      gateway: "198.18.9.2",
      metric: 20,
      protocol: "static",
      metrics: { mtu: 1300 },
    });
    await ns.addRoute({ dst: "198.18.101.0/24", dev: "r1", table: 100 });
    await ns.addRoute({ dst: "default", family: 4, gateway: "198.18.10.2", table: 1000 });
    await ns.addRoute({ dst: "2001:2:0:100::/64", gateway: "2001:2:0:9::2", table: 100 });
    for (const type of ["blackhole", "unreachable", "prohibit", "throw"] as const)
      await ns.addRoute({
        dst: `198.18.${110 + ["blackhole", "unreachable", "prohibit", "throw"].indexOf(type)}.0/24`,
        type,
      });
    await ns.addRoute({
      dst: "198.18.120.0/24",
      nexthops: [{ gateway: "198.18.9.2", weight: 2 }, { gateway: "198.18.10.2" }],
    });
    const main = ipJson<IpRoute[]>(a, "route", "show");
    expect(main).toContainEqual(
      expect.objectContaining({
        dst: "198.18.100.0/24",
        gateway: "198.18.9.2",
        metric: 20,
        protocol: "static",
        metrics: [{ mtu: 1300 }],
      }),
    );
    expect(main).toContainEqual(expect.objectContaining({ dst: "198.18.110.0/24", type: "blackhole" }));
    expect(main).toContainEqual(expect.objectContaining({ dst: "198.18.113.0/24", type: "throw" }));
    const mp = main.find((r) => r.dst === "198.18.120.0/24");
    expect(mp?.nexthops).toEqual([
      expect.objectContaining({ gateway: "198.18.9.2", dev: "r0", weight: 2 }),
      expect.objectContaining({ gateway: "198.18.10.2", dev: "r1", weight: 1 }),
    ]);
    expect(ipJson<IpRoute[]>(a, "route", "show", "table", "100")).toContainEqual(
      expect.objectContaining({ dst: "198.18.101.0/24", dev: "r1", scope: "link" }),
    );
    expect(ipJson<IpRoute[]>(a, "-6", "route", "show", "table", "100")).toContainEqual(
      expect.objectContaining({ dst: "2001:2:0:100::/64", gateway: "2001:2:0:9::2" }),
    );
    expect(ipJson<IpRoute[]>(a, "route", "show", "table", "1000")).toContainEqual(
      expect.objectContaining({ dst: "default", gateway: "198.18.10.2" }),
    );
  });

  it("lists routes with every field, filtered by table, family and device", async () => {
    const all = await ns.listRoutes();
    const r = all.find((x) => x.dst === "198.18.100.0" && x.dstLen === 24);
    expect(r).toMatchObject({
      family: 4,
      table: 254,
      type: "unicast",
      gateway: "198.18.9.2",
      metric: 20,
      protocol: 4,
      metrics: { mtu: 1300 },
    });
    const mp = all.find((x) => x.dst === "198.18.120.0");
    expect(mp?.nexthops?.map((h) => [h.gateway, h.weight])).toEqual([
      ["198.18.9.2", 2],
      ["198.18.10.2", 1],
    ]);
    expect((await ns.listRoutes({ table: 1000 })).map((x) => [x.dst, x.dstLen, x.gateway])).toEqual([
      [undefined, 0, "198.18.10.2"],
    ]);
    const v6 = await ns.listRoutes({ family: 6, table: 100 });
    expect(v6.map((x) => `${x.dst}/${x.dstLen}`)).toEqual(["2001:2:0:100::/64"]);
    const local = await ns.listRoutes({ table: "local", dev: "r0" });
    expect(local.some((x) => x.type === "local" && x.dst === "198.18.9.1")).toBe(true);
    // Same membership as iproute2 for the main table, both families.
    const mine = (await ns.listRoutes({ table: "main", family: 4 })).map((x) =>
      x.dstLen ? `${x.dst}/${x.dstLen}` : "default",
    );
    const theirs = ipJson<IpRoute[]>(a, "route", "show").map((x) =>
      x.dst.includes("/") || x.dst === "default" ? x.dst : `${x.dst}/32`,
    );
    expect(mine.sort()).toEqual(theirs.sort());
  });

  it("replaces and deletes routes", async () => {
    await ns.replaceRoute({ dst: "198.18.100.0/24", gateway: "198.18.10.2", metric: 20, protocol: "static" });
    expect(ipJson<IpRoute[]>(a, "route", "show", "198.18.100.0/24")[0]).toMatchObject({ gateway: "198.18.10.2" });
    await ns.deleteRoute({ dst: "198.18.100.0/24", metric: 20 });
    expect(ipJson<IpRoute[]>(a, "route", "show", "198.18.100.0/24")).toEqual([]);
    const gone = (await ns.deleteRoute({ dst: "198.18.100.0/24" }).catch((e: unknown) => e)) as NetlinkError;
    expect(gone).toBeInstanceOf(NetlinkError);
    expect(gone.code).toBe("ESRCH");
  });

  it("answers like `ip route get` (RTM_GETROUTE)", async () => {
    const r = await ns.getRoute("198.18.120.7");
    const [theirs] = ipJson<{ dst: string; gateway: string; prefsrc: string }[]>(a, "route", "get", "198.18.120.7");
    expect(r.dst).toBe(theirs?.dst);
    expect(r.gateway).toBe(theirs?.gateway);
    expect(r.prefsrc).toBe(theirs?.prefsrc);
    const v6 = await ns.getRoute("2001:2:0:9::77");
    expect(v6.oif).toBe((await ns.getLink("r0")).ifindex);
    const unreachable = (await ns.getRoute("198.18.111.1").catch((e: unknown) => e)) as NetlinkError;
    expect(unreachable.code).toBe("EHOSTUNREACH");
  });

  it("adds, lists and deletes policy rules", async () => {
    await ns.addRule({ priority: 1000, from: "198.18.9.0/24", table: 100 });
    await ns.addRule({ family: 6, priority: 1001, to: "2001:2:0:100::/64", table: 100 });
    const rules = ipJson<{ priority: number; src?: string; table: string }[]>(a, "rule", "show");
    expect(rules).toContainEqual(expect.objectContaining({ priority: 1000, src: "198.18.9.0", table: "100" }));
    const mine = await ns.listRules(4);
    expect(mine.map((r) => r.priority)).toEqual(rules.map((r) => r.priority));
    expect(mine.find((r) => r.priority === 1000)).toMatchObject({
      src: "198.18.9.0",
      srcLen: 24,
      table: 100,
      action: "to_tbl",
    });
    expect((await ns.listRules(6)).some((r) => r.priority === 1001 && r.dst === "2001:2:0:100::")).toBe(true);
    await ns.deleteRule({ priority: 1000 });
    expect((await ns.listRules(4)).some((r) => r.priority === 1000)).toBe(false);
  });

  it("adds, replaces and deletes IPv4 and IPv6 neighbors, and requests resolution (NTF_USE)", async () => {
    await ns.addNeighbor({ dst: "198.18.9.50", dev: "r0", lladdr: "02:00:00:00:09:50" });
    await ns.addNeighbor({
      dst: "2001:2:0:9::50",
      dev: "r0",
      lladdr: "02:00:00:00:09:51",
      state: "reachable",
      router: true,
    });
    await ns.replaceNeighbor({ dst: "198.18.9.50", dev: "r0", lladdr: "02:00:00:00:09:52", state: "stale" });
    const seen = ipJson<{ dst: string; lladdr: string; state: string[]; router?: null }[]>(
      a,
      "neigh",
      "show",
      "dev",
      "r0",
    );
    expect(seen).toContainEqual(
      expect.objectContaining({ dst: "198.18.9.50", lladdr: "02:00:00:00:09:52", state: ["STALE"] }),
    );
    const mine = await ns.listNeighbors({ dev: "r0" });
    expect(mine.find((n) => n.dst === "198.18.9.50")).toMatchObject({
      family: 4,
      lladdr: "02:00:00:00:09:52",
      state: 0x04,
    });
    expect(mine.find((n) => n.dst === "2001:2:0:9::50")).toMatchObject({ family: 6, flags: 0x80 });
    await ns.resolveNeighbor({ dst: "198.18.9.77", dev: "r0" });
    const probing = (await ns.listNeighbors({ family: 4 })).find((n) => n.dst === "198.18.9.77");
    expect(probing).toBeDefined();
    expect(probing?.lladdr).toBeUndefined();
    await ns.deleteNeighbor({ dst: "198.18.9.50", dev: "r0" });
    expect((await ns.listNeighbors({ dev: "r0" })).some((n) => n.dst === "198.18.9.50")).toBe(false);
  });

  it("reads link statistics", async () => {
    // Traffic over the veth: the neighbor probe above sent ARP requests out of r0.
    const [r0] = (await ns.listLinks({ stats: true })).filter((l) => l.name === "r0");
    expect(r0?.stats?.txPackets).toBeGreaterThan(0);
    const sysfs = Number(
      execFileSync("ip", ["netns", "exec", a, "cat", "/sys/class/net/r0/statistics/tx_packets"], { encoding: "utf8" }),
    );
    expect(r0?.stats?.txPackets).toBeLessThanOrEqual(sysfs);
    expect((await ns.getLink("r0")).stats).toBeUndefined();
  });

  it("refuses bad route, rule and neighbor arguments by name", async () => {
    await expect(ns.addRoute({ dst: "198.18.100.1/24" })).rejects.toThrow(/addRoute: dst .* host bits/);
    await expect(ns.addRoute({ dst: "default" })).rejects.toThrow(/addRoute: family/);
    await expect(ns.addRoute({ dst: "198.18.1.0/24", gateway: "2001:2::1" })).rejects.toThrow(/gateway .* IPv4/);
    await expect(ns.addRoute({ dst: "198.18.1.0/24", table: "nosuchtable" })).rejects.toThrow(/addRoute: table/);
    await expect(ns.addRoute({ dst: "198.18.1.0/24", metrics: { mtu: -1 } })).rejects.toThrow(/metrics.mtu/);
    await expect(ns.addRoute({ dst: "198.18.1.0/24", nexthops: [{ weight: 2 }] })).rejects.toThrow(/nexthops\[0\]/);
    await expect(ns.addNeighbor({ dst: "198.18.9.5", dev: "r0", state: "bogus" })).rejects.toBeInstanceOf(
      NetstateArgumentError,
    );
    await expect(ns.addRule({ from: "2001:2::/64", family: 4 })).rejects.toThrow(/addRule: from/);
  });
});
