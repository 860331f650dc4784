// The whole stack on a real NIC configuration (not the lab): client, router and tile
// namespaces; `tilenet run --config` serves the tile namespace's interface. A route change
// mid-traffic moves replies to a gateway whose neighbor entry is unknown: the replies are
// dropped and solicit it, the netlink tile makes the kernel resolve it, netbase learns the MAC
// and replies flow again through it. Counters add up.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { destroyNamespaces, nodeInNs, type Topology, threeNamespaces } from "./support/dataplane-netns";
import {
  forceCleanup,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

const PEER = join(__dirname, "..", "dist", "test", "fixtures", "net-udp-peer.js");

describeAsRoot(`client -> router -> tiles (${ROOT_REASON})`, () => {
  let topo: Topology | undefined;
  let inst: RunningInstance | undefined;
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
    destroyNamespaces(topo?.namespaces ?? []);
  });

  it("solicits an unknown gateway, then replies flow; a route change moves them to the new gateway", async () => {
    topo = await threeNamespaces(`rt${process.pid % 1000}`, 61, 62);
    const t = topo;
    const router = t.router;
    if (!router) throw new Error("no router in the topology");
    const [gw1, gw2] = router.tileSideIps as [string, string];
    execFileSync("ip", ["-n", t.tile.ns, "neigh", "flush", "all"]);
    const dir = mkdtempSync(join(tmpdir(), "tilenet-router-"));
    const config = join(dir, "c.toml");
    writeFileSync(
      config,
      `[net]\ninterface = "${t.tile.dev}"\nnetns = "${t.tile.path}"\nxdp_mode = "skb"\n` +
        `[[app]]\nname = "echo"\nmodule = "builtin:echo"\nports = [7000]\n`,
    );
    const name = uniqueInstance("rt");
    inst = await startInstance(name, ["--config", config]);
    const metrics = (tile: string): Record<string, number> =>
      status(name).report.tiles.find((x) => x.name === tile)?.metrics ?? {};

    const count = 1000;
    const client = nodeInNs(t.client.ns, PEER, {
      mode: "echo",
      host: t.tile.ip,
      port: 7000,
      count,
      size: 64,
      intervalMs: 4,
      window: 0,
      // Some replies are dropped on purpose (no neighbor yet): stop waiting soon after the last send.
      timeoutMs: 7_000,
    });
    const received = (): number => {
      const p = client.lines.filter((l) => typeof l.progress === "number");
      return Number(p[p.length - 1]?.progress ?? 0);
    };
    // The first gateway is known once the router ARPs for the tile (the kernel learns the
    // sender of an ARP request), so replies flow at once, or after a solicit if they are faster.
    await waitFor(() => received() >= 50, 10_000, "echoes through the first gateway");
    const firstNet = metrics("net");
    const firstProbes = metrics("netlink").solicit_probes_sent ?? 0;

    // Mid-traffic: the default route moves to the router's other address, which nobody has
    // resolved: replies are dropped and solicit it, the netlink tile probes it, then they flow.
    const before = received();
    execFileSync("ip", ["-n", t.tile.ns, "route", "replace", "default", "via", gw2]);
    await waitFor(() => received() >= before + 100, 10_000, "echoes through the new gateway");
    const secondNet = metrics("net");
    expect((secondNet.tx_no_neighbor ?? 0) - (firstNet.tx_no_neighbor ?? 0)).toBeGreaterThan(0);
    expect((secondNet.solicits_published ?? 0) - (firstNet.solicits_published ?? 0)).toBeGreaterThan(0);
    expect((metrics("netlink").solicit_probes_sent ?? 0) - firstProbes).toBeGreaterThan(0);
    const neigh = execFileSync("ip", ["-n", t.tile.ns, "neigh", "show", gw2], { encoding: "utf8" });
    expect(neigh).toMatch(/lladdr/);
    expect(execFileSync("ip", ["-n", t.tile.ns, "route", "show", "default"], { encoding: "utf8" })).toContain(gw2);

    const code = await client.exited;
    expect(code, client.stderr).toBe(0);
    const done = client.lines.find((l) => l.done === true) as Record<string, number> | undefined;
    await new Promise((r) => setTimeout(r, 300));
    const net = metrics("net");
    const app = metrics("echo");
    // Every datagram reached the app once; every reply either left (and reached the client) or
    // was dropped for want of a neighbor, counted.
    // On a failure, the counters say where datagrams went (XSK drops, ring overruns, restarts).
    expect(app.rx_packets, JSON.stringify({ net, app })).toBe(count);
    expect(app.tx_packets).toBe(count);
    expect((net.tx_completed ?? 0) + (net.tx_no_neighbor ?? 0)).toBe(count);
    expect(done?.received).toBe(net.tx_completed);
    expect(gw1).not.toBe(gw2);
  }, 90_000);
});
