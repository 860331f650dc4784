// [net] provider: the socket net tile serves the lab echo end to end with the apps unchanged
// (reply goes out of the socket it came in on, an app's own send works too), sandboxed, and status
// says which provider runs and why. "auto" falls back to it when XDP really cannot attach (an
// AF_XDP bind to a queue the lab's veth does not have: the kernel answers EINVAL), and says so;
// "xdp" with the same refusal fails the start as before.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { echoThrough } from "./support/lab-peer";
import {
  cli,
  forceCleanup,
  leftovers,
  ROOT_REASON,
  type RunningInstance,
  type StatusJson,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "tilenet-provider-")), "c.toml");
  writeFileSync(file, text);
  return file;
}

async function stop(inst: RunningInstance | undefined): Promise<void> {
  if (inst && inst.child.exitCode === null) {
    inst.child.kill("SIGTERM");
    await inst.exit;
  }
  await forceCleanup(inst);
}

/** The net tile of the report is the socket one, running, fully sandboxed, without a problem. */
function expectSandboxedSocketTile(report: StatusJson): StatusJson["tiles"][number] {
  const net = report.tiles.find((t) => t.name === "net");
  expect(net?.kind).toBe("net-socket");
  expect(net?.state).toBe("running");
  expect(net?.problems).toEqual([]);
  expect(net?.sandbox?.seccomp).toBe(2);
  expect(net?.sandbox?.noNewPrivs).toBe(1);
  expect(net?.sandbox?.capEff).toMatch(/^0+$/);
  if (!net) throw new Error("no net tile");
  return net;
}

const ECHO_COUNT = 1000;

describeAsRoot(`provider "socket" (${ROOT_REASON})`, () => {
  it("serves the lab echo through UDP sockets: every datagram echoed, an app's send works, status says socket", async () => {
    const sender = join(__dirname, "fixtures", "apps", "unprompted-sender.js");
    const config = configFile(
      `[net]\nprovider = "socket"\n` +
        `[[app]]\nname = "echo"\nmodule = "builtin:echo"\nports = [7000]\n` +
        `[[app]]\nname = "sender"\nmodule = "${sender}"\nports = [7001]\n`,
    );
    const name = uniqueInstance("sk");
    let inst: RunningInstance | undefined;
    try {
      inst = await startInstance(name, ["--lab", "--config", config]);
      const before = status(name);
      expect(before.code).toBe(0);
      const provider = before.report.netProvider;
      expect(provider).toEqual({ provider: "socket", configured: "socket", reason: "configured" });
      expectSandboxedSocketTile(before.report);
      const lab = before.report.lab;
      if (!lab) throw new Error("no lab in status");
      const tileIp = lab.tileAddr.split("/")[0] ?? "";

      const { done, tail } = await echoThrough(lab.peerNetns, tileIp, 7000, ECHO_COUNT);
      expect(done, tail).toMatchObject({ sent: ECHO_COUNT, received: ECHO_COUNT, mismatched: 0 });

      // The sender app sends 20 datagrams nobody asked for, from its port, to the asker.
      const script =
        "const d=require('dgram').createSocket('udp4');let n=0;" +
        "d.on('message',(m,r)=>{if(r.port===7001&&++n===20){console.log(n);process.exit(0)}});" +
        `d.bind(0,()=>d.send('go 20 5',7001,'${tileIp}'));` +
        "setTimeout(()=>{console.log(n);process.exit(1)},5000);";
      const r = spawnSync("ip", ["netns", "exec", lab.peerNetns, process.execPath, "-e", script], {
        encoding: "utf8",
        timeout: 10_000,
      });
      expect(r.stdout.trim()).toBe("20");

      await new Promise((res) => setTimeout(res, 300)); // counters are published by housekeeping
      const after = status(name);
      expect(after.code).toBe(0);
      const net = expectSandboxedSocketTile(after.report).metrics;
      expect(net.rx_delivered).toBe(ECHO_COUNT + 1);
      expect(net.tx_packets).toBe(ECHO_COUNT + 20);
      // Batched: fewer send calls than datagrams would be per-packet (the window keeps 32 in flight).
      expect(net.sendmmsg_calls).toBeLessThanOrEqual(net.tx_packets);
      const text = cli(["status", "--instance", name]);
      expect(text.stdout).toContain("provider: socket (configured)");
      const listed = JSON.parse(cli(["list", "--json"]).stdout) as { instance: string; provider?: string }[];
      expect(listed.find((e) => e.instance === name)?.provider).toBe("socket");
    } finally {
      await stop(inst);
    }
    expect(leftovers(name, [])).toEqual([]);
  }, 90_000);
});

describeAsRoot(`provider "auto" when XDP cannot attach (${ROOT_REASON})`, () => {
  // The lab's veth has one queue: an AF_XDP socket bound to queue 1023 (the highest the config
  // takes) is refused by the kernel.
  const unattachable = "[net]\nqueue = 1023\n";

  it("falls back to the socket provider, warns with the kernel's reason, reports it, and echoes", async () => {
    const name = uniqueInstance("au");
    let inst: RunningInstance | undefined;
    try {
      inst = await startInstance(name, ["--lab", "--config", configFile(unattachable)]);
      const warning = inst.logs.find((l) => l.includes("XDP could not attach"));
      expect(warning).toContain("auto: XDP attach failed: bind(AF_XDP");
      const { code, report } = status(name);
      expect(code).toBe(0);
      const provider = report.netProvider;
      expect(provider?.provider).toBe("socket");
      expect(provider?.configured).toBe("auto");
      expect(provider?.reason).toMatch(/^auto: XDP attach failed: .*queue 1023.*EINVAL/);
      expect(report.xdp).toBeUndefined();
      expectSandboxedSocketTile(report);
      const tileIp = report.lab?.tileAddr.split("/")[0] ?? "";
      const { done, tail } = await echoThrough(report.lab?.peerNetns ?? "", tileIp, 7000, 300);
      expect(done, tail).toMatchObject({ sent: 300, received: 300, mismatched: 0 });
      expect(cli(["status", "--instance", name]).stdout).toContain("provider: socket (auto: XDP attach failed:");
    } finally {
      await stop(inst);
    }
    expect(leftovers(name, [])).toEqual([]);
  }, 90_000);

  it('with provider "xdp" the same refusal fails the start (no fallback)', () => {
    const name = uniqueInstance("xf");
    const config = configFile(`${unattachable}provider = "xdp"\n`);
    const r = cli(["run", "--lab", "--instance", name, "--config", config, "--duration", "2"], 60_000);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/bind\(AF_XDP.*queue 1023.*EINVAL/);
    expect(r.stdout).not.toContain("provider socket");
    expect(leftovers(name, [])).toEqual([]);
  }, 60_000);
});
