// Net tile + echo app bodies on a real AF_XDP socket (veth, fresh namespaces): a Node dgram client
// in the peer namespace gets every echo byte for byte; traffic the tile does not own (another UDP
// port, ARP, ICMP) stays with the kernel; the counters add up to exactly the datagrams sent;
// datagrams to a redirected port no app owns, and bursts the app does not read in time, are
// dropped and counted by reason.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { echoApp } from "../tiles/app/echo";
import { metric, nonzeroMetrics } from "./support/dataplane-helpers";
import { destroyNamespaces, ip, neighborOf, nodeInNs, type Topology, twoNamespaces } from "./support/dataplane-netns";
import { InProcessDataplane } from "./support/dataplane-world";
import { describeAsRoot } from "./support/root";

const PEER = new URL("../dist/test/fixtures/net-udp-peer.js", import.meta.url).pathname;
const ECHO_PORT = 7000;
const ORPHAN_PORT = 7002; // redirected by XDP, owned by no app
const KERNEL_PORT = 7001; // not redirected: the kernel's
const COUNT = 2000;

describeAsRoot("net tile + echo app on AF_XDP (needs root)", () => {
  let topo: Topology | undefined;
  let world: InProcessDataplane | undefined;
  const kids: { kill(): void }[] = [];

  beforeAll(async () => {
    if (!existsSync(PEER)) throw new Error("fixtures not bundled: run `npm run build`");
    topo = await twoNamespaces("dpe", 41);
  });

  afterAll(() => {
    for (const k of kids) k.kill();
    try {
      world?.close();
    } finally {
      destroyNamespaces(topo?.namespaces ?? []);
    }
  });

  it("echoes every datagram, leaves other traffic to the kernel, and counts exactly", async () => {
    if (!topo) throw new Error("no topology");
    const t = topo;
    world = new InProcessDataplane({
      topo: t,
      xdpPorts: [ECHO_PORT, ORPHAN_PORT],
      apps: [{ name: "echo", ports: [ECHO_PORT], module: echoApp }],
    });
    const w = world;
    // The kernel keeps the ports XDP does not redirect; one it does redirect never reaches it.
    const kernel = nodeInNs(t.tile.ns, PEER, {
      mode: "recv",
      ports: [KERNEL_PORT, ECHO_PORT],
      expected: 50,
      timeoutMs: 15_000,
    });
    kids.push(kernel);
    await w.pump(() => kernel.find((l) => l.ready === true) !== undefined, 10_000);
    // The client and the tile's kernel learn each other's MAC (ARP through the kernel: XDP passes
    // it); netbase then mirrors the tile's neighbor table (the netlink tile's job, done here by
    // the test). Neighbor misses are the solicit test's subject.
    execFileSync("ip", ["netns", "exec", t.client.ns, "ping", "-c", "1", "-W", "2", t.tile.ip], { stdio: "ignore" });
    w.refreshNetbase();
    const client = nodeInNs(t.client.ns, PEER, {
      mode: "echo",
      host: t.tile.ip,
      port: ECHO_PORT,
      count: COUNT,
      size: 64,
      intervalMs: 0,
      window: 32,
      timeoutMs: 20_000,
    });
    kids.push(client);
    const toKernel = nodeInNs(t.client.ns, PEER, { mode: "send", host: t.tile.ip, port: KERNEL_PORT, count: 50 });
    kids.push(toKernel);
    const done = await w.pump(() => client.find((l) => l.done === true) !== undefined, 25_000);
    const result = client.find((l) => l.done === true);
    expect(done, `client: ${client.stderr} net: ${JSON.stringify(nonzeroMetrics(w.netMetrics))}`).toBe(true);
    expect(result).toEqual({
      done: true,
      sent: COUNT,
      received: COUNT,
      mismatched: 0,
      duplicates: 0,
      wrongSource: 0,
      firstEchoSeq: 0,
    });
    const m = w.netMetrics;

    const kernelResult = await new Promise<Record<string, unknown> | undefined>((resolve) => {
      void w
        .pump(() => kernel.find((l) => l.done === true) !== undefined, 10_000)
        .then(() => resolve(kernel.find((l) => l.done === true)));
    });
    expect(kernelResult?.counts).toEqual({ [KERNEL_PORT]: 50, [ECHO_PORT]: 0 });

    // Every frame taken from the RX ring was an echo request, delivered to the app, answered.
    await w.pump(() => metric(m, "tx_completed") === metric(m, "tx_packets"), 5_000);
    expect(metric(m, "rx_packets")).toBe(COUNT);
    expect(metric(m, "rx_delivered")).toBe(COUNT);
    expect(metric(m, "rx_delivered_bytes")).toBe(COUNT * 64);
    expect(metric(m, "tx_messages")).toBe(COUNT);
    expect(metric(m, "tx_packets")).toBe(COUNT);
    expect(metric(m, "tx_completed")).toBe(COUNT);
    expect(metric(m, "tx_bytes")).toBe(COUNT * (14 + 20 + 8 + 64));
    expect(metric(m, "tx_no_neighbor") + metric(m, "solicits_published")).toBe(0);
    const appM = w.appMetrics[0];
    if (!appM) throw new Error("no app metrics");
    expect(metric(appM, "rx_packets")).toBe(COUNT);
    expect(metric(appM, "tx_packets")).toBe(COUNT);
    const drops = Object.keys(nonzeroMetrics(m, "rx_drop_"));
    expect(drops).toEqual([]);
    expect(w.net.framesFree).toEqual({ rx: 0, tx: 512 });

    // ARP and ICMP answered by the tile's kernel.
    expect(neighborOf(t.client.ns, "c0", t.tile.ip)?.lladdr).toBe(t.tile.mac);
    const ping = execFileSync(
      "ip",
      ["netns", "exec", t.client.ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", t.tile.ip],
      {
        encoding: "utf8",
      },
    );
    expect(ping).toMatch(/2 packets transmitted, 2 received/);
    console.log(
      `[net-echo] ${COUNT}/${COUNT} echoed; kicks ${metric(m, "xsk_tx_kicks")} (busy ${metric(m, "xsk_tx_kick_busy")}), wakeups ${metric(m, "xsk_rx_wakeups")}`,
    );
  });

  it("drops and counts datagrams to a port no app owns, and bursts the app's channel cannot hold", async () => {
    if (!topo || !world) throw new Error("previous test did not set up");
    const t = topo;
    const w = world;
    const m = w.netMetrics;
    const before = metric(m, "rx_packets");
    const orphans = nodeInNs(t.client.ns, PEER, { mode: "send", host: t.tile.ip, port: ORPHAN_PORT, count: 30 });
    kids.push(orphans);
    expect(await w.pump(() => metric(m, "rx_drop_no_app_for_port") === 30, 10_000)).toBe(true);

    // The app is not run while 600 datagrams arrive: its channel (depth 256) fills, the rest are
    // dropped at once (the net tile never waits for an app).
    const burst = nodeInNs(t.client.ns, PEER, { mode: "send", host: t.tile.ip, port: ECHO_PORT, count: 600 });
    kids.push(burst);
    expect(await w.pump(() => metric(m, "rx_packets") === before + 630, 15_000, false)).toBe(true);
    expect(metric(m, "rx_app_ring_full")).toBe(600 - 256);
    expect(metric(m, "rx_delivered")).toBe(COUNT + 256);
    // The app then answers the 256 it holds (to the sender's port: it has exited, the kernel
    // answers with ICMP port unreachable, which is the client kernel's business).
    expect(
      await w.pump(
        () => metric(m, "tx_messages") === COUNT + 256 && metric(m, "tx_completed") === metric(m, "tx_packets"),
        10_000,
      ),
    ).toBe(true);
    expect(metric(m, "tx_packets")).toBe(COUNT + 256);
    expect(ip(["-n", t.tile.ns, "link", "show", t.tile.dev])).toMatch(/xdpgeneric/);
  });
});
