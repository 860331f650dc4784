// `npm run bench -- ring`: Node-to-Node ring throughput (one at a time and in batches of 32) and
// round trips (busy-poll and futex), next to a C reference ring with the same layout and
// protocol, built and run in the same invocation. Runs are interleaved (Node, C, Node, C, ...)
// so machine noise hits both alike; figures are medians, ratios are Node/C of those medians.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { renderCHeader } from "../shared/layout/c-header";
import { native } from "../shared/native";
import type { RingSpec } from "../shared/ring/layout";
import { createRingFds, type RingFds, readOnlyFd } from "../shared/ring/regions";
import { expectedBenchChecksum } from "./children/ring-payload";
import { CONTROL_BYTES } from "./children/ring-timing";
import type { Bench } from "./types";

const SPEC: RingSpec = { kind: "reliable", depth: 4096, slotSize: 64 };
const BATCH = 32;
/** Messages per pass of the in-process CPU-cost measurement (five passes). */
const CPU_COST_COUNT = 2_000_000;
const TARGET_BATCHED = 25e6;
const TARGET_BATCHED_RATIO = 0.5;
const TARGET_RTT_RATIO = 1.5;

interface Options {
  runs: number;
  /** Length of each throughput run (the same for Node and C). */
  durationMs: number;
  rttIterations: number;
  futexIterations: number;
  /** Stop starting new runs once another would end past this many seconds (at least one run). */
  budgetS: number;
  noPin: boolean;
}

function parseOptions(args: string[]): Options {
  const opts: Options = {
    runs: 5,
    durationMs: 500,
    rttIterations: 20_000,
    futexIterations: 1_000,
    budgetS: 50,
    noPin: false,
  };
  for (let i = 0; i < args.length; i++) {
    const key = args[i];
    if (key === "--no-pin") {
      opts.noPin = true;
      continue;
    }
    const value = Number(args[i + 1]);
    if (key === "--runs") opts.runs = value;
    else if (key === "--duration-ms") opts.durationMs = value;
    else if (key === "--rtt-iterations") opts.rttIterations = value;
    else if (key === "--futex-iterations") opts.futexIterations = value;
    else if (key === "--budget-s") opts.budgetS = value;
    else
      throw new Error(
        `ring bench: unknown option ${key} (--runs, --duration-ms, --rtt-iterations, --futex-iterations, --budget-s, --no-pin)`,
      );
    if (!Number.isInteger(value) || value <= 0) throw new Error(`ring bench: ${key} needs a positive integer`);
    i++;
  }
  return opts;
}

/** The checkout root (where bench/c/ring_bench.c and dist/ are), found from the running bundle. */
function findRoot(): string {
  for (const start of [dirname(process.argv[1] ?? ""), __dirname]) {
    let dir = start;
    for (let i = 0; i < 5; i++) {
      if (existsSync(join(dir, "bench", "c", "ring_bench.c"))) return dir;
      dir = dirname(dir);
    }
  }
  throw new Error("ring bench: cannot find bench/c/ring_bench.c above the running script");
}

// Each side is pinned to its own CPU (taskset): otherwise the scheduler's wake-affine placement
// can put a woken side on the CPU of the side that woke it, and a spin-then-sleep pair then runs
// in turns on one CPU (measured here: ~1000 sleeps per 4M messages and 1M msg/s, in C as in Node).
const PIN_NOTE = "producer/ping on CPU 0, consumer/pong on CPU 1";

function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Compiles the C reference ring against the layout header rendered from the TS declarations. */
function buildC(root: string, dir: string): string {
  writeFileSync(join(dir, "tilenet_layout.h"), renderCHeader());
  const exe = join(dir, "ring_bench");
  execFileSync("cc", ["-O2", "-Wall", "-Wextra", "-I", dir, "-o", exe, join(root, "bench", "c", "ring_bench.c")], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return exe;
}

/** Runs a command with fds at 3, 4, ...; resolves with its last stdout line parsed as JSON. */
function runJson(cmd: string, argv: string[], fds: number[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe", ...fds] });
    let out = "";
    let err = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${argv.join(" ")} failed (code ${code}, signal ${signal}): ${err.trim()}`));
        return;
      }
      const lines = out.trim().split("\n");
      resolve(JSON.parse(lines[lines.length - 1] ?? "{}") as Record<string, number>);
    });
  });
}

interface RingPair {
  fds: RingFds;
  producerSide: number[];
  consumerSide: number[];
  close(): void;
}

function makeRing(name: string): RingPair {
  const fds = createRingFds(name, SPEC);
  const producerRo = readOnlyFd(fds.producerFd);
  const consumerRo = readOnlyFd(fds.consumerFd);
  return {
    fds,
    producerSide: [fds.producerFd, consumerRo],
    consumerSide: [producerRo, fds.consumerFd],
    close() {
      for (const fd of [fds.producerFd, fds.consumerFd, producerRo, consumerRo]) native().closeFd(fd);
    },
  };
}

type Impl = "node" | "c";

/** One run's figure: the median of its timing windows (robust to a descheduling) and the overall mean. */
interface Sample {
  median: number;
  overall: number;
}

class Runner {
  private readonly checksums = new Map<number, number>();
  constructor(
    private readonly root: string,
    private readonly cExe: string,
    private readonly pin: boolean,
  ) {}

  /** The command for one side, pinned to `cpu` when pinning is on (see PIN_NOTE). */
  private command(
    impl: Impl,
    child: "producer" | "consumer" | "pingpong" | "inproc",
    argv: string[],
    cpu: number,
  ): [string, string[]] {
    const [cmd, args]: [string, string[]] =
      impl === "c"
        ? [this.cExe, argv]
        : [process.execPath, [join(this.root, "dist", "bench", "children", `ring-${child}.js`), ...argv]];
    return this.pin ? ["taskset", ["-c", `${cpu}`, cmd, ...args]] : [cmd, args];
  }

  private expected(count: number): number {
    let sum = this.checksums.get(count);
    if (sum === undefined) {
      sum = expectedBenchChecksum(count);
      this.checksums.set(count, sum);
    }
    return sum;
  }

  /** Messages per second from producer to consumer over durationMs: median window, and overall. */
  async throughput(impl: Impl, batch: number, durationMs: number): Promise<Sample> {
    const ring = makeRing(`bench-${impl}`);
    const addon = native();
    const control = addon.memfdCreate(`tilenet-bench-control-${impl}`, CONTROL_BYTES);
    try {
      const warmupMs = Math.min(100, Math.floor(durationMs / 5));
      const [consumer] = await Promise.all([
        runJson(...this.command(impl, "consumer", ["consume", `${batch}`, `${warmupMs}`], 1), [
          ...ring.consumerSide,
          control,
        ]),
        runJson(...this.command(impl, "producer", ["produce", `${batch}`, `${durationMs}`], 0), [
          ...ring.producerSide,
          control,
        ]),
      ]);
      const expected = this.expected(consumer.total);
      if (consumer.checksum !== expected)
        throw new Error(`${impl} consumer checksum ${consumer.checksum} over ${consumer.total}, expected ${expected}`);
      const overall = (consumer.msgs / consumer.ns) * 1e9;
      return { median: consumer.medianRate > 0 ? consumer.medianRate : overall, overall };
    } finally {
      ring.close();
      addon.closeFd(control);
    }
  }

  /** CPU ns per message with producer and consumer in one thread (best of five passes). */
  async cpuCost(impl: Impl, batch: number, count: number): Promise<number> {
    const ring = makeRing(`bench-cpu-${impl}`);
    try {
      const [result] = await Promise.all([
        runJson(...this.command(impl, "inproc", ["inproc", `${batch}`, `${count}`], 0), [
          ring.fds.producerFd,
          ring.fds.consumerFd,
        ]),
      ]);
      const expected = this.expected(result.total);
      if (result.checksum !== expected)
        throw new Error(`${impl} in-process checksum ${result.checksum} over ${result.total}, expected ${expected}`);
      return result.cpuNsPerMsg;
    } finally {
      ring.close();
    }
  }

  /** Nanoseconds per round trip, median block and overall (spinUs 0: both sides always sleep on the futex). */
  async roundTrip(impl: Impl, iterations: number, spinUs: number): Promise<Sample> {
    const ab = makeRing(`bench-ab-${impl}`);
    const ba = makeRing(`bench-ba-${impl}`);
    try {
      const warmup = Math.max(100, Math.floor(iterations / 10));
      const argv = [`${iterations}`, `${warmup}`, `${spinUs}`];
      const [ping, pong] = await Promise.all([
        runJson(...this.command(impl, "pingpong", ["ping", ...argv], 0), [...ab.producerSide, ...ba.consumerSide]),
        runJson(...this.command(impl, "pingpong", ["pong", ...argv], 1), [...ab.consumerSide, ...ba.producerSide]),
      ]);
      const expected = this.expected(warmup + iterations);
      if (ping.checksum !== expected || pong.checksum !== expected)
        throw new Error(`${impl} ping-pong checksums ${ping.checksum}/${pong.checksum}, expected ${expected}`);
      const overall = ping.ns / ping.iterations;
      return { median: ping.medianNs > 0 ? ping.medianNs : overall, overall };
    } finally {
      ab.close();
      ba.close();
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function fmtRate(x: number): string {
  return `${(x / 1e6).toFixed(1)}M/s`;
}

function fmtNs(x: number): string {
  if (x >= 10_000) return `${(x / 1000).toFixed(1)} µs`;
  return `${x.toFixed(x < 100 ? 1 : 0)} ns`;
}

// Longer than 70 lines: one sequential script (each ring mode measured in turn, then the report).
export const ringBench: Bench = async (args) => {
  const opts = parseOptions(args);
  const root = findRoot();
  const tmp = mkdtempSync(join(tmpdir(), "tn-ring-bench-"));
  try {
    const pin = !opts.noPin && cpus().length >= 2 && hasTaskset();
    const runner = new Runner(root, buildC(root, tmp), pin);
    const samples: Record<string, number[]> = {};
    const add = (key: string, value: Sample): void => {
      samples[key] ??= [];
      samples[key].push(value.median);
      samples[`${key}_overall`] ??= [];
      samples[`${key}_overall`].push(value.overall);
    };
    const started = Date.now();
    let runs = 0;
    while (runs < opts.runs) {
      const runStart = Date.now();
      for (const impl of ["node", "c"] as const) {
        add(`${impl}_msgs_per_s_single`, await runner.throughput(impl, 1, opts.durationMs));
        add(`${impl}_msgs_per_s_batched`, await runner.throughput(impl, BATCH, opts.durationMs));
        add(`${impl}_rtt_ns`, await runner.roundTrip(impl, opts.rttIterations, 1_000_000));
        add(`${impl}_futex_rtt_ns`, await runner.roundTrip(impl, opts.futexIterations, 0));
        const cpu = await runner.cpuCost(impl, BATCH, CPU_COST_COUNT);
        add(`${impl}_cpu_ns_per_msg_batched`, { median: cpu, overall: cpu });
      }
      runs++;
      const now = Date.now();
      if (now + (now - runStart) > started + opts.budgetS * 1000) break;
    }
    const figures: Record<string, number> = {};
    for (const [key, values] of Object.entries(samples)) figures[key] = median(values);
    figures.ratio_single = figures.node_msgs_per_s_single / figures.c_msgs_per_s_single;
    figures.ratio_batched = figures.node_msgs_per_s_batched / figures.c_msgs_per_s_batched;
    figures.ratio_rtt = figures.node_rtt_ns / figures.c_rtt_ns;
    figures.ratio_futex_rtt = figures.node_futex_rtt_ns / figures.c_futex_rtt_ns;
    figures.ratio_cpu_batched = figures.c_cpu_ns_per_msg_batched / figures.node_cpu_ns_per_msg_batched;
    delete figures.node_cpu_ns_per_msg_batched_overall;
    delete figures.c_cpu_ns_per_msg_batched_overall;
    figures.runs = runs;
    figures.pinned = pin ? 1 : 0;
    figures.seconds = (Date.now() - started) / 1000;

    const span = (key: string, fmt: (x: number) => string) => {
      const v = samples[key] ?? [];
      return `${fmt(median(v))} [${fmt(Math.min(...v))} .. ${fmt(Math.max(...v))}]`;
    };
    const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
    const overall = (key: string, fmt: (x: number) => string) => `${fmt(figures[`${key}_overall`])}`;
    const row = (label: string, key: string, ratio: number, fmt: (x: number) => string) =>
      `  ${label.padEnd(26)} node ${span(`node_${key}`, fmt)}   c ${span(`c_${key}`, fmt)}   node/c ${ratio.toFixed(2)}` +
      `   (overall means: node ${overall(`node_${key}`, fmt)}, c ${overall(`c_${key}`, fmt)})`;
    const lines = [
      `ring: SPSC reliable ring, ${SPEC.depth} slots of ${SPEC.slotSize} B, two processes (${pin ? PIN_NOTE : "not pinned"}); ${runs} interleaved runs.`,
      `  Throughput runs last ${opts.durationMs} ms in both languages. Per run: median of 10 ms windows (throughput)`,
      "  or of 16-round-trip blocks (round trips); shown: median over runs [min .. max]; node/c: ratio of the medians.",
      row("throughput one at a time", "msgs_per_s_single", figures.ratio_single, fmtRate),
      row(`throughput batches of ${BATCH}`, "msgs_per_s_batched", figures.ratio_batched, fmtRate),
      row("round trip busy-poll", "rtt_ns", figures.ratio_rtt, fmtNs),
      row("round trip futex", "futex_rtt_ns", figures.ratio_futex_rtt, fmtNs),
      `  ${"CPU per message, batched".padEnd(26)} node ${span("node_cpu_ns_per_msg_batched", fmtNs)}   c ${span("c_cpu_ns_per_msg_batched", fmtNs)}` +
        `   c/node ${figures.ratio_cpu_batched.toFixed(2)}   (producer + consumer in one thread, best of 5 passes: the`,
      "  work per message, undistorted by the machine's load)",
      `  targets: batched >= ${fmtRate(TARGET_BATCHED)} ${verdict(figures.node_msgs_per_s_batched >= TARGET_BATCHED)}; ` +
        `batched >= ${TARGET_BATCHED_RATIO}x C ${verdict(figures.ratio_batched >= TARGET_BATCHED_RATIO)}; ` +
        `busy round trip <= ${TARGET_RTT_RATIO}x C ${verdict(figures.ratio_rtt <= TARGET_RTT_RATIO)}`,
      `  ${figures.seconds.toFixed(1)} s; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs; every run's ` +
        "checksums verified (node and c do the same 64-byte work per message)",
    ];
    return { figures, lines };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
};
