// An app tile's death is that app's failure only: killed repeatedly (SIGKILL) while another app is
// under bounded load, it is restarted with backoff and counted, and the other app echoes every
// datagram; an app that dies of SIGSYS at every start is restarted up to its limit, then left
// down (status says so and exits non-zero) while the instance keeps serving.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  forceCleanup,
  isRoot,
  leftovers,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";

const COUNT = 3000;

/** A UDP client in `ns`: resends one datagram to `port` until it is echoed (the first replies are
 *  dropped while the net tile solicits the peer's MAC), then sends COUNT numbered datagrams in
 *  bursts of 10 per ms-tick and reports which came back. */
const LOAD_CLIENT = `
const d = require("dgram").createSocket("udp4");
const [port, count] = [Number(process.argv[1]), Number(process.argv[2])];
const got = new Set(); let warm = false; let sent = 0;
d.on("message", (m) => { const s = m.toString(); if (s === "warm") { warm = true; return; } got.add(Number(s)); });
const warmer = setInterval(() => d.send("warm", port, "198.18.0.1"), 100);
const start = () => {
  clearInterval(warmer); process.stdout.write("loading\\n");
  const burst = setInterval(() => {
    for (let i = 0; i < 10 && sent < count; i++) d.send(String(sent++), port, "198.18.0.1");
    if (sent >= count) clearInterval(burst);
  }, 2);
};
const waitWarm = setInterval(() => { if (warm) { clearInterval(waitWarm); start(); } }, 10);
const finish = () => { const missing = []; for (let i = 0; i < count; i++) if (!got.has(i)) missing.push(i); process.stdout.write(JSON.stringify({ sent, got: got.size, missing: missing.slice(0, 20) }) + "\\n"); process.exit(0); };
setInterval(() => { if (sent >= count && got.size >= count) finish(); }, 20);
setTimeout(finish, 25000);
`;

function writeConfig(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tilenet-isolation-"));
  const path = join(dir, "c.toml");
  writeFileSync(path, body);
  return path;
}

describe.skipIf(!isRoot)(`app failure isolation (${ROOT_REASON})`, () => {
  it("restarts a killed app with backoff while the other app echoes every datagram of a bounded load", async () => {
    const config = writeConfig(
      `[[app]]\nname = "steady"\nmodule = "builtin:echo"\nports = [7000]\n` +
        `[[app]]\nname = "victim"\nmodule = "builtin:echo"\nports = [7001]\nrestart = { limit = 10, window_s = 60 }\n`,
    );
    const name = uniqueInstance("fi");
    let inst: RunningInstance | undefined;
    try {
      inst = await startInstance(name, ["--lab", "--config", config]);
      const peerNs = status(name).report.lab?.peerNetns ?? "";
      const client = spawn(
        "ip",
        ["netns", "exec", peerNs, process.execPath, "-e", LOAD_CLIENT, "7000", String(COUNT)],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      client.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const done = new Promise<void>((r) => client.once("exit", () => r()));
      await waitFor(() => out.includes("loading"), 15_000, "the load client's first echo");
      const killed: number[] = [];
      for (let round = 0; round < 3; round++) {
        const victim = status(name).report.tiles.find((t) => t.name === "victim");
        if (!victim) throw new Error("no victim tile");
        process.kill(victim.pid, "SIGKILL");
        killed.push(victim.pid);
        await waitFor(
          () => {
            const v = status(name).report.tiles.find((t) => t.name === "victim");
            return v !== undefined && v.pid !== victim.pid && v.state === "running" && v.problems.length === 0;
          },
          10_000,
          `victim restart ${round + 1}`,
        );
      }
      await done;
      const result = JSON.parse(out.trim().split("\n").pop() ?? "{}") as {
        sent: number;
        got: number;
        missing: number[];
      };
      expect(result.sent).toBe(COUNT);
      expect(result, "every datagram of the steady app echoed").toMatchObject({ got: COUNT, missing: [] });
      const { code, report } = status(name);
      const victim = report.tiles.find((t) => t.name === "victim");
      expect(victim?.restarts).toBe(3);
      expect(victim?.lastExit).toBe("killed by SIGKILL");
      expect(code).toBe(0); // restarted and healthy again
      const steady = report.tiles.find((t) => t.name === "steady");
      expect(steady?.restarts).toBe(0);
      const logs = inst.logs.join("\n");
      expect(logs).toMatch(/app victim killed by SIGKILL; restarting it in 100 ms/);
      expect(logs).toMatch(/app victim killed by SIGKILL; restarting it in 400 ms/);
      expect(inst.child.exitCode).toBeNull();
      for (const pid of killed) expect(leftovers(name, [pid]).filter((l) => l.startsWith("process"))).toEqual([]);
    } finally {
      if (inst && inst.child.exitCode === null) {
        inst.child.kill("SIGTERM");
        await inst.exit;
      }
      await forceCleanup(inst);
      rmSync(config, { force: true });
    }
  }, 90_000);

  it("leaves an app that dies of SIGSYS at every start down after its limit; the instance keeps serving", async () => {
    const module = join(__dirname, "fixtures", "apps", "forbidden-syscall.js");
    const config = writeConfig(
      `[[app]]\nname = "steady"\nmodule = "builtin:echo"\nports = [7000]\n` +
        `[[app]]\nname = "bad"\nmodule = "${module}"\nports = [7001]\nrestart = { limit = 2, window_s = 60 }\n`,
    );
    const name = uniqueInstance("fd");
    let inst: RunningInstance | undefined;
    try {
      inst = await startInstance(name, ["--lab", "--config", config]);
      await waitFor(() => inst?.logs.some((l) => l.includes("it stays down")) ?? false, 20_000, "the app left down");
      const logs = inst.logs.join("\n");
      expect(logs).toMatch(/app bad killed by SIGSYS \(syscall uname, nr 63\); restarting it in 100 ms/);
      expect(logs).toMatch(/app bad killed by SIGSYS \(syscall uname, nr 63\); 3 failures within 60 s \(limit 2\)/);
      const { code, report } = status(name);
      expect(code).not.toBe(0);
      const bad = report.tiles.find((t) => t.name === "bad");
      expect(bad?.down).toBe(true);
      expect(bad?.restarts).toBe(2);
      expect(bad?.problems[0]).toMatch(/^down: its restart limit was reached/);
      expect(report.tiles.find((t) => t.name === "steady")?.problems).toEqual([]);
      const peerNs = report.lab?.peerNetns ?? "";
      const echo = spawn("ip", ["netns", "exec", peerNs, process.execPath, "-e", LOAD_CLIENT, "7000", "100"], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      echo.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      await new Promise<void>((r) => echo.once("exit", () => r()));
      expect(JSON.parse(out.trim().split("\n").pop() ?? "{}")).toMatchObject({ got: 100, missing: [] });
      expect(inst.child.exitCode).toBeNull();
    } finally {
      if (inst && inst.child.exitCode === null) {
        inst.child.kill("SIGTERM");
        await inst.exit;
      }
      await forceCleanup(inst);
      rmSync(config, { force: true });
    }
  }, 90_000);
});
