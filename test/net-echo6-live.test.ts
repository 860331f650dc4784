// IPv6 through a real AF_XDP socket (veth, fresh namespaces): the XDP program redirects IPv6 UDP
// to the socket and passes NDP to the kernel (the client resolves the tile's MAC through it), the
// net tile parses, the echo app answers, the net tile routes the answer (netbase's IPv6 answers
// scripted here: FakeNetbase6) and the client's kernel accepts every echo, checksum included,
// from the right source: a global address, and a link-local one answered from our link-local.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseIp6 } from "../shared/ip6";
import { echoApp } from "../tiles/app/echo";
import { metric, nonzeroMetrics } from "./support/dataplane-helpers";
import { destroyNamespaces, ip, type Topology, twoNamespaces } from "./support/dataplane-netns";
import { InProcessDataplane } from "./support/dataplane-world";
import { FakeNetbase6 } from "./support/fake-netbase6";
import { describeAsRoot } from "./support/root";

const PORT = 7000;
const COUNT = 300;
const TILE6 = "2001:2:47::1";
const CLIENT6 = "2001:2:47::2";
const TILE_LL = "fe80::47:1";
const CLIENT_LL = "fe80::47:2";

/** A Python client in the client namespace: sends `count` datagrams to [host]:port one at a time
 *  from `bindTo`, checks each echo byte for byte and its source; prints "ok <n>". */
function client(ns: string, host: string, bindTo: string, count: number) {
  const py = `
import socket, sys
host, bind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
scope = socket.if_nametoindex("c0") if host.startswith("fe80") else 0
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((bind, 0, 0, scope))
s.settimeout(2)
ok = 0
for i in range(count):
    msg = b"TN%06d" % i + bytes((i + k) & 255 for k in range(56))
    s.sendto(msg, (host, ${PORT}, 0, scope))
    try:
        data, addr = s.recvfrom(2048)
        if data == msg and addr[0].split("%")[0] == host: ok += 1
    except socket.timeout:
        pass
print("ok", ok, flush=True)
`;
  const child = spawn("ip", ["netns", "exec", ns, "python3", "-c", py, host, bindTo, String(count)]);
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  return { child, result: () => /ok (\d+)/.exec(out)?.[1], stderr: () => err };
}

describeAsRoot("net tile + echo app over IPv6 on AF_XDP (needs root)", () => {
  let topo: Topology | undefined;
  let world: InProcessDataplane | undefined;

  beforeAll(async () => {
    topo = await twoNamespaces("d6", 47);
    const t = topo;
    ip(["-n", t.tile.ns, "addr", "add", `${TILE6}/64`, "dev", "t0", "nodad"]);
    ip(["-n", t.tile.ns, "addr", "add", `${TILE_LL}/64`, "dev", "t0", "nodad"]);
    ip(["-n", t.client.ns, "addr", "add", `${CLIENT6}/64`, "dev", "c0", "nodad"]);
    ip(["-n", t.client.ns, "addr", "add", `${CLIENT_LL}/64`, "dev", "c0", "nodad"]);
  });

  afterAll(() => {
    try {
      world?.close();
    } finally {
      destroyNamespaces(topo?.namespaces ?? []);
    }
  });

  it("echoes IPv6 datagrams to a global and a link-local address, NDP left to the kernel", async () => {
    if (!topo) throw new Error("no topology");
    const t = topo;
    const clientMac = JSON.parse(ip(["-n", t.client.ns, "-j", "link", "show", "c0"]))[0].address as string;
    const mac = clientMac.split(":").map((h) => Number.parseInt(h, 16));
    const nb6 = new FakeNetbase6();
    world = new InProcessDataplane({
      topo: t,
      xdpPorts: [PORT],
      apps: [{ name: "echo", ports: [PORT], module: echoApp }],
      netbase6: nb6,
    });
    const w = world;
    const ifindex = w.xdp.ifindex;
    const p6 = (s: string) => parseIp6(s) as Uint32Array;
    nb6.locals.add(TILE6);
    nb6.locals.add(TILE_LL);
    nb6.linkLocal.set(ifindex, p6(TILE_LL));
    nb6.routes.push({ prefix: p6("2001:2:47::"), len: 64, ifindex, src: p6(TILE6) });
    nb6.neighbors.set(`${ifindex}/${CLIENT6}`, mac);
    nb6.neighbors.set(`${ifindex}/${CLIENT_LL}`, mac);

    for (const [host, from] of [
      [TILE6, CLIENT6],
      [TILE_LL, CLIENT_LL],
    ] as const) {
      const c = client(t.client.ns, host, from, COUNT);
      const done = await w.pump(() => c.result() !== undefined, 30_000);
      expect(done, `client: ${c.stderr()} net: ${JSON.stringify(nonzeroMetrics(w.netMetrics))}`).toBe(true);
      expect(Number(c.result()), `${host}: ${JSON.stringify(nonzeroMetrics(w.netMetrics))}`).toBe(COUNT);
    }
    const m = w.netMetrics;
    expect(metric(m, "rx6_delivered")).toBe(2 * COUNT);
    expect(metric(m, "tx6_packets")).toBe(2 * COUNT);
    expect(Object.keys(nonzeroMetrics(m, "rx_drop_"))).toEqual([]);
    // The client learnt the tile's MAC by NDP, answered by the tile's kernel (XDP passed it).
    const neigh = ip(["-n", t.client.ns, "-6", "neigh", "show", "dev", "c0"]);
    expect(neigh).toContain(t.tile.mac);
  }, 90_000);
});
