// `run --lab` with [net] queues = 4 and an app with replicas = 2: four net tiles (one per queue of
// a 4-queue veth), two replicas, flows spread over the queues, every datagram echoed, none
// reaching the kernel, each flow answered by one replica only; a replica killed mid-run leaves the
// other serving and comes back (restart policy).
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { flowsThrough, warmUpEcho } from "./support/lab-peer";
import {
  cli,
  forceCleanup,
  ROOT_REASON,
  type RunningInstance,
  type StatusJson,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

const FIXTURE_APP = join(__dirname, "fixtures", "apps", "replica-echo.js");

function configFile(provider = "xdp", queues = 4): string {
  const dir = mkdtempSync(join(tmpdir(), "tilenet-queues-"));
  const file = join(dir, "c.toml");
  writeFileSync(
    file,
    `[net]\nprovider = "${provider}"\nqueues = ${queues}\n[[app]]\nname = "echo"\nmodule = "${FIXTURE_APP}"\nports = [7000]\nreplicas = 2\n[app.restart]\nlimit = 3\n`,
  );
  return file;
}

/** Udp NoPorts and InDatagrams of the namespace's kernel (/proc/net/snmp). */
function kernelUdp(ns: string): { inDatagrams: number; noPorts: number } {
  const text = execFileSync("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"], { encoding: "utf8" });
  const rows = text.split("\n").filter((l) => l.startsWith("Udp:"));
  const keys = (rows[0] ?? "").split(/\s+/);
  const values = (rows[1] ?? "").split(/\s+/).map(Number);
  const at = (k: string) => values[keys.indexOf(k)] ?? Number.NaN;
  return { inDatagrams: at("InDatagrams"), noPorts: at("NoPorts") };
}

const tilesOf = (r: StatusJson, kind: string) => r.tiles.filter((t) => t.kind === kind);

describeAsRoot(`lab with 4 queues and 2 replicas (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  let peerNs = "";
  let tileNs = "";
  let host = "";
  beforeAll(async () => {
    name = uniqueInstance("mq");
    inst = await startInstance(name, ["--lab", "--config", configFile()], 60_000);
    const lab = status(name).report.lab;
    if (!lab) throw new Error("no lab in status");
    peerNs = lab.peerNetns;
    tileNs = lab.tileNetns;
    host = lab.tileAddr.split("/")[0] ?? "";
    await warmUpEcho(peerNs, host, 7000);
  }, 90_000);
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("runs a net tile per queue and the replicas, says so in status, warns of nothing", () => {
    const { code, report } = status(name);
    expect(code, JSON.stringify(report.tiles.map((t) => t.problems))).toBe(0);
    expect(tilesOf(report, "net").map((t) => t.name)).toEqual(["net.0", "net.1", "net.2", "net.3"]);
    expect(tilesOf(report, "app").map((t) => t.name)).toEqual(["echo.0", "echo.1"]);
    const full = report as StatusJson & { queues?: unknown; warnings?: string[] };
    expect(full.queues).toEqual([
      expect.objectContaining({ queueCount: 4, served: [0, 1, 2, 3], tiles: ["net.0", "net.1", "net.2", "net.3"] }),
    ]);
    expect(full.warnings ?? []).toEqual([]);
    expect(cli(["status", "--instance", name]).stdout).toMatch(
      /queues: \S+ 4 \(ethtool channels\), served 0:net\.0 1:net\.1 2:net\.2 3:net\.3/,
    );
  });

  it("echoes every datagram of 64 flows, spread over several queues, each flow by one replica, none through the kernel", async () => {
    const kernelBefore = kernelUdp(tileNs);
    const before = status(name).report;
    const flows = 64;
    const perFlow = 5;
    const r = await flowsThrough(peerNs, host, 7000, flows, perFlow);
    expect(r).toMatchObject({ received: flows * perFlow, mismatched: 0, flowsComplete: flows });
    const markers = Object.values(r.markers);
    expect(
      markers.every((m) => m.length === 1),
      JSON.stringify(r.markers),
    ).toBe(true);
    expect(new Set(markers.map((m) => m[0])), "both replicas answered some flows").toEqual(new Set([1, 2]));
    const after = status(name).report;
    const delta = (t: StatusJson["tiles"][number], key: string) =>
      (t.metrics[key] ?? 0) - (before.tiles.find((b) => b.name === t.name)?.metrics[key] ?? 0);
    const perNet = tilesOf(after, "net").map((t) => delta(t, "rx_delivered"));
    expect(perNet.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(flows * perFlow);
    expect(perNet.filter((n) => n > 0).length, `rx_delivered per net tile: ${perNet}`).toBeGreaterThanOrEqual(2);
    expect(tilesOf(after, "net").map((t) => delta(t, "rx_drop_unserved_queue"))).toEqual([0, 0, 0, 0]);
    const kernelAfter = kernelUdp(tileNs);
    expect(kernelAfter.noPorts - kernelBefore.noPorts, "datagrams the kernel answered with port unreachable").toBe(0);
  }, 60_000);

  it("keeps serving through the other replica while one is killed, and the killed one comes back", async () => {
    const victim = status(name).report.tiles.find((t) => t.name === "echo.0");
    if (!victim) throw new Error("no echo.0");
    process.kill(victim.pid, "SIGKILL");
    // While it is down (or restarting), flows of echo.1 still complete.
    const during = await flowsThrough(peerNs, host, 7000, 32, 3, 8000);
    const served = Object.values(during.markers).filter((m) => m.includes(2)).length;
    expect(served, JSON.stringify(during)).toBeGreaterThan(0);
    await waitFor(
      () => {
        const t = status(name).report.tiles.find((x) => x.name === "echo.0");
        return t !== undefined && t.pid !== victim.pid && t.state === "running";
      },
      30_000,
      "echo.0 restarted",
    );
    const afterRestart = await flowsThrough(peerNs, host, 7000, 32, 3);
    expect(afterRestart).toMatchObject({ received: 96, flowsComplete: 32, mismatched: 0 });
    expect(status(name).report.tiles.find((t) => t.name === "echo.0")?.restarts).toBe(1);
  }, 90_000);
});

describeAsRoot(`lab with the socket provider, 2 net tiles and 2 replicas (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("runs two socket net tiles (SO_REUSEPORT spreads the flows) feeding both replicas; every flow echoed by one replica", async () => {
    const name = uniqueInstance("sq");
    inst = await startInstance(name, ["--lab", "--config", configFile("socket", 2)], 60_000);
    const before = status(name).report;
    expect(tilesOf(before, "net-socket").map((t) => t.name)).toEqual(["net.0", "net.1"]);
    expect((before as StatusJson & { queues?: unknown }).queues).toBeUndefined(); // queues are AF_XDP's matter
    const lab = before.lab;
    if (!lab) throw new Error("no lab in status");
    const host = lab.tileAddr.split("/")[0] ?? "";
    const r = await flowsThrough(lab.peerNetns, host, 7000, 48, 3);
    expect(r).toMatchObject({ received: 144, mismatched: 0, flowsComplete: 48 });
    expect(Object.values(r.markers).every((m) => m.length === 1)).toBe(true);
    const after = status(name).report;
    const delivered = tilesOf(after, "net-socket").map((t) => t.metrics.rx_delivered ?? 0);
    expect(delivered.filter((n) => n > 0).length, `rx_delivered per socket tile: ${delivered}`).toBe(2);
    const perReplica = tilesOf(after, "app").map((t) => t.metrics.rx_packets ?? 0);
    expect(
      perReplica.every((n) => n > 0),
      `rx_packets per replica: ${perReplica}`,
    ).toBe(true);
  }, 90_000);
});
