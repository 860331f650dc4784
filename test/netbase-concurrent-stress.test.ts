// Concurrent cross-process stress: one writer process churns neighbors (slots reused constantly, the
// table often full), routes (unrelated adds/deletes, more specifics inside the stable prefixes,
// gateway replacements, a covering /8) and links, with diff-based resyncs, while reader processes
// (region mapped READ-ONLY from a sealed memfd) check every answer. The correct writer must give
// zero torn neighbor reads, zero missing or wrong stable destinations and no reader exception; the
// deliberately broken writers (no neighbor seqlock; routes cleared before being rewritten) must be
// caught, which shows the check can fail.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import {
  CTL_BYTES,
  CTL_STOP,
  CTL_WRITER,
  ctlReader,
  READER_FIELDS,
  type ReaderReport,
  STRESS_CAPACITIES,
  type StressConfig,
  type StressMode,
  WRITER_FIELDS,
  type WriterReport,
} from "./fixtures/netbase-stress-plan";

const root = join(__dirname, "..");
const writerJs = join(root, "dist/test/fixtures/netbase-stress-writer.js");
const readerJs = join(root, "dist/test/fixtures/netbase-stress-reader.js");
const READERS = 2;

interface Child {
  proc: ChildProcess;
  lines: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  nextLine(): Promise<string>;
}

function start([script, ...args]: string[], config: StressConfig, fds: number[]): Child {
  const proc = spawn(process.execPath, [script, JSON.stringify(config), ...args], {
    stdio: ["pipe", "pipe", "pipe", ...fds],
  });
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buffered = "";
  let stderr = "";
  proc.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  proc.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on("exit", (code, signal) => {
      if (code !== 0) process.stderr.write(`${script} exited ${code ?? signal}: ${stderr}\n`);
      for (const w of waiters.splice(0)) w("");
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    lines,
    exit,
    nextLine: () => {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

interface Progress {
  elapsedMs: number;
  writer: Record<(typeof WRITER_FIELDS)[number], number>;
  readers: Record<(typeof READER_FIELDS)[number], number>[];
}

/** Runs one writer and READERS readers until `done(progress)` holds (checked every 50 ms after
 *  minMs) or maxMs passed: bounded in time, yet long enough on a loaded machine. */
async function runStress(
  mode: StressMode,
  done: (p: Progress) => boolean,
  maxMs: number,
): Promise<{ writer: WriterReport; readers: ReaderReport[]; progress: Progress }> {
  const addon = native();
  const size = netbaseRegionSize(STRESS_CAPACITIES);
  const fd = addon.memfdCreate(`tn-netbase-stress-${process.pid}`, size);
  const ctlFd = addon.memfdCreate(`tn-netbase-stress-ctl-${process.pid}`, CTL_BYTES);
  let roFd = -1;
  const children: Child[] = [];
  try {
    initNetbase(addon.mapFd(fd, 0, true), STRESS_CAPACITIES);
    const ctl = new Float64Array(addon.mapFd(ctlFd, CTL_BYTES, true));
    const config: StressConfig = { mode, maxMs: maxMs + 2000, seed: 0x5eed + mode.length, writeDelay: 2000 };
    // The writer maps read-write first; then the memfd is sealed and readers get a read-only fd.
    const writer = start([writerJs], config, [fd, ctlFd]);
    children.push(writer);
    expect(await writer.nextLine()).toBe("ready");
    addon.sealReadOnly(fd);
    roFd = addon.openPath(`/proc/self/fd/${fd}`, false);
    const readers = Array.from({ length: READERS }, (_, i) => start([readerJs, String(i)], config, [roFd, ctlFd]));
    children.push(...readers);
    for (const r of readers) expect(await r.nextLine()).toBe("ready");
    for (const c of children) c.proc.stdin?.end("go\n");
    const t0 = performance.now();
    const progress = (): Progress => ({
      elapsedMs: performance.now() - t0,
      writer: Object.fromEntries(WRITER_FIELDS.map((f, i) => [f, ctl[CTL_WRITER + i]])) as Progress["writer"],
      readers: readers.map(
        (_, r) => Object.fromEntries(READER_FIELDS.map((f, i) => [f, ctl[ctlReader(r) + i]])) as Progress["readers"][0],
      ),
    });
    while (performance.now() - t0 < maxMs && !done(progress())) await new Promise((r) => setTimeout(r, 50));
    const last = progress();
    ctl[CTL_STOP] = 1;
    const exits = await Promise.all(children.map((c) => c.exit));
    expect(exits).toEqual(children.map(() => ({ code: 0, signal: null })));
    const result = {
      writer: JSON.parse(await writer.nextLine()) as WriterReport,
      readers: await Promise.all(readers.map(async (r) => JSON.parse(await r.nextLine()) as ReaderReport)),
      progress: last,
    };
    if (process.env.NETBASE_STRESS_VERBOSE) console.log(mode, JSON.stringify(result));
    return result;
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill("SIGKILL");
    if (roFd >= 0) addon.closeFd(roFd);
    addon.closeFd(fd);
    addon.closeFd(ctlFd);
  }
}

const sum = (reports: ReaderReport[], key: keyof ReaderReport): number =>
  reports.reduce((n, r) => n + (r[key] as number), 0);

describe("netbase under concurrent cross-process churn", () => {
  it("needs the bundled fixtures", () => {
    expect(existsSync(writerJs) && existsSync(readerJs), "run `npm run build` first").toBe(true);
  });

  it("gives readers no torn neighbor, no missing or wrong stable route, and no exception", async () => {
    // Enough work on a loaded machine: at least 2 s, thousands of writer operations, and many
    // lookups per reader (at most 20 s).
    const { writer, readers } = await runStress(
      "safe",
      (p) =>
        p.elapsedMs > 2000 &&
        p.writer.neighborOps > 2000 &&
        p.writer.stableSwaps > 200 &&
        p.readers.every((r) => r.neighborHits > 20000 && r.stableLookups > 20000),
      20000,
    );
    for (const r of readers) {
      expect(r, JSON.stringify(r)).toMatchObject({
        torn: 0,
        stableMissing: 0,
        stableWrong: 0,
        interfaceBad: 0,
        errors: 0,
      });
      expect(r.neighborHits).toBeGreaterThan(20000);
      expect(r.stableLookups).toBeGreaterThan(20000);
    }
    // The writer really churned: slots reused, table full at times, gateways swapped, resyncs clean.
    expect(writer.neighborOps).toBeGreaterThan(2000);
    expect(writer.stableSwaps).toBeGreaterThan(200);
    expect(writer.counters.neighbor_deletes).toBeGreaterThan(100);
    expect(writer.counters.drop_neighbors_full).toBeGreaterThan(0);
    expect(writer.resyncs).toBeGreaterThan(0);
    expect(writer.resyncDiffs).toBe(0);
  });

  it("catches a writer that publishes neighbor keys without the version protocol", async () => {
    const { readers } = await runStress("broken-neighbors", (p) => p.readers.some((r) => r.torn > 0), 15000);
    expect(sum(readers, "torn")).toBeGreaterThan(0);
    expect(sum(readers, "errors")).toBe(0);
  });

  it("catches a writer that rebuilds route entries instead of applying deltas", async () => {
    const { readers } = await runStress("broken-routes", (p) => p.readers.some((r) => r.stableMissing > 0), 15000);
    expect(sum(readers, "stableMissing")).toBeGreaterThan(0);
    expect(sum(readers, "errors")).toBe(0);
  });
});
