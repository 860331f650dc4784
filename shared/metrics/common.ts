// Metrics every tile has (the tile runtime adds them to the tile's own declarations), and the two
// helpers that keep them up to date: RegimeClock (where the tile's time goes, as Firedancer's
// monitor shows it: % housekeeping / busy / idle / backpressured) and sampleCommonMetrics.
import { getHeapStatistics } from "node:v8";
import { monotonicNs } from "./clock";
import type { MetricDecl } from "./schema";
import type { MetricsWriter } from "./writer";

export const CommonMetric = {
  contextSwitchesVoluntary: "context_switches_voluntary",
  contextSwitchesInvoluntary: "context_switches_involuntary",
  backpressureCount: "backpressure_count",
  housekeepingCount: "housekeeping_count",
  housekeepingNs: "housekeeping_ns",
  busyNs: "busy_ns",
  idleNs: "idle_ns",
  backpressureNs: "backpressure_ns",
  heapUsedBytes: "heap_used_bytes",
  maxRssBytes: "max_rss_bytes",
  cpuNs: "cpu_ns",
  cpuUsedPct: "cpu_used_pct",
  idleSpin: "idle_spin",
} as const;

export const commonMetricDecls: readonly MetricDecl[] = [
  {
    name: CommonMetric.contextSwitchesVoluntary,
    kind: "counter",
    help: "Voluntary context switches of the tile process (getrusage, all threads)",
  },
  {
    name: CommonMetric.contextSwitchesInvoluntary,
    kind: "counter",
    help: "Involuntary context switches of the tile process (getrusage, all threads)",
  },
  {
    name: CommonMetric.backpressureCount,
    kind: "counter",
    help: "Times the tile started waiting for a downstream consumer (backpressure episodes)",
  },
  { name: CommonMetric.housekeepingCount, kind: "counter", help: "Housekeeping passes run by the tile" },
  { name: CommonMetric.housekeepingNs, kind: "counter", help: "Nanoseconds spent in housekeeping" },
  { name: CommonMetric.busyNs, kind: "counter", help: "Nanoseconds spent processing work" },
  { name: CommonMetric.idleNs, kind: "counter", help: "Nanoseconds spent waiting for work (caught up)" },
  {
    name: CommonMetric.backpressureNs,
    kind: "counter",
    help: "Nanoseconds spent waiting for a downstream consumer",
  },
  { name: CommonMetric.heapUsedBytes, kind: "gauge", help: "V8 heap in use, bytes" },
  {
    name: CommonMetric.maxRssBytes,
    kind: "gauge",
    help: "Peak resident set size, bytes (getrusage ru_maxrss; current RSS needs /proc, closed to tiles)",
  },
  {
    name: CommonMetric.cpuNs,
    kind: "counter",
    help: "CPU time of the tile process, user + system, all threads (getrusage), nanoseconds",
  },
  {
    name: CommonMetric.cpuUsedPct,
    kind: "gauge",
    help: "CPU the tile process used over the last sampling interval (about 250 ms), % of one core",
  },
  {
    name: CommonMetric.idleSpin,
    kind: "gauge",
    help: "1 when the tile never sleeps (idle = spin), 0 when it sleeps once idle (adaptive)",
  },
];

/** The common metrics followed by the tile's own; a tile metric may not reuse a common name. */
export function withCommonMetrics(tileDecls: readonly MetricDecl[]): MetricDecl[] {
  const common = new Set(commonMetricDecls.map((d) => d.name));
  for (const d of tileDecls) {
    if (common.has(d.name)) throw new Error(`metric ${d.name} is a common metric: the runtime declares it`);
  }
  return [...commonMetricDecls, ...tileDecls];
}

/** Where a tile's time goes. */
export const Regime = { housekeeping: 0, busy: 1, idle: 2, backpressure: 3 } as const;
export type RegimeCode = (typeof Regime)[keyof typeof Regime];

/** Accounts wall time to regimes: enter(r, now) charges the time since the previous enter() to
 *  the previous regime. Entering housekeeping or backpressure from another regime counts an
 *  episode. Allocation-free. Read the clock once per loop iteration (monotonicNs()) and pass it to
 *  every enter() and heartbeat() of that iteration: several clock reads in one hot function can
 *  exceed V8's inlining budget, and then each process.hrtime() allocates its result array. */
export class RegimeClock {
  private readonly nsIndex: Int32Array;
  private readonly housekeepingCountIdx: number;
  private readonly backpressureCountIdx: number;
  private current: RegimeCode;
  /** Time of the last enter(), in a typed array: a double object field would be re-boxed on
   *  every store in some V8 tiers, allocating on the hot path. */
  private readonly since = new Float64Array(1);

  constructor(
    private readonly writer: MetricsWriter,
    initial: RegimeCode = Regime.idle,
    nowNs: number = monotonicNs(),
  ) {
    this.nsIndex = Int32Array.of(
      writer.index(CommonMetric.housekeepingNs),
      writer.index(CommonMetric.busyNs),
      writer.index(CommonMetric.idleNs),
      writer.index(CommonMetric.backpressureNs),
    );
    this.housekeepingCountIdx = writer.index(CommonMetric.housekeepingCount);
    this.backpressureCountIdx = writer.index(CommonMetric.backpressureCount);
    this.current = initial;
    this.since[0] = nowNs;
  }

  get regime(): RegimeCode {
    return this.current;
  }

  enter(regime: RegimeCode, nowNs: number): void {
    const elapsed = nowNs - this.since[0];
    if (elapsed > 0) this.writer.add(this.nsIndex[this.current], elapsed);
    this.since[0] = nowNs;
    if (regime !== this.current) {
      if (regime === Regime.housekeeping) this.writer.add(this.housekeepingCountIdx, 1);
      else if (regime === Regime.backpressure) this.writer.add(this.backpressureCountIdx, 1);
      this.current = regime;
    }
  }
}

/** Refreshes context switches, heap and peak RSS. Call from housekeeping (not the hot path: it
 *  allocates two small objects). Syscalls: getrusage only (v8 heap statistics need none). The
 *  sandbox's seccomp policy must allow getrusage. */
export class CommonMetricsSampler {
  private readonly voluntaryIdx: number;
  private readonly involuntaryIdx: number;
  private readonly heapIdx: number;
  private readonly maxRssIdx: number;
  private readonly cpuIdx: number;
  private readonly cpuPctIdx: number;
  private lastCpuUs = -1;
  private lastAtNs = 0;

  constructor(private readonly writer: MetricsWriter) {
    this.voluntaryIdx = writer.index(CommonMetric.contextSwitchesVoluntary);
    this.involuntaryIdx = writer.index(CommonMetric.contextSwitchesInvoluntary);
    this.heapIdx = writer.index(CommonMetric.heapUsedBytes);
    this.maxRssIdx = writer.index(CommonMetric.maxRssBytes);
    this.cpuIdx = writer.index(CommonMetric.cpuNs);
    this.cpuPctIdx = writer.index(CommonMetric.cpuUsedPct);
  }

  sample(): void {
    const usage = process.resourceUsage();
    // What idling costs shows here: a spinning tile uses a whole core even with no traffic.
    const cpuUs = usage.userCPUTime + usage.systemCPUTime;
    const nowNs = monotonicNs();
    this.writer.set(this.cpuIdx, cpuUs * 1000);
    if (this.lastCpuUs >= 0 && nowNs > this.lastAtNs)
      this.writer.set(this.cpuPctIdx, (100 * (cpuUs - this.lastCpuUs) * 1000) / (nowNs - this.lastAtNs));
    this.lastCpuUs = cpuUs;
    this.lastAtNs = nowNs;
    this.writer.set(this.voluntaryIdx, usage.voluntaryContextSwitches);
    this.writer.set(this.involuntaryIdx, usage.involuntaryContextSwitches);
    this.writer.set(this.maxRssIdx, usage.maxRSS * 1024);
    this.writer.set(this.heapIdx, getHeapStatistics().used_heap_size);
  }
}
