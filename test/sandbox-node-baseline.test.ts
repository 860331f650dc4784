// The Node baseline is enough for a tile's ordinary life: the workload fixture (ring work over
// mapped memory, futex, timers, GC, JIT, stdout/stderr, resourceUsage, hrtime, exceptions, both
// ways of exiting) runs to the end under a KILL_PROCESS default, five times; handled signals and
// stop/continue too. The /proc check proves the filter really is installed during the run.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { requireBuilt, sandboxableNode, WORKLOAD } from "./support/seccomp-helpers";

interface WorkloadSummary {
  report: { defaultAction: string; filterInstructions: number; syscallsAllowed: number };
  counts: { ticks: number; futexTimeouts: number; futexWakes: number; immediates: number; promises: number };
  signalsSeen: number;
  gcKinds: { minor: number; major: number };
}

interface WorkloadRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** /proc/<pid>/status of the main thread, read once the sandbox is on. */
  statusWhileSandboxed: string;
  summary?: WorkloadSummary;
}

/** Runs the workload; `whileRunning` gets its pid once it reports "ready" (sandbox entered). */
function runWorkload(args: string[], whileRunning?: (pid: number) => Promise<void>): Promise<WorkloadRun> {
  return new Promise((resolve, reject) => {
    const node = sandboxableNode([WORKLOAD, ...args]);
    const child = spawn(node.file, node.args, { stdio: ["ignore", "pipe", "pipe"], cwd: "/" });
    let stdout = "";
    let stderr = "";
    let statusWhileSandboxed = "";
    let ready = false;
    let during: Promise<void> = Promise.resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (!ready && stdout.includes("ready\n") && child.pid) {
        ready = true;
        statusWhileSandboxed = readFileSync(`/proc/${child.pid}/status`, "utf8");
        if (whileRunning) during = whileRunning(child.pid);
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split("\n").find((l) => l.startsWith("workload "));
      const summary = line ? (JSON.parse(line.slice("workload ".length)) as WorkloadSummary) : undefined;
      during.then(() => resolve({ code, signal, stdout, stderr, statusWhileSandboxed, summary }), reject);
    });
  });
}

function expectHealthyRun(run: WorkloadRun, what: string): WorkloadSummary {
  expect(run.signal, `${what}: ${run.stderr.slice(-500)}`).toBeNull();
  expect(run.code, what).toBe(0);
  expect(run.statusWhileSandboxed, what).toMatch(/^Seccomp:\s+2$/m);
  const summary = run.summary;
  if (!summary) throw new Error(`${what}: no summary line`);
  expect(summary.report.defaultAction).toBe("kill");
  expect(summary.counts.ticks, what).toBeGreaterThan(5);
  expect(summary.counts.futexTimeouts, what).toBeGreaterThan(0);
  expect(summary.counts.immediates, what).toBeGreaterThan(0);
  expect(summary.gcKinds.minor, what).toBeGreaterThan(0); // scavenges
  expect(summary.gcKinds.major, what).toBeGreaterThan(0); // mark-compacts
  expect(run.stdout, what).toMatch(/^tick \d+ x+$/m);
  expect(run.stdout, what).toMatch(/^console\.log \d+ ok$/m);
  expect(run.stderr, what).toMatch(/^stderr tick \d+$/m);
  return summary;
}

beforeAll(() => requireBuilt());

describe("Node baseline under SECCOMP_RET_KILL_PROCESS", () => {
  it("runs the tile workload to the end five times (process.exit and natural exit)", async () => {
    // Two at a time: the file stays well under 30 s on a loaded machine.
    for (const batch of [[0, 1], [2, 3], [4]]) {
      const runs = await Promise.all(
        batch.map((i) => runWorkload(["kill", i % 2 === 0 ? "exit" : "natural"]).then((run) => ({ i, run }))),
      );
      for (const { i, run } of runs) expectHealthyRun(run, `run ${i} (${i % 2 === 0 ? "exit" : "natural"})`);
    }
  });

  it("survives handled signals and stop/continue while it waits (rt_sigreturn, restart_syscall)", async () => {
    let sent = 0;
    const run = await runWorkload(["kill", "natural", "signals"], async (pid) => {
      try {
        for (let i = 0; i < 20; i++) {
          process.kill(pid, "SIGUSR2");
          process.kill(pid, "SIGSTOP");
          await new Promise((r) => setTimeout(r, 10));
          process.kill(pid, "SIGCONT");
          sent++;
          await new Promise((r) => setTimeout(r, 40));
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e; // it finished first: checked below
      }
    });
    const summary = expectHealthyRun(run, "signals");
    expect(sent).toBeGreaterThanOrEqual(10);
    expect(summary.signalsSeen).toBeGreaterThan(0);
  });
});
