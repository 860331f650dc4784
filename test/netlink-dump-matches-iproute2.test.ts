// Dumps through NetlinkClient, from a socket opened inside a fresh namespace, return exactly what
// iproute2 (`ip -j ... show`) reports there: links, IPv4 addresses, routes of tables main and
// local (other tables ignored), neighbors; a 10,000-route dump arrives in many parts and is whole;
// the kernel's refusals come back as errors with its extended-ack text; NTF_USE resolves.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetlinkClient, NetlinkError } from "../shared/netlink/client";
import {
  AF_INET,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTA_DST,
  RTA_OIF,
  RTM_NEWROUTE,
  RTMSG_SIZE,
} from "../shared/netlink/constants";
import { RequestBuilder } from "../shared/netlink/wire";
import {
  type AddrRecord,
  ipToString,
  type LinkRecord,
  macToString,
  type NeighRecord,
  NeighState,
  parseIp,
  type RouteRecord,
  RouteType,
} from "../shared/netmodel";
import {
  addon,
  createNetns,
  deleteNetns,
  ifindexIn,
  ipBatch,
  ipJson,
  ipn,
  isRoot,
  openNetlinkIn,
} from "./support/netlink-netns";

const ratesFixture = join(__dirname, "..", "dist", "test", "fixtures", "netlink-rates.js");

interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  link_type: string;
  address?: string;
}
interface IpAddr {
  ifindex: number;
  addr_info: { family: string; local: string; prefixlen: number; broadcast?: string; scope: string }[];
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

function linkKey(l: LinkRecord): string {
  return JSON.stringify([l.ifindex, l.name, macToString(l.mac), l.mtu, l.up, l.lowerUp]);
}
function ipLinkKey(l: IpLink): string {
  return JSON.stringify([
    l.ifindex,
    l.ifname,
    l.address ?? "",
    l.mtu,
    l.flags.includes("UP"),
    l.flags.includes("LOWER_UP"),
  ]);
}
function addrKey(a: AddrRecord): string {
  return JSON.stringify([a.ifindex, ipToString(a.address), a.prefixLen, ipToString(a.broadcast), a.scope]);
}
function routeKey(r: RouteRecord): string {
  return [
    r.table,
    r.type,
    `${ipToString(r.dst)}/${r.dstLen}`,
    ipToString(r.gateway),
    r.oif,
    ipToString(r.prefsrc),
    r.priority,
  ].join(" ");
}
function neighKey(n: NeighRecord): string {
  return JSON.stringify([n.ifindex, ipToString(n.ip), macToString(n.mac), n.state]);
}

describe.skipIf(!isRoot)("rtnetlink dumps match iproute2 (needs root: network namespaces)", () => {
  let ns: string | undefined;
  let peer: string | undefined;
  let fd = -1;
  let client: NetlinkClient;
  const ifindexByName = new Map<string, number>();

  function ipRoutes(table: "main" | "local"): string[] {
    const tableId = table === "main" ? 254 : 255;
    return ipJson<IpRoute[]>(ns ?? "", "-4", "route", "show", "table", table).map((r) => {
      const [addr, len] = r.dst === "default" ? ["0.0.0.0", "0"] : r.dst.split("/");
      const hop = r.nexthops?.[0];
      const dev = hop?.dev ?? r.dev;
      return [
        tableId,
        RouteType[(r.type ?? "unicast") as keyof typeof RouteType],
        `${addr}/${len ?? "32"}`,
        hop?.gateway ?? r.gateway ?? "0.0.0.0",
        dev === undefined ? 0 : ifindexByName.get(dev),
        r.prefsrc ?? "0.0.0.0",
        r.metric ?? 0,
      ].join(" ");
    });
  }

  beforeAll(() => {
    ns = createNetns("nldump");
    peer = createNetns("nldumpb");
    // va <-> vb across the two namespaces; vc <-> vd both in ns.
    ipn(ns, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", peer);
    ipn(ns, "link", "add", "vc", "mtu", "9000", "type", "veth", "peer", "name", "vd");
    for (const dev of ["va", "vc", "vd"]) ipn(ns, "link", "set", dev, "up");
    ipn(peer, "link", "set", "vb", "up");
    ipn(ns, "addr", "add", "198.18.1.1/24", "dev", "va");
    ipn(ns, "addr", "add", "198.18.2.1/24", "brd", "+", "dev", "vc");
    ipn(ns, "addr", "add", "198.18.2.2/24", "dev", "vc");
    ipn(ns, "addr", "add", "198.18.3.1/28", "dev", "vd");
    ipn(peer, "addr", "add", "198.18.1.2/24", "dev", "vb");
    ipBatch(ns, [
      "route add 198.18.10.0/24 via 198.18.1.2",
      "route add 198.18.11.0/24 dev vc metric 50",
      "route add 198.18.11.0/24 dev vd metric 60",
      "route add blackhole 198.18.12.0/24",
      "route add unreachable 198.18.12.128/25",
      "route add 198.18.13.0/24 nexthop via 198.18.1.2 nexthop via 198.18.2.9",
      "route add 198.18.14.1/32 dev va src 198.18.1.1 proto static",
      "route add default via 198.18.1.2",
      "route add 198.18.15.0/24 via 198.18.1.2 table 100",
      "neigh add 198.18.1.50 lladdr 02:00:00:00:00:50 dev va",
      "neigh add 198.18.2.51 lladdr 02:00:00:00:00:51 dev vc nud stale",
      "neigh add 198.18.3.52 lladdr 02:00:00:00:00:52 dev vd nud noarp",
      "neigh add proxy 198.18.1.60 dev va",
    ]);
    for (const l of ipJson<IpLink[]>(ns, "link", "show")) ifindexByName.set(l.ifname, l.ifindex);
    fd = openNetlinkIn(ns, 0, 1 << 20);
    client = new NetlinkClient(fd, { timeoutMs: 10_000, io: addon() });
  });

  afterAll(() => {
    if (fd >= 0) addon().closeFd(fd);
    deleteNetns(ns, peer);
  });

  it("links: ifindex, name, MAC, MTU, up and carrier as `ip -j link show`", () => {
    const ours = client.dump("links");
    const theirs = ipJson<IpLink[]>(ns ?? "", "link", "show");
    expect(ours.map(linkKey).sort()).toEqual(theirs.map(ipLinkKey).sort());
    expect(ours.find((l) => l.name === "vc")?.mtu).toBe(9000);
    expect(ours.find((l) => l.name === "lo")?.type).toBe(772);
  });

  it("IPv4 addresses as `ip -j -4 addr show` (secondary and broadcast included)", () => {
    const ours = client.dump("addrs");
    const theirs = ipJson<IpAddr[]>(ns ?? "", "-4", "addr", "show").flatMap((l) =>
      l.addr_info
        .filter((a) => a.family === "inet")
        .map((a) =>
          JSON.stringify([l.ifindex, a.local, a.prefixlen, a.broadcast ?? "0.0.0.0", SCOPES[a.scope] ?? Number.NaN]),
        ),
    );
    expect(ours.map(addrKey).sort()).toEqual(theirs.sort());
    expect(ours).toHaveLength(5);
  });

  it("routes of tables main and local as `ip -j -4 route show table main/local`, table 100 ignored", () => {
    const ignoredBefore = client.counters.ignored_table;
    const ours = client.dump("routes");
    const theirs = [...ipRoutes("main"), ...ipRoutes("local")];
    expect(ours.map(routeKey).sort()).toEqual(theirs.sort());
    expect(client.counters.ignored_table - ignoredBefore).toBe(1);
    // A few specific ones, spelled out (a secondary address's local route has the primary as source).
    const keys = new Set(ours.map(routeKey));
    const va = ifindexByName.get("va");
    expect(keys.has(`254 1 198.18.10.0/24 198.18.1.2 ${va} 0.0.0.0 0`)).toBe(true);
    expect(keys.has(`254 ${RouteType.blackhole} 198.18.12.0/24 0.0.0.0 0 0.0.0.0 0`)).toBe(true);
    expect(keys.has(`254 1 0.0.0.0/0 198.18.1.2 ${va} 0.0.0.0 0`)).toBe(true);
    expect(keys.has(`255 ${RouteType.local} 198.18.2.2/32 0.0.0.0 ${ifindexByName.get("vc")} 198.18.2.1 0`)).toBe(true);
  });

  it("neighbors as `ip -j -4 neigh show nud all`, proxy entries left out", () => {
    const ours = client.dump("neighs");
    const theirs = ipJson<IpNeigh[]>(ns ?? "", "-4", "neigh", "show", "nud", "all").map((n) =>
      JSON.stringify([
        ifindexByName.get(n.dev),
        n.dst,
        n.lladdr ?? "",
        n.state.reduce((bits, s) => bits | (NeighState[s.toLowerCase() as keyof typeof NeighState] ?? 0), 0),
      ]),
    );
    expect(ours.map(neighKey).sort()).toEqual(theirs.sort());
    expect(ours.map((n) => ipToString(n.ip)).sort()).toEqual(["198.18.1.50", "198.18.2.51", "198.18.3.52"]);
  });

  it("a full snapshot holds all four kinds", () => {
    const snap = client.fullSnapshot();
    expect(snap.links.length).toBeGreaterThanOrEqual(4);
    expect(snap.addrs.length).toBe(5);
    expect(snap.routes.length).toBeGreaterThan(10);
    expect(snap.neighs.length).toBe(3);
  });

  it("returns a refused request as an Error carrying the kernel's extended-ack text", () => {
    const seq = client.nextSeq();
    const b = new RequestBuilder(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
    const at = b.struct(RTMSG_SIZE);
    b.u8(at, AF_INET)
      .u8(at + 1, 24)
      .u8(at + 4, 254)
      .u8(at + 5, 4)
      .u8(at + 7, RouteType.unicast);
    b.attrIpv4(RTA_DST, parseIp("198.18.50.1") ?? 0); // host bits beyond /24: refused
    b.attrU32(RTA_OIF, ifindexByName.get("va") ?? 0);
    let error: unknown;
    try {
      client.transact(b.finish(), seq, "RTM_NEWROUTE 198.18.50.1/24");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NetlinkError);
    expect((error as NetlinkError).code).toBe("EINVAL");
    expect((error as NetlinkError).extAck).toMatch(/prefix/i);
    expect(String(error)).toMatch(/RTM_NEWROUTE 198\.18\.50\.1\/24: kernel replied EINVAL: .*prefix/i);
    // The socket is still in step: the next dump works.
    expect(client.dump("addrs")).toHaveLength(5);
  });

  it("resolves a neighbor with RTM_NEWNEIGH + NTF_USE (privileged path), and refuses an unknown ifindex", () => {
    const va = ifindexIn(ns ?? "", "va");
    client.neighUse(parseIp("198.18.1.2") ?? 0, va);
    const peerMac = ipJson<IpLink[]>(peer ?? "", "link", "show", "vb")[0].address;
    let entry: IpNeigh | undefined;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      entry = ipJson<IpNeigh[]>(ns ?? "", "-4", "neigh", "show", "198.18.1.2", "dev", "va")[0];
      if (entry?.lladdr) break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    expect(entry?.lladdr).toBe(peerMac);
    expect(() => client.neighUse(parseIp("198.18.1.3") ?? 0, 999_999)).toThrow(/ENODEV/);
  });

  it("dumps 10,000 routes in many parts, whole and equal to iproute2's, and times it", () => {
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) lines.push(`route add 198.19.${i >> 8}.${i & 255}/32 via 198.18.1.2`);
    ipBatch(ns ?? "", lines);
    const datagramsBefore = client.counters.datagrams;
    const ours = client.dump("routes");
    const datagrams = client.counters.datagrams - datagramsBefore;
    expect(ours.filter((r) => r.dst >>> 16 === 0xc613)).toHaveLength(10_000);
    expect(ours.map(routeKey).sort()).toEqual([...ipRoutes("main"), ...ipRoutes("local")].sort());
    expect(datagrams).toBeGreaterThan(10);

    // Timing in a child running the bundle (the test runner's module transform slows hot code).
    if (!existsSync(ratesFixture)) throw new Error(`${ratesFixture} is missing: run \`npm run build\` first`);
    const r = spawnSync(process.execPath, [ratesFixture, "dump", "9"], {
      stdio: ["ignore", "pipe", "pipe", fd],
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { routes: number; medianMs: number; minMs: number; datagrams: number };
    expect(out.routes).toBe(ours.length);
    console.log(
      `[netlink] dump of ${out.routes} routes (kernel + decode): median of 9 ${out.medianMs.toFixed(2)} ms, ` +
        `min ${out.minMs.toFixed(2)} ms, ${out.datagrams} datagrams per dump`,
    );
  });
});
