// The founding example (Capsule's kernel NIC interface, IPv6): in `run --lab`, a plain client in
// the peer namespace sends UDP to the tile's link-local address with its scope (fe80::...%if) and
// to its global address (2001:2::1); the kernel answers the Neighbor Solicitations (NDP stays the
// kernel's: the XDP program passes ICMPv6), the net tile echoes through the app, and `ping -6`
// is answered by the kernel. status --json shows the addresses.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { echoThrough, flowsThrough } from "./support/lab-peer";
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

type LabV6 = NonNullable<StatusJson["lab"]> & {
  tileAddr6?: string;
  peerAddr6?: string;
  tileLinkLocal?: string;
  peerLinkLocal?: string;
  tileIf?: string;
  peerIf?: string;
};

/** The neighbor entries of a namespace, as `ip -6 -j neigh` lists them. */
function neighbors6(ns: string): { dst: string; state?: string[] }[] {
  return JSON.parse(execFileSync("ip", ["-n", ns, "-6", "-j", "neigh", "show"], { encoding: "utf8" }));
}

describeAsRoot(`IPv6 in the lab (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  let lab: LabV6 | undefined;
  beforeAll(async () => {
    name = uniqueInstance("v6");
    inst = await startInstance(name, ["--lab"], 60_000);
    lab = status(name).report.lab as LabV6 | undefined;
  }, 90_000);
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("status shows the lab's IPv6 addresses, the link-local ones scoped as the other side reaches them", () => {
    expect(lab).toMatchObject({ tileAddr6: "2001:2::1/64", peerAddr6: "2001:2::2/64" });
    expect(lab?.tileLinkLocal).toMatch(new RegExp(`^fe80::[0-9a-f:]+%${lab?.peerIf}$`));
    expect(lab?.peerLinkLocal).toMatch(new RegExp(`^fe80::[0-9a-f:]+%${lab?.tileIf}$`));
  });

  it("ping -6 to the tile's global and link-local addresses is answered by the kernel", () => {
    if (!lab?.tileLinkLocal) throw new Error("no link-local address in status");
    for (const target of ["2001:2::1", lab.tileLinkLocal]) {
      const out = execFileSync("ip", ["netns", "exec", lab.peerNetns, "ping", "-6", "-c", "2", "-W", "2", target], {
        encoding: "utf8",
      });
      expect(out, target).toMatch(/2 received/);
    }
  });

  it("echoes UDP sent to the global and to the scoped link-local address; the kernel resolved the neighbors", async () => {
    if (!lab?.tileLinkLocal) throw new Error("no link-local address in status");
    for (const host of ["2001:2::1", lab.tileLinkLocal]) {
      // The first replies may meet a neighbor not mirrored yet (dropped and solicited, by design).
      await flowsThrough(lab.peerNetns, host, 7000, 4, 1, 5000);
      const { done, tail } = await echoThrough(lab.peerNetns, host, 7000, 300);
      expect(done, `${host}: ${tail}`).toMatchObject({
        done: true,
        sent: 300,
        received: 300,
        mismatched: 0,
        wrongSource: 0,
      });
    }
    // NDP was the kernel's on both sides: each namespace has the other's addresses resolved.
    const peerSees = neighbors6(lab.peerNetns).map((n) => n.dst);
    expect(peerSees).toContain("2001:2::1");
    const tileSees = neighbors6(lab.tileNetns).map((n) => n.dst);
    expect(tileSees).toContain("2001:2::2");
    const tiles = status(name).report.tiles;
    const net = tiles.find((t) => t.name === "net");
    expect(net?.metrics.rx_delivered).toBeGreaterThanOrEqual(600);
  }, 90_000);

  it("mirrors IPv6 churn into netbase: verify finds no difference, and show --json has iproute2's routes", async () => {
    if (!lab) throw new Error("no lab");
    const ns = lab.tileNetns;
    const dev = lab.tileIf ?? "";
    const batch: string[] = [];
    for (let i = 0; i < 300; i++)
      batch.push(`route add 2001:2:${(0x100 + i).toString(16)}::/48 via 2001:2::2 metric ${i % 5}`);
    for (let i = 0; i < 300; i += 3) batch.push(`route del 2001:2:${(0x100 + i).toString(16)}::/48 metric ${i % 5}`);
    for (let i = 0; i < 5; i++) batch.push(`addr add 2001:2:1::${i + 1}/64 dev ${dev} nodad`);
    for (let i = 0; i < 5; i += 2) batch.push(`addr del 2001:2:1::${i + 1}/64 dev ${dev}`);
    for (let i = 0; i < 30; i++)
      batch.push(
        `neigh add 2001:2::${(0x100 + i).toString(16)} lladdr 02:00:00:00:02:${(16 + i).toString(16)} dev ${dev} nud permanent`,
      );
    batch.push(`route replace 2001:2:101::/48 via 2001:2::2 metric 1 dev ${dev}`);
    execFileSync("ip", ["-6", "-n", ns, "-batch", "-"], { input: `${batch.join("\n")}\n` });
    // Converged when verify agrees (events are applied within milliseconds; allow a loaded machine).
    let verify = cli(["netbase", "verify", "--instance", name]);
    for (let i = 0; i < 50 && verify.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      verify = cli(["netbase", "verify", "--instance", name]);
    }
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const shown = JSON.parse(cli(["netbase", "show", "--instance", name, "--json"]).stdout) as {
      routes6: { dst: string }[];
    };
    const theirs = JSON.parse(
      execFileSync("ip", ["-n", ns, "-6", "-j", "route", "show", "table", "main"], { encoding: "utf8" }),
    ) as {
      dst: string;
    }[];
    const ours = new Set(shown.routes6.map((r) => r.dst));
    for (const r of theirs) expect(ours.has(r.dst), r.dst).toBe(true);
    expect(theirs.length).toBeGreaterThanOrEqual(200);
  }, 60_000);
});
