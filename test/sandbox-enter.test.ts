// enterSandbox and landlock: a tile started the way the launcher will start it (tilenet-exec as
// uid 65534, the bundle and the addon staged in a directory that uid can read) enters its
// sandbox: seccomp on, not dumpable, no new fds, landlock where the kernel has it.
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execHelperArgs } from "../launcher/exec-args";
import { describeAsRoot } from "./support/root";
import { ADDON, EXEC_HELPER, EXEC_HELPER_FILTERS, requireBuilt, runNode, WORKLOAD } from "./support/seccomp-helpers";

beforeAll(() => requireBuilt());

describe("landlockDenyAll", () => {
  it("denies file access to the calling thread and threads it starts later, and tells which threads it covers", () => {
    // A worker is started before landlock, the libuv threadpool after (first fs.readFile).
    const r = runNode(`
      const { Worker } = require("node:worker_threads");
      const early = new Worker('const { parentPort } = require("node:worker_threads"); const fs = require("node:fs"); parentPort.on("message", () => { let r; try { fs.readFileSync("/etc/hostname"); r = "read ok"; } catch (e) { r = e.code; } parentPort.postMessage(r); });', { eval: true });
      early.once("online", () => {
        const out = { abi: addon.landlockAbiVersion(), applied: addon.landlockDenyAll() };
        try { fs.readFileSync("/etc/hostname"); out.main = "read ok"; } catch (e) { out.main = e.code; }
        fs.readFile("/etc/hostname", (err) => {
          out.pool = err ? err.code : "read ok";
          early.postMessage("go");
          early.once("message", (m) => { out.earlyWorker = m; fs.writeSync(1, JSON.stringify(out)); process.exit(0); });
        });
      });`);
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout) as {
      abi: number;
      applied: boolean;
      main: string;
      pool: string;
      earlyWorker: string;
    };
    if (out.abi === 0) {
      expect(out.applied).toBe(false);
      return;
    }
    expect(out.applied).toBe(true);
    expect(out.main).toBe("EACCES");
    expect(out.pool).toBe("EACCES");
    // Before landlock ABI 8 (LANDLOCK_RESTRICT_SELF_TSYNC) a thread that already ran is not covered.
    expect(out.earlyWorker).toBe(out.abi >= 8 ? "EACCES" : "read ok");
  });
});

describe("sandbox native calls", () => {
  it("refuse malformed filters and bad limits with the operation and errno named", () => {
    const r = runNode(`
      const out = [];
      const attempt = (f) => { try { f(); out.push("ok"); } catch (e) { out.push(e.message); } };
      attempt(() => addon.installSeccomp(new Uint8Array(12)));
      attempt(() => addon.installSeccomp(new Uint8Array(8 * 4097)));
      // jump past the end: the kernel's checker refuses it
      attempt(() => addon.installSeccomp(Uint8Array.from([0x15, 0, 5, 0, 0, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f])));
      attempt(() => addon.setRlimit("stack", 1, 1));
      attempt(() => addon.setRlimit("nofile", 10, 5));
      attempt(() => addon.setRlimit("core", 0, Infinity));
      out.push(String(addon.landlockAbiVersion()));
      out.push(fs.readFileSync("/proc/self/status", "utf8").match(/^Seccomp_filters:\\s+(\\d+)/m)[1]);
      fs.writeSync(1, JSON.stringify(out));`);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as string[];
    expect(out[0]).toMatch(/installSeccomp: program must be 1\.\.4096 instructions of 8 bytes, got 12 bytes/);
    expect(out[1]).toMatch(/got 32776 bytes/);
    expect(out[2]).toMatch(/^seccomp\(SECCOMP_SET_MODE_FILTER, TSYNC\): EINVAL/);
    expect(out[3]).toMatch(/setRlimit: unknown resource 'stack'/);
    expect(out[4]).toMatch(/^setrlimit\(nofile\): EINVAL/);
    expect(out[5]).toBe("ok");
    expect(Number(out[6])).toBeGreaterThanOrEqual(0);
    expect(out[7]).toBe(String(EXEC_HELPER_FILTERS)); // nothing was installed beyond tilenet-exec's
  });
});

describe("enterSandbox", () => {
  it("fails on a bad policy before restricting anything", () => {
    const r = runNode(`
      let message = "";
      try { lib.enterSandbox({ policy: { name: "tile", allow: ["sendtoo"] }, keepFdsUpTo: 10, landlock: true }); } catch (e) { message = e.message; }
      const limits = fs.readFileSync("/proc/self/limits", "utf8").match(/^Max open files\\s+(\\d+)/m)[1];
      fs.writeSync(1, JSON.stringify({ message, limits, status: fs.readFileSync("/proc/self/status", "utf8").match(/^Seccomp_filters:\\s+(\\d+)/m)[1] }));`);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { message: string; limits: string; status: string };
    expect(out.message).toMatch(/seccomp policy 'tile\+node\d+-baseline': unknown syscall 'sendtoo'/);
    expect(Number(out.limits)).toBeGreaterThan(11);
    expect(out.status).toBe(String(EXEC_HELPER_FILTERS));
  });
});

describeAsRoot("a tile started by tilenet-exec entering its sandbox (needs root)", () => {
  let stage: string;
  beforeAll(() => {
    // uid 65534 cannot read this worktree: stage the bundle and the addon where it can.
    stage = mkdtempSync(join(tmpdir(), "tn-sandbox-stage-"));
    chmodSync(stage, 0o755);
    for (const [from, name] of [
      [WORKLOAD, "node-workload.js"],
      [ADDON, "tilenet.node"],
    ] as const) {
      copyFileSync(from, join(stage, name));
      chmodSync(join(stage, name), 0o644);
    }
  });
  afterAll(() => rmSync(stage, { recursive: true, force: true }));

  it("runs its workload as uid 65534 with seccomp, not dumpable, RLIMIT_NOFILE and landlock", async () => {
    const args = execHelperArgs({
      uid: 65534,
      gid: 65534,
      keepFds: [0, 1, 2],
      unshare: ["ipc", "uts"],
      rlimitCore: 0,
      parentPid: process.pid,
      program: process.execPath,
      programArgs: [join(stage, "node-workload.js"), "kill", "exit", "landlock"],
    });
    const child = spawn(EXEC_HELPER, args, { stdio: ["ignore", "pipe", "pipe"], cwd: "/", env: {} });
    let stdout = "";
    let stderr = "";
    let seen: { status: string; owner: number; limits: string } | undefined;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (!seen && stdout.includes("ready\n") && child.pid) {
        const proc = `/proc/${child.pid}`;
        seen = {
          status: readFileSync(`${proc}/status`, "utf8"),
          owner: statSync(`${proc}/status`).uid,
          limits: readFileSync(`${proc}/limits`, "utf8"),
        };
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(code, stderr.slice(-800)).toBe(0);
    if (!seen) throw new Error("the tile never reported ready");
    expect(seen.status).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
    expect(seen.status).toMatch(/^Seccomp:\s+2$/m);
    expect(seen.status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(seen.status).toMatch(/^CapEff:\s+0{16}$/m);
    // Not dumpable: /proc/<pid> files belong to root instead of the process's uid.
    expect(seen.owner).toBe(0);
    const line = stdout.split("\n").find((l) => l.startsWith("workload "));
    if (!line) throw new Error("no workload summary");
    const summary = JSON.parse(line.slice("workload ".length)) as {
      report: { nofileLimit: number; landlock: string; landlockAbi: number };
    };
    expect(seen.limits).toMatch(
      new RegExp(`^Max open files\\s+${summary.report.nofileLimit}\\s+${summary.report.nofileLimit}\\s`, "m"),
    );
    expect(seen.limits).toMatch(/^Max core file size\s+0\s+0\s/m);
    const abi = summary.report.landlockAbi;
    expect(summary.report.landlock).toBe(abi === 0 ? "unavailable" : abi >= 8 ? "all-threads" : "calling-thread");
  });
});
