// tilenet-exec: a Node tile started through it has no capability on any thread, its uid/gid,
// no_new_privs, only the kept fds, the namespaces asked for, and dies with its parent.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EXEC_HELPER_FAILED,
  EXEC_HELPER_PARENT_GONE,
  type ExecHelperOptions,
  execHelperArgs,
} from "../launcher/exec-args";
import { describeAsRoot } from "./support/root";
import { EXEC_HELPER, requireBuilt } from "./support/seccomp-helpers";

const NOBODY = 65534;
const ZERO_CAPS = "0000000000000000";

/** What a tile reports about itself: every thread's credentials, its fds, namespaces, limits. */
const REPORT_JS = `
const fs = require("node:fs");
const tasks = fs.readdirSync("/proc/self/task").map((tid) => {
  const st = fs.readFileSync("/proc/self/task/" + tid + "/status", "utf8");
  const f = (k) => (st.match(new RegExp("^" + k + ":[ \\\\t]*(.*)$", "m")) || [])[1];
  const out = { tid };
  for (const k of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Uid", "Gid", "Groups"]) out[k] = f(k);
  return out;
});
// readdirSync's own directory fd is listed but already closed when readlink runs: skip it.
const fds = {};
let closedWhileListing = 0;
for (const fd of fs.readdirSync("/proc/self/fd")) {
  try { fds[fd] = fs.readlinkSync("/proc/self/fd/" + fd); } catch { closedWhileListing++; }
}
const ns = {};
for (const n of ["mnt", "ipc", "uts", "net"]) ns[n] = fs.readlinkSync("/proc/self/ns/" + n);
const core = fs.readFileSync("/proc/self/limits", "utf8").match(/^Max core file size\\s+(\\S+)\\s+(\\S+)/m).slice(1);
const netdev = fs.readFileSync("/proc/net/dev", "utf8").split("\\n").slice(2).map((l) => l.split(":")[0].trim()).filter(Boolean);
process.stdout.write(JSON.stringify({ pid: process.pid, uid: process.getuid(), gid: process.getgid(), tasks, fds, closedWhileListing, ns, core, netdev }));
`;

interface TileReport {
  pid: number;
  uid: number;
  gid: number;
  tasks: Record<string, string>[];
  fds: Record<string, string>;
  closedWhileListing: number;
  ns: Record<string, string>;
  core: [string, string];
  netdev: string[];
}

type TileOptions = Omit<ExecHelperOptions, "program" | "programArgs" | "keepFds" | "unshare"> &
  Partial<Pick<ExecHelperOptions, "keepFds" | "unshare">>;

function runTile(
  opts: TileOptions,
  extraStdio: number[] = [],
): { report?: TileReport; status: number | null; stderr: string } {
  const args = execHelperArgs({
    keepFds: [0, 1, 2],
    unshare: [],
    ...opts,
    program: process.execPath,
    programArgs: ["-e", REPORT_JS],
  });
  const r = spawnSync(EXEC_HELPER, args, {
    stdio: ["ignore", "pipe", "pipe", ...extraStdio],
    encoding: "utf8",
    cwd: "/",
    env: {},
    timeout: 20_000,
  });
  return {
    report: r.status === 0 ? (JSON.parse(r.stdout) as TileReport) : undefined,
    status: r.status,
    stderr: r.stderr,
  };
}

function ownNamespaces(): Record<string, string> {
  const ns: Record<string, string> = {};
  for (const n of ["mnt", "ipc", "uts", "net"]) ns[n] = readlinkSync(`/proc/self/ns/${n}`);
  return ns;
}

describe("execHelperArgs", () => {
  it("builds the helper's command line and refuses bad options", () => {
    expect(
      execHelperArgs({
        uid: 1000,
        gid: 1001,
        keepFds: [4, 0, 1, 2],
        netnsPath: "/run/netns/tn-x",
        unshare: ["mount", "ipc"],
        rlimitCore: 0,
        parentPid: 77,
        program: "/usr/bin/node",
        programArgs: ["tile.js", "--x"],
      }),
    ).toEqual([
      "--uid",
      "1000",
      "--gid",
      "1001",
      "--keep-fds",
      "0,1,2,4",
      "--netns",
      "/run/netns/tn-x",
      "--unshare",
      "mount,ipc",
      "--rlimit-core",
      "0",
      "--parent-pid",
      "77",
      "--",
      "/usr/bin/node",
      "tile.js",
      "--x",
    ]);
    const base = {
      uid: 1,
      gid: 1,
      keepFds: [0],
      unshare: [] as ExecHelperOptions["unshare"],
      program: "/bin/true",
      programArgs: [],
    };
    expect(() => execHelperArgs({ ...base, uid: 0 })).toThrow(/uid 0 \(root\) needs allowRoot/);
    expect(execHelperArgs({ ...base, uid: 0, allowRoot: true })).toContain("--allow-root");
    expect(() => execHelperArgs({ ...base, keepFds: [1, 1] })).toThrow(/listed twice/);
    expect(() => execHelperArgs({ ...base, program: "node" })).toThrow(/not an absolute path/);
    expect(() => execHelperArgs({ ...base, netnsPath: "/run/netns/a", unshare: ["net"] })).toThrow(
      /exclude each other/,
    );
    expect(execHelperArgs({ ...base, unshare: ["pid"], pidReportFd: 5 })).toEqual(
      expect.arrayContaining(["--unshare", "pid", "--pid-report-fd", "5"]),
    );
    expect(() => execHelperArgs({ ...base, pidReportFd: 5 })).toThrow(/needs unshare 'pid'/);
    expect(() => execHelperArgs({ ...base, unshare: ["pid"], pidReportFd: 0 })).toThrow(/also a kept fd/);
  });
});

describeAsRoot("tilenet-exec (needs root: it switches uid and drops capabilities)", () => {
  let dir: string;
  beforeAll(() => {
    requireBuilt();
    dir = mkdtempSync(join(tmpdir(), "tn-exec-helper-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("starts Node with no capability on any thread, uid/gid 65534, no_new_privs and only the kept fds", () => {
    writeFileSync(join(dir, "kept"), "kept");
    writeFileSync(join(dir, "dropped"), "dropped");
    const kept = openSync(join(dir, "kept"), "r");
    const devNull = openSync("/dev/null", "r");
    const dropped = openSync(join(dir, "dropped"), "r");
    try {
      const { report, status, stderr } = runTile(
        { uid: NOBODY, gid: NOBODY, keepFds: [0, 1, 2, 3, 4], rlimitCore: 0 },
        [kept, devNull, dropped],
      );
      expect(stderr).toBe("");
      expect(status).toBe(0);
      if (!report) throw new Error("no report");
      expect(report.uid).toBe(NOBODY);
      expect(report.gid).toBe(NOBODY);
      expect(report.tasks.length).toBeGreaterThanOrEqual(5); // main + V8 platform threads
      for (const t of report.tasks) {
        expect(t, `thread ${t.tid}`).toMatchObject({
          CapInh: ZERO_CAPS,
          CapPrm: ZERO_CAPS,
          CapEff: ZERO_CAPS,
          CapBnd: ZERO_CAPS,
          CapAmb: ZERO_CAPS,
          NoNewPrivs: "1",
          Uid: "65534\t65534\t65534\t65534",
          Gid: "65534\t65534\t65534\t65534",
          Groups: "",
        });
      }
      expect(report.fds["0"]).toBe("/dev/null");
      expect(report.fds["1"]).toMatch(/^(pipe|socket):/); // libuv makes stdio "pipes" as socketpairs
      expect(report.fds["2"]).toMatch(/^(pipe|socket):/);
      expect(report.fds["3"]).toBe(join(dir, "kept"));
      expect(report.fds["4"]).toBe("/dev/null");
      expect(report.fds["5"] ?? "").not.toBe(join(dir, "dropped"));
      // Above the kept fds there is only what Node opens itself (and the directory being listed).
      expect(report.closedWhileListing).toBeLessThanOrEqual(1);
      const nodeOwn = Object.entries(report.fds)
        .filter(([fd]) => Number(fd) > 4)
        .map(([, target]) => target);
      for (const target of nodeOwn) expect(target).toMatch(/^anon_inode:\[(eventpoll|eventfd)\]$|^pipe:\[\d+\]$/);
      console.log(`fds Node opens itself: ${[...new Set(nodeOwn.map((t) => t.replace(/\d+/, "N")))].join(", ")}`);
      expect(report.core).toEqual(["0", "0"]);
      expect(report.ns).toEqual(ownNamespaces()); // no namespace asked for: the parent's
    } finally {
      for (const fd of [kept, devNull, dropped]) closeSync(fd);
    }
  });

  it("refuses io_uring from Node's first instruction (ENOSYS), so libuv runs on plain epoll", () => {
    // Node >= 22's libuv makes an io_uring at loop start-up even with UV_USE_IO_URING=0, and
    // aborts when that ring later fails under a tile filter (SIGSYS on io_uring_enter before).
    const rings =
      "process.stdout.write(String(require('node:fs').readdirSync('/proc/self/fd').filter((fd) => { try { return require('node:fs').readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:[io_uring]'; } catch { return false; } }).length))";
    const direct = spawnSync(process.execPath, ["-e", rings], { encoding: "utf8", env: { UV_USE_IO_URING: "0" } });
    const major = Number(process.versions.node.split(".")[0]);
    if (major >= 22) expect(Number(direct.stdout), "control: this Node makes a ring").toBeGreaterThan(0);
    const args = execHelperArgs({
      uid: NOBODY,
      gid: NOBODY,
      keepFds: [0, 1, 2],
      unshare: [],
      program: process.execPath,
      programArgs: ["-e", rings],
    });
    const r = spawnSync(EXEC_HELPER, args, {
      encoding: "utf8",
      cwd: "/",
      env: { UV_USE_IO_URING: "0" },
      timeout: 20_000,
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("0");
  });

  it("gives new mount, ipc, uts and net namespaces when asked (the net one holds only lo)", () => {
    const { report, status, stderr } = runTile({ uid: NOBODY, gid: NOBODY, unshare: ["mount", "ipc", "uts", "net"] });
    expect(stderr).toBe("");
    expect(status).toBe(0);
    const own = ownNamespaces();
    for (const n of ["mnt", "ipc", "uts", "net"]) expect(report?.ns[n], n).not.toBe(own[n]);
    expect(report?.netdev).toEqual(["lo"]);
  });

  it("joins a named network namespace with --netns", () => {
    const name = `tn-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    execFileSync("ip", ["netns", "add", name]);
    try {
      const { report, status, stderr } = runTile({ uid: NOBODY, gid: NOBODY, netnsPath: `/run/netns/${name}` });
      expect(stderr).toBe("");
      expect(status).toBe(0);
      expect(report?.ns.net).toBe(`net:[${statSync(`/run/netns/${name}`).ino}]`);
      expect(report?.ns.net).not.toBe(ownNamespaces().net);
    } finally {
      execFileSync("ip", ["netns", "delete", name]);
    }
  });

  it("refuses uid or gid 0 unless --allow-root, and even then leaves no capability", () => {
    for (const [uid, gid, what] of [
      [0, NOBODY, "--uid"],
      [NOBODY, 0, "--gid"],
    ] as const) {
      const r = spawnSync(
        EXEC_HELPER,
        ["--uid", String(uid), "--gid", String(gid), "--keep-fds", "0,1,2", "--", "/bin/true"],
        {
          encoding: "utf8",
        },
      );
      expect(r.status).toBe(EXEC_HELPER_FAILED);
      expect(r.stderr).toContain(`tilenet-exec: ${what}: refusing to run a tile as root (0)`);
    }
    const { report, status } = runTile({ uid: 0, gid: 0, allowRoot: true });
    expect(status).toBe(0);
    expect(report?.uid).toBe(0);
    for (const t of report?.tasks ?? []) {
      expect(t).toMatchObject({
        CapPrm: ZERO_CAPS,
        CapEff: ZERO_CAPS,
        CapBnd: ZERO_CAPS,
        CapInh: ZERO_CAPS,
        NoNewPrivs: "1",
      });
    }
  });

  it("exits 126 with 'tilenet-exec: <what>: <detail>' on bad arguments", () => {
    const ok = ["--uid", "65534", "--gid", "65534", "--keep-fds", "0,1,2"];
    const cases: [string[], RegExp][] = [
      [[], /--uid: required/],
      [
        ["--uid", "abc", "--gid", "1", "--keep-fds", "0", "--", "/bin/true"],
        /--uid: 'abc' is not a non-negative decimal integer/,
      ],
      [
        ["--uid", "4294967295", "--gid", "1", "--keep-fds", "0", "--", "/bin/true"],
        /--uid: '4294967295' is out of range/,
      ],
      [[...ok, "/bin/true"], /unknown option '\/bin\/true'/],
      [ok, /missing '--' before the program/],
      [[...ok, "--"], /no program after '--'/],
      [[...ok, "--", "node"], /program: 'node' is not an absolute path/],
      [[...ok, "--unshare", "user", "--", "/bin/true"], /--unshare: unknown namespace 'user'/],
      [[...ok, "--pid-report-fd", "5", "--", "/bin/true"], /--pid-report-fd: needs --unshare pid/],
      [[...ok, "--unshare", "pid", "--pid-report-fd", "2", "--", "/bin/true"], /--pid-report-fd: fd 2 is also kept/],
      [[...ok, "--bogus", "--", "/bin/true"], /unknown option '--bogus'/],
      [["--uid", "1", "--gid", "1", "--keep-fds", "0,1,1", "--", "/bin/true"], /--keep-fds: fd 1 is listed twice/],
      [[...ok, "--netns", "/run/netns/x", "--unshare", "net", "--", "/bin/true"], /--netns: cannot be combined/],
      [[...ok, "--uid", "1", "--", "/bin/true"], /--uid: given twice/],
      [["--uid", "1", "--gid", "1", "--keep-fds", "0,1,2,9", "--", "/bin/true"], /--keep-fds: fd 9 is not open/],
      [[...ok, "--netns", "/nonexistent/ns", "--", "/bin/true"], /open\(--netns\): \/nonexistent\/ns: No such file/],
      [[...ok, "--", "/nonexistent/program"], /execv: \/nonexistent\/program: No such file/],
    ];
    for (const [args, message] of cases) {
      const r = spawnSync(EXEC_HELPER, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      expect(r.status, args.join(" ")).toBe(EXEC_HELPER_FAILED);
      expect(r.stderr, args.join(" ")).toMatch(/^tilenet-exec: /);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
  });

  it("exits 125 instead of starting the tile when --parent-pid is not its parent", () => {
    const r = spawnSync(
      EXEC_HELPER,
      execHelperArgs({
        uid: NOBODY,
        gid: NOBODY,
        keepFds: [0, 1, 2],
        unshare: [],
        parentPid: 1,
        program: "/bin/echo",
        programArgs: ["started"],
      }),
      {
        encoding: "utf8",
      },
    );
    expect(r.status).toBe(EXEC_HELPER_PARENT_GONE);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/tilenet-exec: parent: launcher pid 1 is gone/);
    const control = spawnSync(
      EXEC_HELPER,
      execHelperArgs({
        uid: NOBODY,
        gid: NOBODY,
        keepFds: [0, 1, 2],
        unshare: [],
        parentPid: process.pid,
        program: "/bin/echo",
        programArgs: ["started"],
      }),
      { encoding: "utf8" },
    );
    expect(control.status).toBe(0);
    expect(control.stdout).toBe("started\n");
  });

  it("kills the tile when its parent dies (PDEATHSIG)", async () => {
    // launcher (an intermediate node) -> tilenet-exec -> tile; then the launcher is SIGKILLed.
    const helperArgs = execHelperArgs({
      uid: NOBODY,
      gid: NOBODY,
      keepFds: [0, 1, 2],
      unshare: [],
      parentPid: 999_999_999,
      program: process.execPath,
      programArgs: ["-e", 'process.stdout.write("tile " + process.pid + "\\n"); setInterval(() => {}, 1000);'],
    });
    const launcherJs = `
      const args = ${JSON.stringify(helperArgs)}.map((a) => (a === "999999999" ? String(process.pid) : a));
      require("node:child_process").spawn(${JSON.stringify(EXEC_HELPER)}, args, { stdio: ["ignore", "inherit", "inherit"], env: {}, cwd: "/" });
      setInterval(() => {}, 1000);`;
    const launcher = spawn(process.execPath, ["-e", launcherJs], { stdio: ["ignore", "pipe", "pipe"] });
    let tilePid = 0;
    try {
      tilePid = await new Promise<number>((resolve, reject) => {
        let out = "";
        launcher.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = out.match(/tile (\d+)/);
          if (m) resolve(Number(m[1]));
        });
        launcher.on("exit", () => reject(new Error("launcher ended early")));
        setTimeout(() => reject(new Error(`no tile within 10 s: ${out}`)), 10_000);
      });
      expect(readFileSync(`/proc/${tilePid}/status`, "utf8")).toMatch(/^Uid:\s+65534/m);
      launcher.kill("SIGKILL");
      const deadline = Date.now() + 5000;
      const alive = () => {
        try {
          return !/^State:\s+Z/m.test(readFileSync(`/proc/${tilePid}/status`, "utf8"));
        } catch {
          return false; // gone
        }
      };
      while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(alive()).toBe(false);
    } finally {
      launcher.kill("SIGKILL");
      if (tilePid) {
        try {
          process.kill(tilePid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
  });
});
