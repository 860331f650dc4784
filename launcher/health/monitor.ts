// `tilenet monitor`: a live view of every tile, refreshed every interval, in the spirit of
// Firedancer's monitor: heartbeat advancing ("-"), not advancing (NONE) or gone backwards (RESET),
// a stale flag, context switches and backpressure episodes with their change, where the time went
// (% housekeeping / busy / idle / backpressure, from the ns counters' deltas), then each tile's
// own metrics with rates. Redraws in place on a TTY; one block per refresh otherwise.
import { setTimeout as sleep } from "node:timers/promises";
import { monotonicNs } from "../../shared/metrics/clock";
import { CommonMetric, commonMetricDecls } from "../../shared/metrics/common";
import type { MetricsReader } from "../../shared/metrics/reader";
import type { Manifest } from "../manifest";
import { isPidAlive, loadManifest, openMetricsReader } from "./instances";
import { formatCount, renderColumns } from "./status";

export interface MonitorOptions {
  instance?: string;
  runRoot?: string;
  /** Refresh period (default 1000 ms). */
  intervalMs?: number;
  /** Stop after this many refreshes (default: until the instance stops or signal aborts). */
  iterations?: number;
  out: NodeJS.WritableStream;
  /** Redraw in place with ANSI escapes (true on a terminal). */
  tty: boolean;
  /** One JSON object per refresh, one per line (NDJSON), instead of the table. */
  json?: boolean;
  /** Heartbeat older than this is flagged stale (default 100 ms, as Firedancer). */
  staleMs?: number;
  signal?: AbortSignal;
}

/** One reading of one tile. */
export interface TileSample {
  name: string;
  kind: string;
  pid: number;
  state: string;
  atNs: number;
  heartbeatNs: number;
  heartbeatSeq: number;
  /** Metric names and values, schema order. */
  names: readonly string[];
  kinds: readonly string[];
  values: Float64Array;
  /** Why the region could not be read (then the other fields are empty). */
  error?: string;
}

export function sampleTile(reader: MetricsReader, nowNs: number = monotonicNs()): TileSample {
  const values = new Float64Array(reader.metrics.length);
  reader.copyValues(values);
  return {
    name: reader.tileName,
    kind: reader.tileKind,
    pid: reader.pid,
    state: reader.state,
    atNs: nowNs,
    heartbeatNs: reader.heartbeatNs,
    heartbeatSeq: reader.heartbeatSeq,
    names: reader.metrics.map((m) => m.name),
    kinds: reader.metrics.map((m) => m.kind),
    values,
  };
}

function failedSample(name: string, kind: string, pid: number, error: string, nowNs: number): TileSample {
  return {
    name,
    kind,
    pid,
    state: "unknown",
    atNs: nowNs,
    heartbeatNs: 0,
    heartbeatSeq: 0,
    names: [],
    kinds: [],
    values: new Float64Array(0),
    error,
  };
}

/** Firedancer's heartbeat column: "-" advancing, NONE not advancing, RESET went backwards
 *  (the tile restarted or its region was re-initialised). */
export function heartbeatCell(prev: TileSample, cur: TileSample): string {
  if (cur.pid !== prev.pid && prev.pid !== 0) return "RESET";
  if (cur.heartbeatSeq > prev.heartbeatSeq) return "-";
  if (cur.heartbeatSeq === prev.heartbeatSeq) return "NONE";
  return "RESET";
}

function metricValue(s: TileSample, name: string): number | undefined {
  const i = s.names.indexOf(name);
  return i < 0 ? undefined : s.values[i];
}

function deltaOf(prev: TileSample, cur: TileSample, name: string): number | undefined {
  const a = metricValue(prev, name);
  const b = metricValue(cur, name);
  return a === undefined || b === undefined ? undefined : b - a;
}

export function formatRate(perSecond: number): string {
  const abs = Math.abs(perSecond);
  if (abs >= 1e9) return `${(perSecond / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${(perSecond / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(abs >= 100 ? 0 : 1);
}

function signed(n: number): string {
  return n >= 0 ? `+${formatCount(n)}` : formatCount(n);
}

const REGIME_COLUMNS = [
  CommonMetric.housekeepingNs,
  CommonMetric.busyNs,
  CommonMetric.idleNs,
  CommonMetric.backpressureNs,
] as const;
const COMMON_NAMES = new Set(commonMetricDecls.map((d) => d.name));

/** Percent of the interval's accounted time spent in each regime (hkeep, busy, idle, backp). */
export function regimeShares(prev: TileSample, cur: TileSample): string[] {
  const deltas = REGIME_COLUMNS.map((n) => deltaOf(prev, cur, n));
  if (deltas.some((d) => d === undefined || d < 0)) return REGIME_COLUMNS.map(() => "-");
  const total = (deltas as number[]).reduce((a, b) => a + b, 0);
  if (total <= 0) return REGIME_COLUMNS.map(() => "-");
  return (deltas as number[]).map((d) => `${((100 * d) / total).toFixed(1)}%`);
}

/** One refresh: a title, the tile table, then each tile's own metrics with rates. */
export function renderMonitorFrame(
  instance: string,
  prev: readonly TileSample[],
  cur: readonly TileSample[],
  staleMs: number,
  nowNs: number = monotonicNs(),
): string[] {
  const lines = [`tilenet monitor: instance ${instance}, ${new Date().toISOString()}`];
  const rows: string[][] = [
    [
      "TILE",
      "KIND",
      "PID",
      "STATE",
      "HEART",
      "STALE",
      "VCSW/s",
      "IVCSW/s",
      "BACKP",
      "%HKEEP",
      "%BUSY",
      "%IDLE",
      "%BACKP",
    ],
  ];
  const details: string[] = [];
  for (let i = 0; i < cur.length; i++) {
    const c = cur[i];
    const p = prev[i];
    if (c.error || !p || p.error) {
      rows.push([c.name, c.kind, String(c.pid), c.state, "?", "?", "", "", "", "", "", "", ""]);
      if (c.error) details.push(`  ${c.name}: ${c.error}`);
      continue;
    }
    const dtS = (c.atNs - p.atNs) / 1e9;
    const rate = (name: string) => {
      const d = deltaOf(p, c, name);
      return d === undefined || dtS <= 0 ? "-" : formatRate(d / dtS);
    };
    const ageMs = c.heartbeatNs === 0 ? Number.POSITIVE_INFINITY : (nowNs - c.heartbeatNs) / 1e6;
    const stale = ageMs > staleMs ? (Number.isFinite(ageMs) ? `${(ageMs / 1000).toFixed(2)}s` : "never") : "-";
    const backp = metricValue(c, CommonMetric.backpressureCount);
    const backpDelta = deltaOf(p, c, CommonMetric.backpressureCount);
    rows.push([
      c.name,
      c.kind,
      String(c.pid),
      c.state,
      heartbeatCell(p, c),
      stale,
      rate(CommonMetric.contextSwitchesVoluntary),
      rate(CommonMetric.contextSwitchesInvoluntary),
      backp === undefined ? "-" : `${formatCount(backp)}(${signed(backpDelta ?? 0)})`,
      ...regimeShares(p, c),
    ]);
    const own: string[] = [];
    for (let m = 0; m < c.names.length; m++) {
      const name = c.names[m];
      if (COMMON_NAMES.has(name)) continue;
      if (c.kinds[m] === "counter") own.push(`${name} ${formatCount(c.values[m])} (${rate(name)}/s)`);
      else own.push(`${name} ${formatCount(c.values[m])}`);
    }
    if (own.length > 0) details.push(`  ${c.name}: ${own.join(", ")}`);
  }
  lines.push(...renderColumns(rows), ...details, ...MONITOR_LEGEND);
  return lines;
}

/** What the columns mean (printed under every frame). */
export const MONITOR_LEGEND: readonly string[] = [
  "legend: HEART - advancing, NONE not advancing, RESET restarted; STALE heartbeat older than the limit;",
  "  VCSW/s IVCSW/s (in)voluntary context switches per second; BACKP backpressure episodes (change);",
  "  %HKEEP %BUSY %IDLE %BACKP share of the interval in housekeeping, work, waiting, backpressure;",
  "  counters: value (rate per second), gauges: value",
];

/** Fits lines to a terminal of `columns`: a long line is broken after ", " or a space where it
 *  can be (counters), else cut hard; continuation lines are indented under their line. */
export function wrapLines(lines: readonly string[], columns: number): string[] {
  const width = Math.max(20, columns);
  const out: string[] = [];
  for (const line of lines) {
    const indent = " ".repeat(Math.min(8, /^\s*/.exec(line)?.[0].length ?? 0) + 4);
    let rest = line;
    let first = true;
    while ((first ? rest.length : indent.length + rest.length) > width) {
      const room = first ? width : width - indent.length;
      let cut = rest.lastIndexOf(", ", room - 1);
      cut = cut > room / 3 ? cut + 1 : rest.lastIndexOf(" ", room);
      if (cut <= room / 3) cut = room;
      out.push(first ? rest.slice(0, cut).trimEnd() : `${indent}${rest.slice(0, cut).trimEnd()}`);
      rest = rest.slice(cut).trimStart();
      first = false;
    }
    out.push(first ? rest : `${indent}${rest}`);
  }
  return out;
}

/** One refresh as a JSON object (the NDJSON stream of `monitor --json`). */
export function monitorFrameJson(
  instance: string,
  prev: readonly TileSample[],
  cur: readonly TileSample[],
  staleMs: number,
  nowNs: number = monotonicNs(),
): Record<string, unknown> {
  const tiles = cur.map((c, i) => {
    const p = prev[i];
    if (c.error || !p || p.error)
      return { name: c.name, kind: c.kind, pid: c.pid, state: c.state, error: c.error ?? "no previous sample" };
    const dtS = (c.atNs - p.atNs) / 1e9;
    const metrics: Record<string, number> = {};
    const ratesPerS: Record<string, number> = {};
    for (let m = 0; m < c.names.length; m++) {
      metrics[c.names[m]] = c.values[m];
      const d = deltaOf(p, c, c.names[m]);
      if (c.kinds[m] === "counter" && d !== undefined && dtS > 0) ratesPerS[c.names[m]] = d / dtS;
    }
    const ageMs = c.heartbeatNs === 0 ? null : (nowNs - c.heartbeatNs) / 1e6;
    const shares = regimeShares(p, c).map((x) => (x === "-" ? null : Number(x.slice(0, -1)) / 100));
    return {
      name: c.name,
      kind: c.kind,
      pid: c.pid,
      state: c.state,
      heartbeat: heartbeatCell(p, c) === "-" ? "advancing" : heartbeatCell(p, c) === "NONE" ? "none" : "reset",
      heartbeatAgeMs: ageMs,
      stale: ageMs === null || ageMs > staleMs,
      timeRatio: { housekeeping: shares[0], busy: shares[1], idle: shares[2], backpressure: shares[3] },
      metrics,
      ratesPerS,
    };
  });
  return { time: new Date().toISOString(), instance, intervalS: intervalOf(prev, cur), tiles };
}

function intervalOf(prev: readonly TileSample[], cur: readonly TileSample[]): number | null {
  const a = prev[0];
  const b = cur[0];
  return a && b ? Math.round((b.atNs - a.atNs) / 1e6) / 1000 : null;
}

function sampleAll(manifest: Manifest, readers: Map<string, MetricsReader>): TileSample[] {
  const now = monotonicNs();
  return manifest.tiles.map((t) => {
    let reader = readers.get(t.metricsRegion);
    if (!reader) {
      try {
        reader = openMetricsReader(manifest, t.metricsRegion);
        readers.set(t.metricsRegion, reader);
      } catch (err) {
        return failedSample(t.name, t.kind, t.pid, (err as Error).message, now);
      }
    }
    return sampleTile(reader, now);
  });
}

/** Runs until `iterations` refreshes were printed, the instance's launcher exits, or signal aborts. */
export async function runMonitor(opts: MonitorOptions): Promise<void> {
  const intervalMs = opts.intervalMs ?? 1000;
  const staleMs = opts.staleMs ?? 100;
  const manifest = loadManifest(opts.instance, opts.runRoot);
  const readers = new Map<string, MetricsReader>();
  const write = (text: string) => opts.out.write(text);
  let prev = sampleAll(manifest, readers);
  let drawnLines = 0;
  for (let n = 0; opts.iterations === undefined || n < opts.iterations; n++) {
    try {
      await sleep(intervalMs, undefined, { signal: opts.signal });
    } catch {
      return; // aborted
    }
    if (!isPidAlive(manifest.launcherPid)) {
      write(
        opts.json
          ? `${JSON.stringify({ time: new Date().toISOString(), instance: manifest.instance, stopped: true })}\n`
          : `instance ${manifest.instance} stopped (launcher pid ${manifest.launcherPid} exited)\n`,
      );
      return;
    }
    const cur = sampleAll(manifest, readers);
    if (opts.json) {
      write(`${JSON.stringify(monitorFrameJson(manifest.instance, prev, cur, staleMs))}\n`);
      prev = cur;
      continue;
    }
    const frame = renderMonitorFrame(manifest.instance, prev, cur, staleMs);
    if (opts.tty) {
      // Cursor up over the previous frame, clear to the end of the screen, draw. Lines are wrapped
      // to the terminal's width by us (not by the terminal), so the count of lines drawn is known.
      const columns = (opts.out as { columns?: unknown }).columns;
      const fit = wrapLines(frame, typeof columns === "number" && columns > 0 ? columns : 80);
      const up = drawnLines > 0 ? `\x1b[${drawnLines}A\r\x1b[J` : "";
      write(`${up}${fit.join("\n")}\n`);
      drawnLines = fit.length;
    } else {
      write(`${n > 0 ? "\n" : ""}${frame.join("\n")}\n`);
    }
    prev = cur;
  }
}
