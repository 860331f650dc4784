// Neighbor misses on a real AF_XDP path: the net tile drops the reply (counted tx_no_neighbor),
// publishes a solicit for the next hop (the client itself on-link, the gateway behind a router),
// repeats it at most once per resolicitMs, and replies flow once the neighbor is resolved and
// netbase follows. The test plays the netlink tile: it reads the solicit ring, makes the kernel
// resolve the address with the same probe datagram, and refreshes netbase from a dump.
// With a router in between, a route change mid-traffic moves replies to the new gateway: a
// solicit for it, then replies again.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterEach, beforeAll, expect, it } from "vitest";
import { echoApp } from "../tiles/app/echo";
import { ipv4, metric, nonzeroMetrics } from "./support/dataplane-helpers";
import {
  destroyNamespaces,
  ip,
  type JsonChild,
  neighborOf,
  nodeInNs,
  type Topology,
  threeNamespaces,
  twoNamespaces,
} from "./support/dataplane-netns";
import { InProcessDataplane } from "./support/dataplane-world";
import { describeAsRoot } from "./support/root";

const PEER = new URL("../dist/test/fixtures/net-udp-peer.js", import.meta.url).pathname;
const ECHO_PORT = 7000;

function received(client: JsonChild): number {
  const progress = client.lines.filter((l) => typeof l.progress === "number");
  const done = client.find((l) => l.done === true);
  return Number(done?.received ?? progress.at(-1)?.progress ?? 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describeAsRoot("net tile neighbor solicits (needs root)", () => {
  let topo: Topology | undefined;
  let world: InProcessDataplane | undefined;
  let client: JsonChild | undefined;

  beforeAll(() => {
    if (!existsSync(PEER)) throw new Error("fixtures not bundled: run `npm run build`");
  });

  afterEach(() => {
    client?.kill();
    client = undefined;
    try {
      world?.close();
    } finally {
      world = undefined;
      destroyNamespaces(topo?.namespaces ?? []);
      topo = undefined;
    }
  });

  /** Waits (pumping) until the kernel of the tile namespace has a MAC for addr, then refreshes netbase. */
  async function resolveAndRefresh(w: InProcessDataplane, t: Topology, addr: string): Promise<void> {
    expect(w.probe(ipv4(addr))).toBe(0);
    const ok = await w.pump(() => neighborOf(t.tile.ns, t.tile.dev, addr)?.lladdr !== undefined, 5_000);
    expect(ok, `kernel did not resolve ${addr}`).toBe(true);
    w.refreshNetbase();
  }

  it("on-link client unknown: drops, solicits the client (rate-limited), replies once it is resolved", async () => {
    topo = await twoNamespaces("dps", 42);
    const t = topo;
    execFileSync("ip", ["netns", "exec", t.client.ns, "ping", "-c", "1", "-W", "2", t.tile.ip], { stdio: "ignore" });
    ip(["-n", t.tile.ns, "neigh", "flush", "dev", t.tile.dev]);
    expect(neighborOf(t.tile.ns, t.tile.dev, t.client.ip)?.lladdr).toBeUndefined();
    world = new InProcessDataplane({
      topo: t,
      xdpPorts: [ECHO_PORT],
      apps: [{ name: "echo", ports: [ECHO_PORT], module: echoApp }],
    });
    const w = world;
    const m = w.netMetrics;
    client = nodeInNs(t.client.ns, PEER, {
      mode: "echo",
      host: t.tile.ip,
      port: ECHO_PORT,
      count: 400,
      size: 32,
      intervalMs: 10,
      window: 1,
      timeoutMs: 15_000,
      stopAfter: 40,
    });
    const c = client;
    // Requests with no neighbor: every reply dropped, the same next hop solicited at most once per
    // 100 ms (15 requests take at least 150 ms at one per 10 ms).
    expect(await w.pump(() => metric(m, "tx_no_neighbor") >= 15, 8_000)).toBe(true);
    expect(metric(m, "tx_packets")).toBe(0);
    const solicits = w.takeSolicits();
    expect(solicits.length).toBeGreaterThanOrEqual(1);
    expect(solicits.length).toBeLessThan(metric(m, "tx_no_neighbor"));
    for (const s of solicits) expect(s).toEqual({ ip: t.client.ip32, ifindex: w.xdp.ifindex });
    expect(metric(m, "solicits_published")).toBe(solicits.length);
    expect(metric(m, "solicits_published") + metric(m, "solicits_suppressed")).toBe(metric(m, "tx_no_neighbor"));
    expect(received(c)).toBe(0);

    // The netlink tile's part: resolve, mirror. Replies flow.
    await resolveAndRefresh(w, t, t.client.ip);
    const ok = await w.pump(() => c.find((l) => l.done === true) !== undefined, 10_000);
    expect(ok, `${c.stderr} ${JSON.stringify(nonzeroMetrics(m))}`).toBe(true);
    expect(c.find((l) => l.done === true)).toMatchObject({ received: 40, mismatched: 0, wrongSource: 0 });
    // Every message from the app was either sent or dropped for want of a neighbor.
    expect(metric(m, "tx_messages")).toBe(metric(m, "tx_packets") + metric(m, "tx_no_neighbor"));
    expect(metric(m, "rx_delivered")).toBe(metric(m, "tx_messages"));
  });

  it("behind a router: solicits the gateway, not the client; a route change moves replies to the new gateway", async () => {
    topo = await threeNamespaces("dpr", 43, 44);
    const t = topo;
    const router = t.router;
    if (!router) throw new Error("no router");
    const [gw1, gw2] = router.tileSideIps as [string, string];
    world = new InProcessDataplane({
      topo: t,
      xdpPorts: [ECHO_PORT],
      apps: [{ name: "echo", ports: [ECHO_PORT], module: echoApp }],
    });
    const w = world;
    const m = w.netMetrics;
    client = nodeInNs(t.client.ns, PEER, {
      mode: "echo",
      host: t.tile.ip,
      port: ECHO_PORT,
      count: 1000,
      size: 48,
      intervalMs: 10,
      window: 1,
      timeoutMs: 15_000,
    });
    const c = client;
    // Requests cross the router; netbase knows no neighbor: the next hop solicited is gateway 1.
    expect(await w.pump(() => metric(m, "solicits_published") >= 1, 5_000)).toBe(true);
    const first = w.takeSolicits();
    expect(first[0]).toEqual({ ip: ipv4(gw1), ifindex: w.xdp.ifindex });
    expect(first.every((s) => s.ip === ipv4(gw1))).toBe(true);
    expect(received(c)).toBe(0);

    await resolveAndRefresh(w, t, gw1);
    const before = received(c);
    expect(await w.pump(() => received(c) >= before + 20, 8_000)).toBe(true);
    const sentBeforeChange = metric(m, "tx_packets");
    w.takeSolicits();

    // Mid-traffic: the default route moves to gateway 2, whose MAC nobody knows yet.
    ip(["-n", t.tile.ns, "route", "replace", "default", "via", gw2]);
    expect(neighborOf(t.tile.ns, t.tile.dev, gw2)?.lladdr).toBeUndefined();
    w.refreshNetbase();
    const dropsBefore = metric(m, "tx_no_neighbor");
    expect(await w.pump(() => metric(m, "solicits_published") >= 2, 5_000)).toBe(true);
    const second = w.takeSolicits();
    expect(second[0]).toEqual({ ip: ipv4(gw2), ifindex: w.xdp.ifindex });
    await sleep(100);
    // Nothing leaves while gateway 2 is unresolved.
    expect(metric(m, "tx_packets")).toBe(sentBeforeChange);
    expect(metric(m, "tx_no_neighbor")).toBeGreaterThan(dropsBefore);

    await resolveAndRefresh(w, t, gw2);
    const atResolve = received(c);
    expect(await w.pump(() => received(c) >= atResolve + 20, 8_000)).toBe(true);
    expect(metric(m, "tx_packets")).toBeGreaterThan(sentBeforeChange);
    // Replies went out to the router's MAC (both gateways are its addresses), counted exactly.
    expect(neighborOf(t.tile.ns, t.tile.dev, gw2)?.lladdr).toBe(router.tileSideMac);
    expect(metric(m, "tx_messages")).toBe(metric(m, "tx_packets") + metric(m, "tx_no_neighbor"));
    expect(Object.keys(nonzeroMetrics(m, "rx_drop_"))).toEqual([]);
    console.log(
      `[net-solicit] via router: ${received(c)} echoes, ${metric(m, "tx_no_neighbor")} no-neighbor drops, ${metric(m, "solicits_published")} solicits (${metric(m, "solicits_suppressed")} suppressed)`,
    );
  });
});
