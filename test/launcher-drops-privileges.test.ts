// Issue 15, point 3: once every tile runs, the launcher keeps no privilege. Proven three ways:
// the compiled filter decides each denied call as the policy says; a real process that made the
// launcher's drop attempts what a compromised launcher would (exec, regain root, read secrets,
// signal root's processes, open a netlink socket) and fails each time; and a live lab's launcher
// is seen from /proc with no capability, its own uid and its filter on every thread, while its
// keeper (root) restarts a killed app.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LAUNCHER_DENIED_SYSCALLS, launcherPolicy } from "../launcher/launcher-sandbox";
import {
  AUDIT_ARCH_X86_64,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
} from "../shared/seccomp/bpf";
import { compilePolicy } from "../shared/seccomp/compile";
import { syscallNumber } from "../shared/seccomp/syscalls-x86_64";
import {
  forceCleanup,
  pidAlive,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";
import { interpret, ROOT } from "./support/seccomp-helpers";

const FIXTURE = join(ROOT, "dist/test/fixtures/sandbox/launcher-drop.js");
const DROP_UID = 2_130_771_000; // inside the default tile id range, never allocated by a test run
const AF_NETLINK = 16;
const CLONE_NEWUSER = 0x10000000;
const CLONE_THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes

describe("the launcher's seccomp filter", () => {
  const program = compilePolicy(launcherPolicy());
  const decide = (name: string, args: number[] = []): number =>
    interpret(program, {
      nr: syscallNumber(name) ?? -1,
      arch: AUDIT_ARCH_X86_64,
      args: [...args, 0, 0, 0, 0, 0, 0].slice(0, 6).map(BigInt),
    });

  it("kills every denied syscall and allows what a Node HTTP server and supervisor use", () => {
    for (const name of LAUNCHER_DENIED_SYSCALLS) expect(decide(name), name).toBe(SECCOMP_RET_KILL_PROCESS);
    for (const name of ["read", "write", "epoll_wait", "accept4", "sendmsg", "openat", "renameat2", "kill", "wait4"])
      expect(decide(name), name).toBe(SECCOMP_RET_ALLOW);
  });

  it("answers sockets outside the unix and IP families with EAFNOSUPPORT, and kills clone into a new namespace", () => {
    expect(decide("socket", [AF_NETLINK])).toBe((SECCOMP_RET_ERRNO | 97) >>> 0);
    expect(decide("socket", [2])).toBe(SECCOMP_RET_ALLOW);
    expect(decide("clone", [CLONE_THREAD_FLAGS])).toBe(SECCOMP_RET_ALLOW);
    expect(decide("clone", [CLONE_THREAD_FLAGS | CLONE_NEWUSER])).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(decide("clone3")).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
    expect(decide("io_uring_setup")).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
  });
});

describeAsRoot("a process that made the launcher's drop, attacking (needs root to drop from)", () => {
  let dir = "";
  let rootSleeper: ReturnType<typeof spawn> | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tn-launcher-drop-"));
    rootSleeper = spawn("sleep", ["60"], { stdio: "ignore" });
  });
  afterAll(() => {
    rootSleeper?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `attack` after the drop in a fresh Node process (as the launcher: it re-executes itself
   *  first if libuv made io_uring rings); returns its exit and what it printed. */
  const afterDrop = (attack: string): { signal: NodeJS.Signals | null; out: string } => {
    const file = join(dir, `attack-${Math.random().toString(16).slice(2)}.js`);
    writeFileSync(
      file,
      `const lib = require(${JSON.stringify(FIXTURE)});
       lib.restartWithoutIoUring();
       lib.dropLauncherPrivileges(${DROP_UID}, ${DROP_UID});
       const say = (s) => require("node:fs").writeSync(1, s + "\\n");
       const code = (f) => { try { f(); return "ok"; } catch (e) { return e.code ?? e.message; } };
       ${attack}`,
    );
    const r = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 20_000 });
    if (r.stderr && !r.signal) throw new Error(r.stderr);
    return { signal: r.signal, out: r.stdout.trim() };
  };

  it("cannot exec a program: the filter kills the child that tries", () => {
    const r = afterDrop(
      `const x = require("node:child_process").spawnSync("/bin/true"); say(String(x.signal ?? x.error?.code ?? x.status));`,
    );
    expect(r.out).toBe("SIGSYS");
  });

  it("cannot become root again: setuid(0) kills it", () => {
    expect(afterDrop(`process.setuid(0); say("still here");`).signal).toBe("SIGSYS");
  });

  it("cannot read root's secrets, write root's directories, or reach root's processes", () => {
    const pid = rootSleeper?.pid ?? 0;
    const r = afterDrop(`
      say(code(() => require("node:fs").readFileSync("/etc/shadow")));
      say(code(() => require("node:fs").writeFileSync("/run/tilenet-attack", "x")));
      say(code(() => process.kill(${pid}, "SIGKILL")));
      say(code(() => require("node:fs").readFileSync("/proc/${pid}/environ")));
      say(code(() => lib.native().netlinkOpen(0, 0)));`);
    expect(r.out.split("\n")).toEqual(["EACCES", "EACCES", "EPERM", "EACCES", "EAFNOSUPPORT"]);
    expect(pidAlive(pid)).toBe(true);
  });
});

describeAsRoot("a running instance's launcher (needs root: builds a lab)", () => {
  let inst: RunningInstance | undefined;
  afterEach(async () => {
    await forceCleanup(inst);
    inst = undefined;
  });

  const taskStatus = (pid: number): string[] =>
    readdirSync(`/proc/${pid}/task`).map((tid) => readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"));
  const field = (text: string, key: string): string => new RegExp(`^${key}:\\s+(.*)$`, "m").exec(text)?.[1] ?? "";

  it("runs as its own uid with no capability under its filter on every thread; its keeper restarts a killed app", async () => {
    const name = uniqueInstance("ld");
    inst = await startInstance(name, ["--lab"]);
    const { code, report } = status(name);
    expect(code).toBe(0);
    const l = report.launcher;
    expect(l.problems).toEqual([]);
    expect(l.sandboxed).toBe(true);
    expect(l.dropped?.uid).toBeGreaterThan(0);
    for (const t of taskStatus(l.pid)) {
      expect(field(t, "Uid").split(/\s+/)).toEqual(Array(4).fill(String(l.dropped?.uid)));
      for (const set of ["CapEff", "CapPrm", "CapAmb", "CapInh"]) expect(field(t, set)).toMatch(/^0+$/);
      expect(field(t, "Seccomp")).toBe("2");
      expect(field(t, "NoNewPrivs")).toBe("1");
    }
    const rings = readdirSync(`/proc/${l.pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${l.pid}/fd/${fd}`) === "anon_inode:[io_uring]";
      } catch {
        return false;
      }
    });
    expect(rings).toEqual([]);
    // The keeper is the launcher's child and every tile's parent.
    const keeper = l.keeperPid ?? 0;
    const parentOf = (pid: number): number => Number(field(readFileSync(`/proc/${pid}/status`, "utf8"), "PPid"));
    expect(parentOf(keeper)).toBe(l.pid);
    // The keeper, still root, holds 7 capabilities: CHOWN, KILL, SETGID, SETUID, SETPCAP,
    // NET_ADMIN, SYS_ADMIN (bits 0, 5, 6, 7, 8, 12, 21), its bounding set too.
    const keeperStatus = readFileSync(`/proc/${keeper}/status`, "utf8");
    for (const set of ["CapEff", "CapPrm", "CapBnd"]) expect(field(keeperStatus, set), set).toBe("00000000002011e1");
    for (const t of report.tiles) {
      // In its own PID namespace a tile's parent is its waiter, whose parent is the keeper.
      const parent = parentOf(t.pid);
      expect([parent, parentOf(parent)], t.name).toContain(keeper);
    }
    const echo = report.tiles.find((t) => t.name === "echo");
    if (!echo) throw new Error("no echo tile");
    process.kill(echo.pid, "SIGKILL");
    await waitFor(
      () => {
        const t = status(name).report.tiles.find((x) => x.name === "echo");
        return t !== undefined && t.restarts >= 1 && t.state === "running" && t.pid !== echo.pid;
      },
      15_000,
      "the killed app to be restarted",
    );
    const again = status(name).report;
    expect(again.launcher.problems).toEqual([]);
    inst.child.kill("SIGTERM");
    expect((await inst.exit).code).toBe(0);
  });
});
