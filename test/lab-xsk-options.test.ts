import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { echoThrough, warmUpEcho } from "./support/lab-peer";
import {
  cli,
  forceCleanup,
  leftovers,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

function configFile(net: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tilenet-xsk-"));
  const file = join(dir, "c.toml");
  writeFileSync(file, `[net]\n${net}\n[[app]]\nname = "echo"\nports = [7000]\n`);
  return file;
}

describeAsRoot(`AF_XDP zero-copy and busy polling in the lab (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  beforeAll(async () => {
    name = uniqueInstance("xo");
    const config = configFile(
      'provider = "xdp"\nxdp_zero_copy = "auto"\nbusy_poll_prefer = true\nbusy_poll_usecs = 20\nbusy_poll_budget = 64',
    );
    inst = await startInstance(name, ["--lab", "--config", config]);
  });
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("status --json and text show copy with the kernel's zero-copy refusal, need-wakeup and busy polling; echo works", async () => {
    const { code, report } = status(name);
    expect(code).toBe(0);
    const xdp = report.xdp as unknown as Record<string, unknown>;
    expect(xdp).toMatchObject({
      mode: "drv",
      zeroCopy: false,
      requestedZeroCopy: "auto",
      needWakeup: true,
      busyPoll: { prefer: true, usecs: 20, budget: 64 },
    });
    expect(xdp.zeroCopyFallback).toMatch(/zero-copy\): ENOTSUP /);
    // veth: the defaults of its sysfs files, read through its namespace's sysfs.
    expect(xdp.napi).toEqual({ deferHardIrqs: 0, groFlushTimeoutNs: 0 });

    const text = cli(["status", "--instance", name]);
    expect(text.stdout).toMatch(
      /xdp: \S+ queue 0, drv mode \(auto\), copy \(zero-copy auto: bind\(AF_XDP, .*ENOTSUP.*\), need-wakeup, busy poll prefer usecs 20 budget 64, napi_defer_hard_irqs 0 gro_flush_timeout 0/,
    );

    const lab = report.lab;
    if (!lab) throw new Error("no lab in status");
    await warmUpEcho(lab.peerNetns, lab.tileAddr.split("/")[0] ?? "", 7000);
    const count = 500;
    const { done } = await echoThrough(lab.peerNetns, lab.tileAddr.split("/")[0] ?? "", 7000, count);
    expect(done).toMatchObject({ done: true, sent: count, received: count, mismatched: 0 });
  }, 90_000);
});

describeAsRoot(`xdp_zero_copy = true where the driver has none (${ROOT_REASON})`, () => {
  it("fails the start with the kernel's reason (exit 1), with no fallback to copy or sockets, and leaves nothing behind", () => {
    const name = uniqueInstance("xz");
    const config = configFile("xdp_zero_copy = true");
    const r = cli(["run", "--lab", "--instance", name, "--config", config, "--duration", "3"], 60_000);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(
      /\[net\] xdp_zero_copy = true on \S+: zero-copy refused: bind\(AF_XDP, ifindex \d+, queue 0, zero-copy\): ENOTSUP/,
    );
    expect(leftovers(name, [])).toEqual([]);
  }, 90_000);
});

describeAsRoot(`busy polling with the socket provider (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("sets the busy-poll options on the UDP sockets: status says so, echo works", async () => {
    const name = uniqueInstance("xs");
    const config = configFile(
      'provider = "socket"\nbusy_poll_prefer = true\nbusy_poll_usecs = 20\nbusy_poll_budget = 64',
    );
    inst = await startInstance(name, ["--lab", "--config", config]);
    const { code, report } = status(name);
    expect(code).toBe(0);
    expect(report.netProvider).toMatchObject({
      provider: "socket",
      busyPoll: { prefer: true, usecs: 20, budget: 64 },
    });
    expect(report.xdp).toBeUndefined();
    expect(cli(["status", "--instance", name]).stdout).toContain(
      "provider: socket (configured), busy poll prefer usecs 20 budget 64",
    );
    const lab = report.lab;
    if (!lab) throw new Error("no lab in status");
    const count = 300;
    const { done } = await echoThrough(lab.peerNetns, lab.tileAddr.split("/")[0] ?? "", 7000, count);
    expect(done).toMatchObject({ done: true, sent: count, received: count, mismatched: 0 });
  }, 90_000);
});
