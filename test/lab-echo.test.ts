// `tilenet run --lab` as a data plane: a real UDP client in the peer namespace gets its echoes
// through the sandboxed net and echo tiles; the kernel keeps answering ping and ARP, and UDP to
// a port no tile owns reaches a kernel socket; counters match the datagrams sent. An app that
// makes a forbidden syscall dies of SIGSYS, and the launcher names the syscall and cleans up.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runLabPeer, warmUpEcho } from "./support/lab-peer";
import {
  cli,
  forceCleanup,
  leftovers,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

describeAsRoot(`the lab data plane (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });
  beforeAll(async () => {
    name = uniqueInstance("ec");
    inst = await startInstance(name);
  });

  it("echoes UDP from the peer namespace; the kernel keeps ping, ARP and other ports", async () => {
    const { report } = status(name);
    const lab = report.lab;
    if (!lab) throw new Error("no lab in status");
    expect(lab.ports).toEqual([7000]);
    expect(report.tiles.map((t) => t.kind).sort()).toEqual(["app", "net", "netlink"]);
    const tileIp = lab.tileAddr.split("/")[0] ?? "";

    await warmUpEcho(lab.peerNetns, tileIp, 7000);
    await new Promise((r) => setTimeout(r, 300));
    const metricsOf = (r: ReturnType<typeof status>["report"], kind: string) =>
      r.tiles.find((t) => t.kind === kind)?.metrics ?? {};
    const before = status(name).report;
    const count = 2000;
    const echo = await runLabPeer(lab.peerNetns, {
      mode: "echo",
      host: tileIp,
      port: 7000,
      count,
      size: 200,
      intervalMs: 0,
      window: 32,
      timeoutMs: 20_000,
    });
    const done = echo.lines.find((l) => l.done === true);
    expect(done, JSON.stringify(echo.lines.slice(-3))).toMatchObject({ sent: count, received: count, mismatched: 0 });

    // ICMP and ARP stay with the kernel (XDP_PASS).
    const ping = spawnSync("ip", ["netns", "exec", lab.peerNetns, "ping", "-c", "3", "-i", "0.2", "-W", "2", tileIp], {
      encoding: "utf8",
    });
    expect(ping.status, ping.stdout + ping.stderr).toBe(0);
    const neigh = spawnSync("ip", ["-n", lab.peerNetns, "neigh", "show", tileIp], { encoding: "utf8" }).stdout;
    expect(neigh).toMatch(/lladdr [0-9a-f:]{17}/);

    // A port no tile owns reaches a kernel socket in the tile namespace.
    const receiver = runLabPeer(lab.tileNetns, { mode: "recv", ports: [7001], expected: 50, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    await runLabPeer(lab.peerNetns, { mode: "send", host: tileIp, port: 7001, count: 50 });
    const got = await receiver;
    const recvDone = got.lines.find((l) => l.done === true);
    expect(JSON.stringify(recvDone)).toContain('"7001":50');

    // Counters: every echo went through the net tile and the app exactly once.
    await new Promise((r) => setTimeout(r, 300));
    const after = status(name);
    expect(after.code).toBe(0);
    const delta = (kind: string, key: string): number =>
      (metricsOf(after.report, kind)[key] ?? 0) - (metricsOf(before, kind)[key] ?? 0);
    expect(delta("net", "rx_delivered")).toBe(count);
    expect(delta("app", "rx_packets")).toBe(count);
    expect(delta("app", "tx_packets")).toBe(count);
    expect(delta("net", "tx_completed")).toBe(count);
  }, 90_000);
});

describeAsRoot(`a sandbox violation (${ROOT_REASON})`, () => {
  it("kills an app that makes a forbidden syscall with SIGSYS; the launcher names it, keeps the instance and cleans up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-sigsys-"));
    const config = join(dir, "c.toml");
    const module = join(__dirname, "fixtures", "apps", "forbidden-syscall.js");
    writeFileSync(
      config,
      `[[app]]\nname = "bad"\nmodule = "${module}"\nports = [7000]\nrestart = { limit = 1, window_s = 60 }\n`,
    );
    const name = uniqueInstance("sy");
    // The app's death is its own (test/app-failure-isolation.test.ts): the instance runs on.
    const r = cli(["run", "--lab", "--instance", name, "--config", config, "--duration", "3"], 60_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/app bad killed by SIGSYS \(syscall \w+, nr \d+\)/);
    expect(leftovers(name, [])).toEqual([]);
  }, 60_000);
});

describeAsRoot(`an app init that fails (${ROOT_REASON})`, () => {
  it("keeps its tile from reporting running: the launcher never reports the instance ready and exits 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-init-"));
    const config = join(dir, "c.toml");
    const module = join(__dirname, "fixtures", "apps", "slow-failing-init.js");
    writeFileSync(config, `[[app]]\nname = "slow"\nmodule = "${module}"\nports = [7000]\n`);
    const name = uniqueInstance("in");
    const r = cli(["run", "--lab", "--instance", name, "--config", config], 60_000);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain("app slow: init failed: Error: slow init gave up");
    // Before its init ran, the app tile is not serving: "all tiles running" would be a lie.
    expect(r.stdout).not.toContain("all tiles running");
    expect(leftovers(name, [])).toEqual([]);
  }, 60_000);
});

describeAsRoot(`several app tiles by port (${ROOT_REASON})`, () => {
  it("routes each port to its app: echo on 7000, the README's upper-case example on 7001", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-apps-"));
    const config = join(dir, "c.toml");
    const upper = join(__dirname, "fixtures", "apps", "upper.js");
    writeFileSync(
      config,
      `[[app]]\nname = "echo"\nmodule = "builtin:echo"\nports = [7000]\n` +
        `[[app]]\nname = "upper"\nmodule = "${upper}"\nports = [7001]\nsettings = { note = "readme" }\n`,
    );
    const name = uniqueInstance("ap");
    let inst: RunningInstance | undefined;
    try {
      inst = await startInstance(name, ["--lab", "--config", config]);
      // Every app's init has run before its tile reports running. The launcher relays the line
      // from the tile's pipe, possibly just after "all tiles running": give this process's event
      // loop the turns to read it (the spawnSync calls below block it).
      const serving = 'serving 7001 with {\\"note\\":\\"readme\\"}';
      const logs = inst.logs;
      await waitFor(() => logs.some((l) => l.includes(serving)), 2000, "the upper app's init log line");
      const { report } = status(name);
      expect(report.lab?.ports).toEqual([7000, 7001]);
      expect(report.tiles.map((t) => t.name).sort()).toEqual(["echo", "net", "netlink", "upper"]);
      const peerNs = report.lab?.peerNetns ?? "";
      const script =
        "const d=require('dgram').createSocket('udp4');const got={};" +
        "d.on('message',(m,r)=>{got[r.port]=''+m;if(Object.keys(got).length===2){console.log(JSON.stringify(got));process.exit(0)}});" +
        // Resend until both answer: the first replies may be dropped while the net tile solicits the
        // peer's MAC (it never queues), as a real UDP client would.
        "const send=()=>{if(!got[7000])d.send('hello',7000,'198.18.0.1');if(!got[7001])d.send('hello',7001,'198.18.0.1')};" +
        "d.bind(0,()=>{send();setInterval(send,200)});" +
        "setTimeout(()=>{console.log(JSON.stringify(got));process.exit(1)},5000);";
      const r = spawnSync("ip", ["netns", "exec", peerNs, process.execPath, "-e", script], { encoding: "utf8" });
      expect(JSON.parse(r.stdout)).toEqual({ "7000": "hello", "7001": "HELLO" });
    } finally {
      if (inst && inst.child.exitCode === null) {
        inst.child.kill("SIGTERM");
        await inst.exit;
      }
      await forceCleanup(inst);
    }
  }, 60_000);
});
