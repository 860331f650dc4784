// Sandbox facts from /proc: the per-thread parser on synthetic status files (including threads
// that disagree), and real processes: an unprivileged-but-unfiltered one and a root one.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  isFullySandboxed,
  parseTaskStatus,
  readProcessSandbox,
  sandboxProblems,
  summarizeSandbox,
  summaryIsSandboxed,
} from "../launcher/health/procfs";
import { FakeLauncher, sleepMs } from "./support/health-fake-launcher";
import { FULL_CAPS, NO_CAPS, statusText, writeFakeProc } from "./support/health-fake-proc";

describe("procfs parser on synthetic status files", () => {
  const root = mkdtempSync(join(tmpdir(), "tn-procfs-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("parses every sandbox field of a thread", () => {
    const t = parseTaskStatus(
      statusText(7, { tid: 9, name: "V8 Worker", uid: "1\t2\t3\t4", groups: "10 20", capBnd: FULL_CAPS }),
      "x",
    );
    expect(t).toEqual({
      tid: 9,
      name: "V8 Worker",
      state: "S",
      seccomp: 2,
      noNewPrivs: 1,
      uid: { real: 1, effective: 2, saved: 3, fs: 4 },
      gid: { real: 65534, effective: 65534, saved: 65534, fs: 65534 },
      groups: [10, 20],
      caps: { CapInh: NO_CAPS, CapPrm: NO_CAPS, CapEff: NO_CAPS, CapBnd: FULL_CAPS, CapAmb: NO_CAPS },
    });
  });

  it("names the file and the field when a status file is not what it expects", () => {
    const noSeccomp = statusText(7, { tid: 7 }).replace(/Seccomp:.*\n/, "");
    expect(() => parseTaskStatus(noSeccomp, "/proc/7/task/7/status")).toThrow(
      '/proc/7/task/7/status: no "Seccomp:" line',
    );
    const badCap = statusText(7, { tid: 7 }).replace(`CapEff:\t${NO_CAPS}`, "CapEff:\tzz");
    expect(() => parseTaskStatus(badCap, "f")).toThrow(/"CapEff:" is "zz", expected 16 hex digits/);
    const badUid = statusText(7, { tid: 7, uid: "0 0" });
    expect(() => parseTaskStatus(badUid, "f")).toThrow(/"Uid:" is "0 0", expected 4 ids/);
  });

  it("calls a process whose every thread is filtered, unprivileged and capability-free fully sandboxed", () => {
    writeFakeProc(root, 100, [{ tid: 100 }, { tid: 101, name: "V8 Worker" }, { tid: 102, name: "libuv-worker" }], {
      0: "/dev/null",
      3: "/memfd:tilenet-metrics-net (deleted)",
      7: "socket:[4242]",
    });
    const facts = readProcessSandbox(100, root);
    expect(facts.threads.map((t) => t.tid)).toEqual([100, 101, 102]);
    expect(facts.fds).toEqual([
      { fd: 0, target: "/dev/null" },
      { fd: 3, target: "/memfd:tilenet-metrics-net (deleted)" },
      { fd: 7, target: "socket:[4242]" },
    ]);
    expect(sandboxProblems(facts)).toEqual([]);
    expect(isFullySandboxed(facts)).toBe(true);
    const summary = summarizeSandbox(facts);
    expect(summary.threads).toBe(3);
    expect(summaryIsSandboxed(summary)).toBe(true);
  });

  it("names the threads that differ from the main thread, and reports the worst value in the summary", () => {
    // The main thread dropped everything; a worker kept the bounding set, another never got the filter.
    writeFakeProc(root, 200, [
      { tid: 200 },
      { tid: 201, name: "V8 Worker", capBnd: FULL_CAPS },
      { tid: 203, name: "libuv-worker", seccomp: 0, noNewPrivs: 0 },
    ]);
    const facts = readProcessSandbox(200, root);
    const problems = sandboxProblems(facts);
    expect(problems).toContain(
      `CapBnd differs between threads: main thread 200 ${NO_CAPS}, thread 201 (V8 Worker) ${FULL_CAPS} (need 0 on every thread)`,
    );
    expect(problems).toContain(
      "seccomp differs between threads: main thread 200 2, thread 203 (libuv-worker) 0 (need 2 (filter) on every thread)",
    );
    expect(problems).toContain(
      "NoNewPrivs differs between threads: main thread 200 1, thread 203 (libuv-worker) 0 (need 1 on every thread)",
    );
    expect(problems).toHaveLength(3);
    const summary = summarizeSandbox(facts);
    expect(summary.capBnd).toBe(FULL_CAPS);
    expect(summary.seccomp).toBe(0);
    expect(summary.noNewPrivs).toBe(0);
    expect(summaryIsSandboxed(summary)).toBe(false);
  });

  it("flags root ids on any thread and supplementary group 0", () => {
    writeFakeProc(root, 300, [
      { tid: 300, groups: "0 27" },
      { tid: 301, uid: "65534\t0\t65534\t65534", groups: "0 27" },
    ]);
    const facts = readProcessSandbox(300, root);
    const problems = sandboxProblems(facts);
    expect(problems).toContain(
      "uid differs between threads: main thread 300 65534/65534/65534/65534, thread 301 (node) 65534/0/65534/65534 (need not 0 on every thread)",
    );
    expect(problems).toContain("supplementary groups 0,27 on all 2 threads (need no group 0)");
    expect(problems).toHaveLength(2);
    expect(summarizeSandbox(facts).uid.effective).toBe(0);
  });

  it("says a vanished process is not running", () => {
    expect(() => readProcessSandbox(999_999, root)).toThrow(/process 999999 is not running/);
  });
});

describe("procfs facts of real processes", () => {
  const children: ChildProcess[] = [];
  const launcher = new FakeLauncher("procfs");
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL");
    launcher.close();
  });

  it("reports a root tile with full capabilities and no filter as not sandboxed, on every thread", async () => {
    const tile = await launcher.startTile("net", "net");
    const facts = readProcessSandbox(tile.pid);
    expect(facts.pid).toBe(tile.pid);
    expect(facts.threads[0].tid).toBe(tile.pid);
    expect(facts.threads.length).toBeGreaterThan(1); // Node's V8 and libuv threads
    expect(facts.fds.find((f) => f.fd === 3)?.target).toMatch(/^\/memfd:tilenet-metrics-net/);
    const problems = sandboxProblems(facts);
    const n = facts.threads.length;
    expect(problems).toContain(`seccomp 0 on all ${n} threads (need 2 (filter))`);
    expect(problems).toContain(`NoNewPrivs 0 on all ${n} threads (need 1)`);
    expect(problems).toContain(`uid 0/0/0/0 on all ${n} threads (need not 0)`);
    expect(problems.some((p) => p.startsWith("CapEff ") && p.includes("need 0"))).toBe(true);
    expect(problems.some((p) => p.startsWith("CapBnd "))).toBe(true);
    expect(isFullySandboxed(facts)).toBe(false);
  });

  it("recognises each privilege a process gave up and reports only what is left (the missing filter)", async () => {
    const child = spawn(
      "setpriv",
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
        "sleep",
        "30",
      ],
      { stdio: "ignore" },
    );
    children.push(child);
    // Wait until setpriv has exec'd sleep (its name changes once the ids are switched).
    let facts = readProcessSandbox(child.pid ?? 0);
    for (let i = 0; i < 100 && facts.threads[0].name !== "sleep"; i++) {
      await sleepMs(20);
      facts = readProcessSandbox(child.pid ?? 0);
    }
    expect(facts.threads[0].name).toBe("sleep");
    expect(sandboxProblems(facts)).toEqual(["seccomp 0 (need 2 (filter))"]);
    const summary = summarizeSandbox(facts);
    expect(summary).toMatchObject({
      seccomp: 0,
      noNewPrivs: 1,
      capEff: NO_CAPS,
      capBnd: NO_CAPS,
      uid: { real: 65534, effective: 65534, saved: 65534, fs: 65534 },
      threads: 1,
    });
  });
});
