// `tilenet ip -j` prints what `ip -j` prints (same fields, names, values, order) for links,
// addresses, routes, rules and neighbors of a churned namespace: thousands of IPv4 and IPv6 routes
// in several tables (multipath, metrics, every type) and neighbors, half of them changed or
// deleted again. Its write commands are checked through iproute2 too.
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetns, deleteNetns, NetState } from "../shared/netstate";
import { isRoot, uniqueNetnsName } from "./support/netlink-netns";

const CLI = join(__dirname, "..", "dist", "cli.js");

function tilenetIp(ns: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "ip", "-n", ns, ...args], { encoding: "utf8", maxBuffer: 256 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function iproute2(ns: string, ...args: string[]): string {
  return execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8", maxBuffer: 256 << 20 });
}

/** Both outputs parsed, and re-serialized (key order included). */
function both(ns: string, args: string[]): { ours: string; theirs: string; count: number } {
  const mine = tilenetIp(ns, "-j", ...args);
  if (mine.code !== 0) throw new Error(`tilenet ip ${args.join(" ")}: exit ${mine.code}: ${mine.stderr}`);
  const theirs = JSON.parse(iproute2(ns, "-j", ...args) || "[]") as unknown[];
  return { ours: JSON.stringify(JSON.parse(mine.stdout)), theirs: JSON.stringify(theirs), count: theirs.length };
}

describe.skipIf(!isRoot)("tilenet ip -j equals ip -j on a churned namespace", () => {
  const a = uniqueNetnsName("ipj");
  const b = uniqueNetnsName("ipj");

  beforeAll(async () => {
    await createNetns(a);
    await createNetns(b);
    await NetState.in(a, async (ns) => {
      await ns.addVeth({ name: "j0", numTxQueues: 2 }, { name: "j1" });
      await ns.addVeth({ name: "k0" }, { name: "k1", netns: b });
      for (const dev of ["lo", "j0", "j1", "k0"]) await ns.setLink(dev, { up: true });
      await ns.addAddress("j0", "198.18.20.1/22");
      await ns.addAddress("j1", "198.18.24.1/22");
      await ns.addAddress("j0", "198.18.28.1/32", { peer: "198.18.28.2" });
      await ns.addAddress("j0", "2001:2:0:20::1/64", { flags: 0x02 });
      await ns.addAddress("j1", "2001:2:0:24::1/64", { flags: 0x02 });
      await churn(ns);
    });
  }, 240_000);

  afterAll(async () => {
    for (const name of [a, b]) await deleteNetns(name).catch(() => undefined);
  });

  /** Neighbors are mostly PERMANENT: the kernel's limit on the others (gc_thresh3) is shared by
   *  every namespace on the machine, and other tests may be using it. */
  async function churn(ns: NetState): Promise<void> {
    const tables = ["main", 100, 200];
    for (let i = 0; i < 3000; i++) {
      const table = tables[i % 3] as string | number;
      const dst = `198.${19 + (i >> 12)}.${(i >> 4) & 0xff}.${(i & 15) << 4}/28`;
      if (i % 7 === 0)
        await ns.addRoute({
          dst,
          table,
          nexthops: [{ gateway: "198.18.20.2", weight: 3 }, { gateway: "198.18.24.2" }],
        });
      else if (i % 11 === 0)
        await ns.addRoute({ dst, table, type: (["blackhole", "unreachable", "prohibit", "throw"] as const)[i % 4] });
      else
        await ns.addRoute({
          dst,
          table,
          gateway: i % 2 ? "198.18.20.2" : "198.18.24.2",
          metric: i % 5,
          protocol: i % 3 ? "static" : 3,
          metrics: i % 13 === 0 ? { mtu: 1400, advmss: 1360 } : undefined,
        });
    }
    for (let i = 0; i < 1500; i++) {
      const dst = `2001:2:1:${i.toString(16)}::/64`;
      if (i % 9 === 0)
        await ns.addRoute({
          dst,
          table: 100,
          nexthops: [{ gateway: "2001:2:0:20::2" }, { gateway: "2001:2:0:24::2", weight: 2 }],
        });
      else
        await ns.addRoute({
          dst,
          table: i % 2 ? "main" : 200,
          gateway: "2001:2:0:20::2",
          metric: 1024 + (i % 3),
          pref: i % 4 === 0 ? "high" : undefined,
        });
    }
    for (let i = 0; i < 3000; i += 3)
      await ns.deleteRoute({
        dst: `198.${19 + (i >> 12)}.${(i >> 4) & 0xff}.${(i & 15) << 4}/28`,
        table: tables[i % 3] as string | number,
      });
    for (let i = 0; i < 1500; i++) {
      const mac = `02:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}:01`;
      await ns.addNeighbor({
        dst: `198.18.${20 + (i >> 8)}.${i & 0xff}`,
        dev: i % 2 ? "j0" : "j1",
        lladdr: mac,
        state: i % 50 === 0 ? "stale" : "permanent",
      });
      if (i < 800)
        await ns.addNeighbor({
          dst: `2001:2:0:20::${(i + 16).toString(16)}`,
          dev: "j0",
          lladdr: mac,
          router: i % 4 === 0,
        });
    }
    for (let i = 0; i < 1500; i += 40)
      await ns.replaceNeighbor({
        dst: `198.18.${20 + (i >> 8)}.${i & 0xff}`,
        dev: i % 2 ? "j0" : "j1",
        lladdr: "02:aa:00:00:00:01",
        state: "stale",
      });
    for (let i = 1; i < 1500; i += 10)
      await ns.deleteNeighbor({ dst: `198.18.${20 + (i >> 8)}.${i & 0xff}`, dev: i % 2 ? "j0" : "j1" });
    await ns.addNeighbor({ dst: "198.18.20.250", dev: "j0", proxy: true });
    await ns.addRule({ priority: 100, from: "198.18.20.0/22", table: 100 });
    await ns.addRule({ priority: 110, to: "198.18.24.7", table: 200 });
    await ns.addRule({ priority: 40000, not: true, fwmark: 0x10, fwmask: 0xff, iif: "j0", action: "blackhole" });
    await ns.addRule({ family: 6, priority: 100, from: "2001:2:0:20::/64", table: 100 });
  }

  const views = [
    ["link", "show"],
    ["link", "show", "j0"],
    ["addr", "show"],
    ["-4", "addr", "show"],
    ["-6", "addr", "show"],
    ["addr", "show", "dev", "j0"],
    ["route", "show"],
    ["route", "show", "table", "100"],
    ["route", "show", "table", "all"],
    ["route", "show", "dev", "j1"],
    ["-6", "route", "show"],
    ["-6", "route", "show", "table", "200"],
    ["-6", "route", "show", "table", "all"],
    ["rule", "show"],
    ["-6", "rule", "show"],
    ["neigh", "show"],
    ["-4", "neigh", "show", "dev", "j0"],
    ["-6", "neigh", "show"],
    ["neigh", "show", "proxy"],
  ];

  for (const view of views) {
    it(`ip -j ${view.join(" ")}`, async () => {
      // The two dumps are taken one after the other: state the kernel changes on its own between
      // them (an IPv6 address finishing DAD, a neighbor's NUD timer) differs honestly, so a
      // mismatch is dumped again; a decoding difference stays on every attempt.
      let { ours, theirs, count } = both(a, view);
      for (let attempt = 1; attempt < 3 && ours !== theirs; attempt++) {
        console.log(`[ip -j ${view.join(" ")}] dumps differed (attempt ${attempt}); dumping again`);
        await new Promise((r) => setTimeout(r, 500));
        ({ ours, theirs, count } = both(a, view));
      }
      expect(count).toBeGreaterThan(0);
      expect(ours).toEqual(theirs);
    });
  }

  it("the churned namespace is big: thousands of routes and neighbors", () => {
    expect(both(a, ["route", "show", "table", "all"]).count).toBeGreaterThan(3000);
    expect(both(a, ["neigh", "show"]).count).toBeGreaterThan(1500);
  });

  it("its write commands change what iproute2 sees", () => {
    const run = (...args: string[]): void => {
      const r = tilenetIp(a, ...args);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    };
    run("link", "add", "w0", "numtxqueues", "2", "type", "veth", "peer", "name", "w1");
    run("link", "set", "w0", "up", "mtu", "1400");
    run("link", "set", "dev", "w1", "up");
    run("addr", "add", "198.18.40.1/24", "dev", "w0");
    run(
      "route",
      "add",
      "198.18.41.0/24",
      "via",
      "198.18.40.2",
      "dev",
      "w0",
      "onlink",
      "table",
      "300",
      "proto",
      "static",
      "metric",
      "7",
      "mtu",
      "1300",
    );
    run("-6", "route", "add", "2001:2:0:41::/64", "dev", "w0", "table", "300");
    run(
      "route",
      "add",
      "198.18.42.0/24",
      "nexthop",
      "via",
      "198.18.40.2",
      "weight",
      "2",
      "nexthop",
      "via",
      "198.18.40.3",
    );
    run("route", "replace", "blackhole", "198.18.43.0/24");
    run("neigh", "add", "198.18.40.9", "lladdr", "02:00:00:00:40:09", "dev", "w0");
    run("rule", "add", "from", "198.18.40.0/24", "lookup", "300", "pref", "300");
    expect(iproute2(a, "route", "show", "table", "300")).toContain(
      "198.18.41.0/24 via 198.18.40.2 dev w0 proto static metric 7 onlink mtu 1300",
    );
    expect(iproute2(a, "-6", "route", "show", "table", "300")).toContain("2001:2:0:41::/64 dev w0 metric 1024");
    expect(iproute2(a, "route", "show", "198.18.42.0/24")).toMatch(/nexthop via 198.18.40.2 dev w0 weight 2/);
    expect(iproute2(a, "route", "show", "198.18.43.0/24")).toContain("blackhole 198.18.43.0/24");
    expect(iproute2(a, "neigh", "show", "dev", "w0")).toContain("198.18.40.9 lladdr 02:00:00:00:40:09 PERMANENT");
    expect(iproute2(a, "rule", "show")).toContain("300:\tfrom 198.18.40.0/24 lookup 300");
    expect(iproute2(a, "-d", "link", "show", "w0")).toMatch(/mtu 1400[\s\S]*numtxqueues 2/);
    run("rule", "del", "pref", "300");
    run("route", "del", "198.18.41.0/24", "table", "300");
    run("link", "del", "w0");
    expect(iproute2(a, "link", "show")).not.toContain("w0");
  });

  it("reports usage errors with exit 2 and the kernel's refusals with exit 1", () => {
    const usage = tilenetIp(a, "route", "add", "198.18.1.0/24", "bogus");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('unknown argument "bogus"');
    const arg = tilenetIp(a, "addr", "add", "198.18.1.300/24", "dev", "j0");
    expect(arg.code).toBe(2);
    expect(arg.stderr).toMatch(/addAddress: prefix '198.18.1.300\/24'/);
    const kernel = tilenetIp(a, "route", "del", "198.18.250.0/24");
    expect(kernel.code).toBe(1);
    expect(kernel.stderr).toMatch(/ESRCH/);
  });
});
