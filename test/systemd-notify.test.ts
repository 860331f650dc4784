// The launcher under systemd's notify protocol, with the test playing systemd: a unix datagram
// socket bound where NOTIFY_SOCKET points. READY=1 comes once every tile runs, WATCHDOG=1 repeats
// at half of WATCHDOG_USEC while the tiles are healthy (and is withheld while one is not),
// STOPPING=1 comes at SIGTERM. Also: `tilenet ready`, and `systemd-analyze verify` on the unit.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { SdNotifier, watchdogIntervalMs } from "../launcher/sd-notify";
import { native } from "../shared/native";
import {
  cli,
  forceCleanup,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

const quietLog = pino({ level: "silent" });

/** Every datagram queued on fd, as text. */
function drain(fd: number): string[] {
  const got: string[] = [];
  for (let d = native().unixDgramRecv(fd); d !== null; d = native().unixDgramRecv(fd)) got.push(d.toString());
  return got;
}

describe("sd_notify messages and the watchdog period", () => {
  it("takes half of WATCHDOG_USEC, and none when WATCHDOG_PID names another process", () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "5000000" }, 42)).toBe(2500);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "5000000", WATCHDOG_PID: "42" }, 42)).toBe(2500);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "5000000", WATCHDOG_PID: "43" }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "x" }, 42)).toBeUndefined();
  });

  it("withholds WATCHDOG=1 while a tile has a problem and says why in STATUS", () => {
    const sent: string[] = [];
    const n = new SdNotifier("/x", 1000, quietLog, (_p, b) => sent.push(Buffer.from(b).toString()));
    let problems = ["net: heartbeat stale"];
    n.startWatchdog(() => problems);
    expect(sent).toEqual(["STATUS=unhealthy: net: heartbeat stale"]);
    n.stopWatchdog();
    problems = [];
    n.startWatchdog(() => problems);
    n.stopWatchdog();
    expect(sent[1]).toBe("WATCHDOG=1");
  });

  it("sends to an abstract-namespace socket ('@') and reports a missing socket as an Error with errno", () => {
    const name = `@tilenet-test-${randomBytes(4).toString("hex")}`;
    const fd = native().unixDgramBind(name);
    try {
      native().unixDgramSend(name, Buffer.from("READY=1"));
      expect(drain(fd)).toEqual(["READY=1"]);
    } finally {
      native().closeFd(fd);
    }
    expect(() => native().unixDgramSend("/nonexistent/notify.sock", Buffer.from("X=1"))).toThrow(/ENOENT/);
  });
});

describeAsRoot("a launcher under a notify socket (root: builds a lab)", () => {
  let inst: RunningInstance | undefined;
  const dir = mkdtempSync(join(tmpdir(), "tilenet-notify-"));
  const socketPath = join(dir, "notify.sock");
  afterAll(async () => {
    await forceCleanup(inst);
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends READY=1 after every tile runs, WATCHDOG=1 repeatedly, STOPPING=1 at SIGTERM", async () => {
    const fd = native().unixDgramBind(socketPath);
    try {
      const name = uniqueInstance("sdn");
      // 400 ms watchdog: a ping every 200 ms.
      inst = await startInstance(name, ["--lab"], 30_000, { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: "400000" });
      const got: string[] = [];
      await waitFor(() => got.push(...drain(fd)) >= 0 && got.some((m) => m.startsWith("READY=1")), 5000, "READY=1");
      // READY=1 is the first message and comes only once every tile runs.
      expect(got[0]).toMatch(/^READY=1\nSTATUS=\d+ tiles running$/);
      expect(status(name).report.tiles.every((t) => t.state === "running")).toBe(true);
      expect(cli(["ready", "--instance", name, "--timeout", "5"]).code).toBe(0);
      await waitFor(
        () => got.push(...drain(fd)) >= 0 && got.filter((m) => m === "WATCHDOG=1").length >= 4,
        5000,
        "4 pings",
      );
      inst.child.kill("SIGTERM");
      expect((await inst.exit).code).toBe(0);
      got.push(...drain(fd));
      const stopping = got.findIndex((m) => m.startsWith("STOPPING=1"));
      expect(stopping).toBeGreaterThan(0);
      expect(got[stopping]).toContain("STATUS=stopping: received SIGTERM");
      // No ping after the launcher said it is stopping.
      expect(got.slice(stopping).includes("WATCHDOG=1")).toBe(false);
    } finally {
      native().closeFd(fd);
    }
  }, 60_000);

  it("`tilenet ready` exits 3 when no such instance runs", () => {
    const r = cli(["ready", "--instance", uniqueInstance("none"), "--timeout", "0"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not ready/);
  });
});

describe("the shipped unit file", () => {
  const analyze = spawnSync("systemd-analyze", ["--version"]);
  const missing = analyze.error !== undefined;
  if (missing) process.stderr.write("skipped: systemd-analyze not installed (Debian package systemd)\n");
  it.skipIf(missing)("passes systemd-analyze verify with no warning", () => {
    // verify exits 0 on unknown keys and bad values (it only warns): the test wants stderr empty too.
    const dir = mkdtempSync(join(tmpdir(), "tilenet-unit-"));
    try {
      const unit = join(dir, "tilenet@edge1.service");
      copyFileSync(join(__dirname, "..", "examples", "systemd", "tilenet@.service"), unit);
      const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
