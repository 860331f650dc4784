// Each tile is pid 1 of a PID namespace of its own: other tiles' and the launcher's pids do not
// exist for it. Proved with real processes: a tile probing another tile's host pid with kill(pid,
// 0) gets ESRCH (the control, outside a PID namespace, gets EPERM: the process is there and
// named); tilenet-exec's waiter reports the host pid, forwards SIGTERM and exits as the tile
// did; a launched instance's tiles (a hostile app module included) see themselves as pid 1,
// status shows each namespace as the tile's own, and SIGTERM still halts every tile gracefully.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import { execHelperArgs } from "../launcher/exec-args";
import { NODE_CACHE_DIR } from "../launcher/node-binary";
import { forceCleanup, type RunningInstance, startInstance, status, uniqueInstance } from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";
import { runAttacker, startVictim, stopVictim, type Victim } from "./support/sandbox-attack";
import { EXEC_HELPER, requireBuilt } from "./support/seccomp-helpers";

const VICTIM_ID = 65534;
const ATTACKER_ID = 65533;

/** kill(pid, 0) from a fresh attacker tile: "ok" or the errno code. */
function probeAs(id: number, pid: number, ownPidNamespace: boolean): string {
  const script = `try { process.kill(${pid}, 0); console.log("ok"); } catch (e) { console.log(e.code); }`;
  if (!ownPidNamespace) return runAttacker(id, script);
  const args = execHelperArgs({
    uid: id,
    gid: id,
    keepFds: [0, 1, 2],
    unshare: ["pid"],
    program: process.execPath,
    programArgs: ["-e", script],
  });
  const r = spawnSync(EXEC_HELPER, args, { encoding: "utf8", env: {}, cwd: "/", timeout: 20_000 });
  if (r.status !== 0) throw new Error(`attacker exited with ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Runs `script` as a pid-namespaced tile; resolves with the helper's exit and the reported pid. */
function runPidTile(
  script: string,
  onStart: (hostPid: number, helper: ReturnType<typeof spawn>) => void = () => {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; reported: string; out: string }> {
  const args = execHelperArgs({
    uid: VICTIM_ID,
    gid: VICTIM_ID,
    keepFds: [0, 1, 2],
    unshare: ["pid"],
    pidReportFd: 3,
    program: process.execPath,
    programArgs: ["-e", script],
  });
  const helper = spawn(EXEC_HELPER, args, { stdio: ["ignore", "pipe", "pipe", "pipe"], env: {}, cwd: "/" });
  let reported = "";
  let out = "";
  helper.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    if (out.includes("ready")) onStart(Number(reported.trim()), helper);
  });
  (helper.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => {
    reported += d.toString();
  });
  return new Promise((resolve) => {
    helper.once("exit", (code, signal) => resolve({ code, signal, reported, out }));
  });
}

describeAsRoot("PID namespace per tile (needs root: namespaces, uid switch, lab)", () => {
  beforeAll(() => requireBuilt());

  it("hides a tile's pid from another tile: kill(pid, 0) is ESRCH inside a PID namespace, EPERM outside", async () => {
    let victim: Victim | undefined;
    try {
      victim = await startVictim(process.execPath, VICTIM_ID, ["pid"]);
      expect(victim.ownPid, "the victim is its namespace's init").toBe(1);
      expect(victim.hostPid).toBeGreaterThan(1);
      expect(probeAs(ATTACKER_ID, victim.hostPid, false), "control: visible, only not signalable").toBe("EPERM");
      expect(probeAs(ATTACKER_ID, victim.hostPid, true)).toBe("ESRCH");
      // Pid 1 inside the attacker's namespace is the attacker itself, never another tile.
      expect(probeAs(ATTACKER_ID, 1, true)).toBe("ok");
    } finally {
      await stopVictim(victim);
    }
  }, 30_000);

  it("the waiter reports the tile's host pid, forwards SIGTERM and exits with the tile's code or signal", async () => {
    const graceful = await runPidTile(
      'process.on("SIGTERM", () => process.exit(3)); console.log("ready"); setInterval(() => {}, 1000);',
      (_pid, helper) => helper.kill("SIGTERM"),
    );
    expect(graceful).toMatchObject({ code: 3, signal: null });
    expect(graceful.reported).toMatch(/^\d+\n$/);
    let hostPid = 0;
    const killed = await runPidTile('console.log("ready"); setInterval(() => {}, 1000);', (pid) => {
      hostPid = pid;
      expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^NSpid:\s+\d+\s+1$/m);
      process.kill(pid, "SIGKILL");
    });
    expect(hostPid).toBeGreaterThan(1);
    expect(killed).toMatchObject({ code: null, signal: "SIGKILL" });
  }, 30_000);

  it("takes the tile with it when the waiter is killed (the tile's parent-death signal)", async () => {
    let tilePid = 0;
    const r = await runPidTile('console.log("ready"); setInterval(() => {}, 1000);', (pid, helper) => {
      tilePid = pid;
      helper.kill("SIGKILL");
    });
    expect(r.signal).toBe("SIGKILL");
    const deadline = Date.now() + 5000;
    const gone = (): boolean => {
      try {
        return /^State:\s+Z/m.test(readFileSync(`/proc/${tilePid}/status`, "utf8"));
      } catch {
        return true;
      }
    };
    while (!gone() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(gone()).toBe(true);
  }, 30_000);

  it("runs every launched tile as pid 1 of its own namespace, from the execute-only Node copy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-pidns-"));
    const config = join(dir, "c.toml");
    const module = join(__dirname, "fixtures", "apps", "pid-probe.js");
    writeFileSync(config, `[[app]]\nname = "probe"\nmodule = "${module}"\nports = [7000]\n`);
    const name = uniqueInstance("pn");
    let inst: RunningInstance | undefined;
    try {
      inst = await startInstance(name, ["--lab", "--config", config]);
      expect(inst.logs.join("\n")).toMatch(/pid probe: own pid 1\b/);
      const { code, report } = status(name);
      expect(code, JSON.stringify(report.tiles.map((t) => t.problems))).toBe(0);
      const ids = new Set<string>();
      for (const t of report.tiles) {
        expect(t.pidNamespace, t.name).toMatchObject({ own: true, nsPid: 1 });
        ids.add(t.pidNamespace?.id ?? "");
        expect(readlinkSync(`/proc/${t.pid}/exe`), t.name).toMatch(new RegExp(`^${NODE_CACHE_DIR}/node-[0-9a-f]{16}$`));
        expect(statSync(`/proc/${t.pid}/mem`).uid, `${t.name}: non-dumpable`).toBe(0);
      }
      expect(ids.size).toBe(report.tiles.length);
      const exited = inst.exit;
      inst.child.kill("SIGTERM");
      expect((await exited).code).toBe(0);
      expect(inst.logs.join("\n")).not.toMatch(/did not halt in time/);
    } finally {
      await forceCleanup(inst);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
