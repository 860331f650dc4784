// One instance on two interfaces, each a 4-queue veth served by 2 net tiles ([net] interfaces =
// ["t0", "t1"], queues = 2), with no lab: flows from each interface's client are echoed through
// that interface; flows landing on the queues without a net tile (2 and 3) are dropped by the XDP
// program and counted (rx_drop_unserved_queue of the interface's first net tile), none reaches
// the kernel, and status warns of the unserved queues.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { destroyNamespaces, twoInterfaces } from "./support/dataplane-netns";
import { flowsThrough } from "./support/lab-peer";
import {
  cli,
  forceCleanup,
  ROOT_REASON,
  type RunningInstance,
  type StatusJson,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

/** The tile namespace kernel's Udp NoPorts (/proc/net/snmp): datagrams it had no socket for. */
function kernelUdpNoPorts(ns: string): number {
  const rows = execFileSync("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const keys = (rows[0] ?? "").split(/\s+/);
  return Number((rows[1] ?? "").split(/\s+/)[keys.indexOf("NoPorts")]);
}

const FLOW_TRIES = 5; // the flows peer sends an unanswered datagram this many times

describeAsRoot(`two interfaces, queues without a net tile (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let namespaces: string[] = [];
  let clients: { ns: string; tileIp: string }[] = [];
  let tileNs = "";
  let name = "";
  beforeAll(async () => {
    const world = await twoInterfaces("ifq", 40, 41, 4);
    namespaces = world.namespaces;
    clients = world.clients;
    tileNs = world.tileNs;
    const dir = mkdtempSync(join(tmpdir(), "tilenet-ifq-"));
    const config = join(dir, "c.toml");
    writeFileSync(
      config,
      `[net]\ninterfaces = ["t0", "t1"]\nnetns = "/run/netns/${world.tileNs}"\nprovider = "xdp"\nqueues = 2\n` +
        `[[app]]\nname = "echo"\nports = [7000]\nreplicas = 2\n`,
    );
    name = uniqueInstance("ifq");
    inst = await startInstance(name, ["--config", config], 60_000);
    // Neighbors mirrored both ways before counting (a first reply may meet a neighbor the netlink
    // tile has not mirrored yet: dropped and solicited, by design).
    for (const c of clients) await flowsThrough(c.ns, c.tileIp, 7000, 8, 1, 5000);
  }, 90_000);
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
    destroyNamespaces(namespaces);
  });

  it("describes two interfaces of 4 queues with 2 net tiles each, and warns of the other queues", () => {
    const { code, report } = status(name);
    expect(code, JSON.stringify(report.tiles.map((t) => t.problems))).toBe(0);
    const full = report as StatusJson & { queues?: { interface: string; served: number[] }[]; warnings?: string[] };
    expect(full.queues?.map((q) => [q.interface, q.served])).toEqual([
      ["t0", [0, 1]],
      ["t1", [0, 1]],
    ]);
    expect(full.warnings).toHaveLength(2);
    expect(full.warnings?.[0]).toMatch(
      /^t0: 4 receive queues, 2 net tile\(s\) \(queues 0,1\): datagrams for owned ports on the other 2 are dropped and counted/,
    );
    expect(cli(["status", "--instance", name]).stdout).toMatch(/warnings:\n {2}t0: 4 receive queues/);
  });

  it("echoes each client's flows through its own interface; flows on unserved queues are counted, not passed to the kernel", async () => {
    const before = status(name).report;
    const kernelBefore = kernelUdpNoPorts(tileNs);
    const flows = 48;
    const results = await Promise.all(clients.map((c) => flowsThrough(c.ns, c.tileIp, 7000, flows, 1, 10_000)));
    const after = status(name).report;
    const delta = (tile: string, key: string) =>
      (after.tiles.find((t) => t.name === tile)?.metrics[key] ?? 0) -
      (before.tiles.find((t) => t.name === tile)?.metrics[key] ?? 0);
    // Tiles in order: t0's queues 0, 1 are net.0, net.1; t1's are net.2, net.3.
    for (const [i, r] of results.entries()) {
      expect(r.mismatched).toBe(0);
      const unansweredFlows = flows - r.flowsComplete;
      // Spread by hash over 4 queues: some flows on each side (the odds of none are 2^-48).
      expect(r.flowsComplete, `client ${i + 1}`).toBeGreaterThan(0);
      expect(unansweredFlows, `client ${i + 1}`).toBeGreaterThan(0);
      const first = i === 0 ? "net.0" : "net.2";
      expect(delta(first, "rx_drop_unserved_queue"), `client ${i + 1}`).toBe(unansweredFlows * FLOW_TRIES);
    }
    const echoedBy = (tiles: string[]) => tiles.reduce((n, t) => n + delta(t, "tx_packets"), 0);
    expect(echoedBy(["net.0", "net.1"])).toBeGreaterThanOrEqual(results[0]?.flowsComplete ?? 0);
    expect(echoedBy(["net.2", "net.3"])).toBeGreaterThanOrEqual(results[1]?.flowsComplete ?? 0);
    for (const t of ["net.0", "net.1", "net.2", "net.3"]) expect(delta(t, "tx_route_fail_interface"), t).toBe(0);
    expect(kernelUdpNoPorts(tileNs) - kernelBefore, "datagrams the kernel answered with port unreachable").toBe(0);
  }, 60_000);
});
