// `tilenet status`: one report per instance, built from the manifest, each tile's metrics region
// (read-only) and /proc. JSON for machines (the shape below is a contract), a table for people,
// and an exit code for scripts.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { CommonMetric, commonMetricDecls } from "../../shared/metrics/common";
import type { MetricsReader } from "../../shared/metrics/reader";
import type { MetricDecl } from "../../shared/metrics/schema";
import type { HugePagesReport } from "../huge-pages";
import type { Manifest, NetProviderReport, QueueCoverage, XdpAttachment } from "../manifest";
import { isPidAlive, openMetricsReader } from "./instances";
import { collectLauncherStatus, type LauncherStatus } from "./launcher-status";
import {
  type ProcessSandboxFacts,
  readProcessSandbox,
  type SandboxSummary,
  sandboxProblems,
  summarizeSandbox,
} from "./procfs";

export { isPidAlive, listInstances, loadManifest } from "./instances";

/** A tile whose last heartbeat is older than this is stale. */
export const STALE_AFTER_MS = 1000;

/** Facts kept beside a tile's status for other renderers (Prometheus), not part of the JSON:
 *  attached as a non-enumerable property so JSON.stringify leaves the contract shape intact. */
export interface TileStatusDetail {
  /** The region's schema (HELP/TYPE), or [] when the region could not be read. */
  decls: readonly MetricDecl[];
  /** Process exists and is not a zombie. */
  alive: boolean;
  /** Fully sandboxed per procfs.sandboxProblems (false when unknown). */
  sandboxed: boolean;
}

export interface TileStatus {
  name: string;
  kind: string;
  /** The pid the launcher started (manifest). */
  pid: number;
  /** booting | running | halting | failed, as the tile last wrote it; "unknown" if the region is unreadable. */
  state: string;
  /** Milliseconds since the last heartbeat; null if there never was one or the region is unreadable. */
  heartbeatAgeMs: number | null;
  /** /proc facts (see procfs.SandboxSummary: threads = count, fds = [{fd, target}]); null when the
   *  process is gone. */
  sandbox: SandboxSummary | null;
  /** The tile's PID namespace: its id (readlink of /proc/PID/ns/pid), whether it is its own (not
   *  the launcher's nor another tile's), and the tile's pid inside it (NSpid's last field: 1 when
   *  it is the namespace's init). null when the process is gone or /proc does not say. */
  pidNamespace: PidNamespaceFacts | null;
  /** Every metric of the region by name. */
  metrics: Record<string, number>;
  /** How the tile idles ([tiles] idle) and what it costs: the CPU its process used over the last
   *  sampling interval (about 250 ms), % of one core; null when its region does not say. */
  idle: { mode: "adaptive" | "spin"; cpuPct: number } | null;
  /** Times the launcher restarted this (app) tile; why it last died; down = left down for good. */
  restarts: number;
  logLinesDropped: number;
  lastExit?: string;
  down?: boolean;
  /** Human-readable reasons this tile is not healthy; empty when it is. */
  problems: string[];
  /** Not serialised (non-enumerable). */
  readonly detail?: TileStatusDetail;
}

export interface PidNamespaceFacts {
  id: string;
  own: boolean;
  nsPid: number;
}

export interface LabStatus {
  tileNetns: string;
  peerNetns: string;
  tileAddr: string;
  peerAddr: string;
  ports: number[];
  /** IPv6: 2001:2::/64 addresses, and the link-local ones scoped as the other side reaches
   *  them (tileLinkLocal: fe80::x%<peerIf>, what a client in the peer namespace sends to). */
  tileAddr6?: string;
  peerAddr6?: string;
  tileLinkLocal?: string;
  peerLinkLocal?: string;
  tileIf?: string;
  peerIf?: string;
}

export interface StatusReport {
  instance: string;
  launcherPid: number;
  /** The launcher's own sandbox, judged like a tile's (health/launcher-status.ts). */
  launcher: LauncherStatus;
  tiles: TileStatus[];
  lab?: LabStatus;
  /** What the (first) net tile's AF_XDP socket is attached to (absent without a net tile). */
  xdp?: XdpAttachment;
  /** Every net tile's AF_XDP socket (xdp is the first of them). */
  xdpAttachments?: (XdpAttachment & { tile: string })[];
  /** Per interface: receive queues and the net tiles serving them (absent without net tiles). */
  queues?: QueueCoverage[];
  /** Worth an operator's look, not a failure: queues without a net tile, datagrams they cost. */
  warnings?: string[];
  /** The data plane the net tile runs on and why (absent without a net tile). */
  netProvider?: NetProviderReport;
  /** Regions on 2 MiB pages and those that fell back (absent when huge pages are off). */
  hugePages?: HugePagesReport;
}

export interface CollectOptions {
  /** Stale threshold (default STALE_AFTER_MS). */
  staleAfterMs?: number;
  /** Root of procfs (tests). */
  procRoot?: string;
  /** Reuse already-mapped readers by region name (the monitor maps once). */
  readers?: Map<string, MetricsReader>;
}

function attachDetail(tile: TileStatus, detail: TileStatusDetail): TileStatus {
  Object.defineProperty(tile, "detail", { value: detail, enumerable: false });
  return tile;
}

/** What a tile's metrics region says: its state, heartbeat age and counters; problems appended. */
function readTileMetrics(
  reader: MetricsReader | undefined,
  entry: Manifest["tiles"][number],
  staleAfterMs: number,
  problems: string[],
): { state: string; heartbeatAgeMs: number | null; metrics: Record<string, number> } {
  if (!reader) return { state: "unknown", heartbeatAgeMs: null, metrics: {} };
  const state = reader.state;
  const age = reader.heartbeatAgeMs();
  const heartbeatAgeMs = age === null ? null : Math.round(age * 1000) / 1000; // µs resolution is plenty
  const metrics = reader.snapshot();
  if (reader.tileName !== entry.name)
    problems.push(`metrics region belongs to tile ${reader.tileName}, not ${entry.name}`);
  if (reader.pid !== 0 && reader.pid !== entry.pid)
    problems.push(`metrics region was written by pid ${reader.pid}, the launcher started pid ${entry.pid}`);
  if (state !== "running") problems.push(`state is ${state}`);
  if (heartbeatAgeMs === null) problems.push("no heartbeat yet");
  else if (heartbeatAgeMs > staleAfterMs)
    problems.push(`heartbeat stale: last one ${Math.round(heartbeatAgeMs)} ms ago (limit ${staleAfterMs} ms)`);
  problems.push(...stateProblems(metrics));
  return { state, heartbeatAgeMs, metrics };
}

export function collectTileStatus(
  manifest: Manifest,
  entry: Manifest["tiles"][number],
  opts: CollectOptions = {},
): TileStatus {
  const staleAfterMs = opts.staleAfterMs ?? STALE_AFTER_MS;
  const problems: string[] = [];
  let reader: MetricsReader | undefined = opts.readers?.get(entry.metricsRegion);
  if (!reader) {
    try {
      reader = openMetricsReader(manifest, entry.metricsRegion);
      opts.readers?.set(entry.metricsRegion, reader);
    } catch (err) {
      problems.push(`metrics region unreadable: ${(err as Error).message}`);
    }
  }
  const { state, heartbeatAgeMs, metrics } = readTileMetrics(reader, entry, staleAfterMs, problems);
  let facts: ProcessSandboxFacts | undefined;
  let alive = false;
  if (!isPidAlive(entry.pid)) {
    problems.push(`process ${entry.pid} is not running`);
  } else {
    try {
      facts = readProcessSandbox(entry.pid, opts.procRoot);
      if (facts.threads[0].state === "Z") {
        problems.push(`process ${entry.pid} has exited (zombie, not yet reaped by the launcher)`);
      } else {
        alive = true;
      }
    } catch (err) {
      // Exited between the two checks, or /proc is not readable to us.
      problems.push(`sandbox facts unavailable: ${(err as Error).message}`);
    }
  }
  let sandbox: SandboxSummary | null = null;
  let sandboxed = false;
  let pidNamespace: PidNamespaceFacts | null = null;
  if (facts && alive) {
    sandbox = summarizeSandbox(facts);
    pidNamespace = readPidNamespace(manifest, entry, opts.procRoot);
    const why = [...sandboxProblems(facts, entry.allowedCaps), ...isolationProblems(manifest, entry, opts.procRoot)];
    sandboxed = why.length === 0;
    for (const p of why) problems.push(`not sandboxed: ${p}`);
  }
  const tile: TileStatus = {
    name: entry.name,
    kind: entry.kind,
    pid: entry.pid,
    state,
    heartbeatAgeMs,
    sandbox,
    pidNamespace,
    metrics,
    idle: idleOf(metrics),
    restarts: entry.restarts ?? 0,
    logLinesDropped: entry.logLinesDropped ?? 0,
    ...(entry.lastExit !== undefined ? { lastExit: entry.lastExit } : {}),
    ...(entry.down ? { down: true } : {}),
    problems,
  };
  if (entry.down) problems.unshift(`down: its restart limit was reached (last: ${entry.lastExit ?? "?"})`);
  return attachDetail(tile, { decls: reader ? reader.metrics : [], alive, sandboxed });
}

/** The idle mode and recent CPU from the common metrics (runtime-sampled getrusage). */
function idleOf(metrics: Record<string, number>): TileStatus["idle"] {
  const spin = metrics[CommonMetric.idleSpin];
  const pct = metrics[CommonMetric.cpuUsedPct];
  if (spin === undefined || pct === undefined) return null;
  return { mode: spin === 1 ? "spin" : "adaptive", cpuPct: Math.round(pct * 10) / 10 };
}

function idleCell(t: TileStatus): string {
  return t.idle ? `${t.idle.mode} ${t.idle.cpuPct.toFixed(1)}%` : "-";
}

/** What a tile's own gauges say is wrong with the state it keeps (netbase that lost entries). */
function stateProblems(metrics: Record<string, number>): string[] {
  const out: string[] = [];
  if ((metrics.netbase_full ?? 0) !== 0) {
    const drops = metrics.netbase_full_drops ?? 0;
    out.push(`netbase full: ${drops} kernel updates did not fit (raise [netbase] routes or neighbors)`);
  }
  // While the kernel's tables churn faster than a dump completes, netbase keeps the last
  // consistent state and retries: lookups may differ from the kernel until it settles.
  if ((metrics.resync_pending ?? 0) !== 0)
    out.push(`netbase resync pending (${metrics.resync_retries ?? 0} retries): it may differ from the kernel`);
  return out;
}

const FULL_UNSHARE = ["mount", "ipc", "uts", "net", "pid"] as const;
const NS_FILE: Record<(typeof FULL_UNSHARE)[number], string> = {
  mount: "mnt",
  ipc: "ipc",
  uts: "uts",
  net: "net",
  pid: "pid",
};

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** The tile's PID namespace and its pid there; own = neither the launcher's nor another tile's. */
export function readPidNamespace(
  manifest: Manifest,
  entry: Manifest["tiles"][number],
  procRoot = "/proc",
): PidNamespaceFacts | null {
  const id = readLink(`${procRoot}/${entry.pid}/ns/pid`);
  if (id === undefined) return null;
  let status = "";
  try {
    status = readFileSync(`${procRoot}/${entry.pid}/status`, "utf8");
  } catch {
    return null;
  }
  const nsPids = (/^NSpid:\s+(.*)$/m.exec(status)?.[1] ?? "").trim().split(/\s+/).map(Number);
  const others = [manifest.launcherPid, ...manifest.tiles.filter((t) => t !== entry).map((t) => t.pid)];
  const own = others.every((pid) => readLink(`${procRoot}/${pid}/ns/pid`) !== id);
  return { id, own, nsPid: nsPids[nsPids.length - 1] ?? entry.pid };
}

/** Tiles whose PID namespace is this tile's (each tile's must be its own). */
function pidNamespaceSharers(manifest: Manifest, entry: Manifest["tiles"][number], procRoot: string): string[] {
  const id = readLink(`${procRoot}/${entry.pid}/ns/pid`);
  if (id === undefined) return [];
  return manifest.tiles
    .filter((t) => t !== entry && t.pid > 0 && readLink(`${procRoot}/${t.pid}/ns/pid`) === id)
    .map((t) => t.name);
}

/**
 * What status relies on beyond credentials, checked against the full sandbox (not only what the
 * config asked for: `unshare = []` or `landlock = false` is reported, so status exits non-zero):
 * the tile's own filter on every thread (tilenet-exec installs one before exec, the tile its own:
 * at least 2 per thread), a namespace of its own for each of mount/ipc/uts/net/pid (the PID
 * namespace also not shared with another tile), landlock requested, and a uid no other tile of
 * the instance has.
 */
export function isolationProblems(manifest: Manifest, entry: Manifest["tiles"][number], procRoot = "/proc"): string[] {
  const out: string[] = [];
  const read = (p: string): string | undefined => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return undefined;
    }
  };
  const tasks = (() => {
    try {
      return readdirSync(`${procRoot}/${entry.pid}/task`);
    } catch {
      return [];
    }
  })();
  // A tile has what its keeper has (the launcher's io_uring refusal, inherited), the exec
  // helper's filter, and its own.
  const filtersOf = (path: string): number | undefined => {
    const m = /^Seccomp_filters:\s+(\d+)$/m.exec(read(path) ?? "");
    return m ? Number(m[1]) : undefined;
  };
  const inherited = manifest.keeperPid ? (filtersOf(`${procRoot}/${manifest.keeperPid}/status`) ?? 0) : 0;
  const thin = tasks.filter((tid) => {
    const n = filtersOf(`${procRoot}/${entry.pid}/task/${tid}/status`);
    return n !== undefined && n < inherited + 2;
  });
  if (thin.length > 0) out.push(`the tile's own seccomp filter is missing on thread(s) ${thin.join(", ")}`);
  const asked = manifest.sandbox?.unshare ?? [];
  for (const ns of FULL_UNSHARE) {
    let own: string | undefined;
    let launcher: string | undefined;
    try {
      own = readlinkSync(`${procRoot}/${entry.pid}/ns/${NS_FILE[ns]}`);
      launcher = readlinkSync(`${procRoot}/${manifest.launcherPid}/ns/${NS_FILE[ns]}`);
    } catch {
      continue; // gone, or an unreadable /proc: reported elsewhere
    }
    const netJoined = ns === "net" && manifest.netnsPath !== undefined;
    if (own === launcher && !netJoined)
      out.push(
        `${ns} namespace shared with the launcher${asked.includes(ns) ? "" : " (sandbox.unshare leaves it out)"}`,
      );
    else if (ns === "net" && !asked.includes("net"))
      out.push("net namespace is the instance's, not a fresh empty one (sandbox.unshare leaves it out)");
  }
  const pidSharers = pidNamespaceSharers(manifest, entry, procRoot);
  if (pidSharers.length > 0) out.push(`pid namespace shared with tile(s) ${pidSharers.join(", ")}`);
  if (manifest.sandbox && !manifest.sandbox.landlock) out.push("landlock disabled (sandbox.landlock = false)");
  const sameUid = manifest.tiles.filter((t) => t !== entry && t.uid !== undefined && t.uid === entry.uid);
  if (sameUid.length > 0) out.push(`uid ${entry.uid} shared with tile(s) ${sameUid.map((t) => t.name).join(", ")}`);
  return out;
}

/** Status of every tile of the instance. Never throws for a sick tile: that is what problems are for. */
export function collectStatus(manifest: Manifest, opts: CollectOptions = {}): StatusReport {
  const report: StatusReport = {
    instance: manifest.instance,
    launcherPid: manifest.launcherPid,
    launcher: collectLauncherStatus(manifest, opts.procRoot),
    tiles: manifest.tiles.map((t) => collectTileStatus(manifest, t, opts)),
  };
  if (manifest.lab) {
    const { tileNetns, peerNetns, tileAddr, peerAddr, ports, tileIf, peerIf } = manifest.lab;
    report.lab = { tileNetns, peerNetns, tileAddr, peerAddr, ports: [...ports], tileIf, peerIf };
    const l = manifest.lab;
    if (l.tileAddr6 !== undefined) Object.assign(report.lab, { tileAddr6: l.tileAddr6, peerAddr6: l.peerAddr6 });
    if (l.tileLinkLocal !== undefined)
      // Scoped as each is reached from the other side: the peer sends to fe80::tile%<peerIf>.
      Object.assign(report.lab, {
        tileLinkLocal: `${l.tileLinkLocal}%${peerIf}`,
        peerLinkLocal: `${l.peerLinkLocal}%${tileIf}`,
      });
  }
  if (manifest.xdp) report.xdp = { ...manifest.xdp };
  if (manifest.xdpAttachments) report.xdpAttachments = manifest.xdpAttachments.map((a) => ({ ...a }));
  if (manifest.queues) {
    report.queues = manifest.queues.map((q) => ({ ...q, served: [...q.served], tiles: [...q.tiles] }));
    report.warnings = queueWarnings(report.queues, report.tiles);
  }
  if (manifest.netProvider) report.netProvider = { ...manifest.netProvider };
  if (manifest.hugePages) report.hugePages = manifest.hugePages;
  return report;
}

/** Queues without a net tile: owned ports arriving there are dropped by the XDP program and
 *  counted (rx_drop_unserved_queue of the interface's first net tile). */
export function queueWarnings(queues: readonly QueueCoverage[], tiles: readonly TileStatus[]): string[] {
  const out: string[] = [];
  for (const q of queues) {
    const unserved = q.queueCount - q.served.length;
    if (unserved <= 0) continue;
    const first = tiles.find((t) => t.name === q.tiles[0]);
    const dropped = first?.metrics.rx_drop_unserved_queue;
    out.push(
      `${q.interface}: ${q.queueCount} receive queues, ${q.served.length} net tile(s) (queues ${q.served.join(",")}): ` +
        `datagrams for owned ports on the other ${unserved} are dropped and counted` +
        (dropped !== undefined ? ` (${dropped} so far)` : "") +
        ` (set [net] queues = "all", or run \`tilenet configure init channels\`)`,
    );
  }
  return out;
}

/** 0 when every tile is running, heartbeating, alive and fully sandboxed, and the launcher has
 *  dropped its privileges; 1 otherwise. */
export function statusExitCode(report: StatusReport): number {
  return problemLines(report).length > 0 ? 1 : 0;
}

const COMMON_NAMES = new Set(commonMetricDecls.map((d) => d.name));

/** Share of time the tile was busy since it started, from the regime counters ("-" if none). */
function busyShare(metrics: Record<string, number>): string {
  const busy = metrics[CommonMetric.busyNs] ?? 0;
  const total =
    busy +
    (metrics[CommonMetric.idleNs] ?? 0) +
    (metrics[CommonMetric.backpressureNs] ?? 0) +
    (metrics[CommonMetric.housekeepingNs] ?? 0);
  return total > 0 ? `${((100 * busy) / total).toFixed(1)}%` : "-";
}

export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(Math.abs(n) >= 100 ? 0 : 2);
}

function sandboxCell(s: SandboxSummary | null, sandboxed: boolean): string {
  if (!s) return "-";
  if (sandboxed) return `ok (${s.threads} thr, ${s.fds.length} fds)`;
  const bad: string[] = [];
  if (s.seccomp !== 2) bad.push(`seccomp ${s.seccomp}`);
  if (s.noNewPrivs !== 1) bad.push("no nnp");
  if ([s.capEff, s.capPrm, s.capBnd, s.capInh, s.capAmb].some((c) => !/^0+$/.test(c))) bad.push("caps");
  if ([s.uid.real, s.uid.effective, s.uid.saved, s.uid.fs].includes(0)) bad.push("uid 0");
  if ([s.gid.real, s.gid.effective, s.gid.saved, s.gid.fs].includes(0)) bad.push("gid 0");
  return `NO: ${bad.length > 0 ? bad.join(", ") : "see problems"}`;
}

function keyMetrics(t: TileStatus, max = 4): string {
  const own = Object.keys(t.metrics).filter((n) => !COMMON_NAMES.has(n));
  const shown = own.slice(0, max).map((n) => `${n}=${formatCount(t.metrics[n])}`);
  if (own.length > max) shown.push(`+${own.length - max} more`);
  const busy = busyShare(t.metrics);
  if (busy !== "-") shown.unshift(`busy ${busy}`);
  return shown.join(" ");
}

function ageCell(ms: number | null): string {
  if (ms === null) return "never";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Lays out rows as left-aligned columns separated by two spaces. */
export function renderColumns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i] ?? 0, row[i].length);
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
      .join("  ")
      .trimEnd(),
  );
}

/** "veth0 queue 0, drv mode (auto), copy (zero-copy auto: bind(...): ENOTSUP ...), need-wakeup,
 *  busy poll prefer usecs 20 budget 64, napi_defer_hard_irqs 0 gro_flush_timeout 0". */
export function xdpText(x: XdpAttachment): string {
  const how =
    x.requestedMode === "auto" ? ` (auto${x.fallbackReason ? `: drv refused: ${x.fallbackReason}` : ""})` : "";
  const parts = [`${x.interface} queue ${x.queue}`, `${x.mode} mode${how}`, zeroCopyText(x)];
  if (x.needWakeup) parts.push("need-wakeup");
  if (x.busyPoll) parts.push(busyPollText(x.busyPoll));
  if (x.napi) {
    const known = (v: number | null): string => (v === null ? "unknown" : String(v));
    parts.push(
      `napi_defer_hard_irqs ${known(x.napi.deferHardIrqs)} gro_flush_timeout ${known(x.napi.groFlushTimeoutNs)}`,
    );
  }
  return parts.join(", ");
}

function zeroCopyText(x: XdpAttachment): string {
  const copy = x.zeroCopy ? "zero-copy" : "copy";
  if (x.requestedZeroCopy === undefined) return copy;
  const asked = `zero-copy ${String(x.requestedZeroCopy)}`;
  return `${copy} (${asked}${x.zeroCopyFallback ? `: ${x.zeroCopyFallback}` : ""})`;
}

/** "busy poll prefer usecs 20 budget 64" ("no prefer" when off; budget 0 is the kernel's 8). */
function busyPollText(b: { prefer: boolean; usecs: number; budget: number }): string {
  const budget = b.budget === 0 ? "default" : String(b.budget);
  return `busy poll ${b.prefer ? "prefer" : "no prefer"} usecs ${b.usecs} budget ${budget}`;
}

/** "provider: socket (auto: XDP attach failed: ...)[, busy poll prefer usecs 20 budget 64]". */
export function netProviderText(p: NetProviderReport): string {
  return `provider: ${p.provider} (${p.reason})${p.busyPoll ? `, ${busyPollText(p.busyPoll)}` : ""}`;
}

/** "huge pages (auto): netbase, umem on 2 MiB pages; normal pages for ..." */
export function hugePagesText(hp: HugePagesReport): string {
  const on = hp.regions.length > 0 ? `${hp.regions.join(", ")} on 2 MiB pages` : "no region on huge pages";
  const fell = hp.fallbacks.length > 0 ? `; normal pages for ${hp.fallbacks.join("; ")}` : "";
  return `huge pages (${hp.mode}): ${on}${fell}`;
}

/** The human view: a header line, one row per tile, then the problems. */
export function renderStatusTable(report: StatusReport): string {
  const lines = [`instance ${report.instance} (launcher pid ${report.launcherPid})`];
  if (report.lab) {
    const l = report.lab;
    lines.push(`lab: ${l.tileNetns} ${l.tileAddr} <-> ${l.peerNetns} ${l.peerAddr}, ports ${l.ports.join(",")}`);
    if (l.tileAddr6 !== undefined)
      lines.push(`lab ipv6: ${l.tileAddr6} ${l.tileLinkLocal ?? ""} <-> ${l.peerAddr6} ${l.peerLinkLocal ?? ""}`);
  }
  if (report.netProvider) lines.push(netProviderText(report.netProvider));
  if (report.xdp) lines.push(`xdp: ${xdpText(report.xdp)}`);
  for (const q of report.queues ?? [])
    lines.push(
      `queues: ${q.interface} ${q.queueCount} (${q.source}), served ${q.served.map((id, i) => `${id}:${q.tiles[i]}`).join(" ")}`,
    );
  if (report.hugePages) lines.push(hugePagesText(report.hugePages));
  // IDLE: the idle mode and the CPU the tile used lately (what idling costs when there is no traffic).
  const rows: string[][] = [
    ["TILE", "KIND", "PID", "STATE", "HEARTBEAT", "RESTARTS", "SANDBOX", "IDLE CPU", "METRICS"],
  ];
  for (const t of report.tiles) {
    const state = t.down ? "down" : t.state;
    const restarts = String(t.restarts ?? 0);
    rows.push([
      t.name,
      t.kind,
      String(t.pid),
      state,
      ageCell(t.heartbeatAgeMs),
      restarts,
      sandboxCell(t.sandbox, t.detail?.sandboxed ?? false),
      idleCell(t),
      keyMetrics(t),
    ]);
  }
  rows.push(launcherRow(report.launcher));
  lines.push(...renderColumns(rows));
  if ((report.warnings ?? []).length > 0) {
    lines.push("warnings:");
    for (const w of report.warnings ?? []) lines.push(`  ${w}`);
  }
  if (problemLines(report).length === 0) lines.push("all tiles healthy");
  else {
    lines.push("problems:");
    for (const line of problemLines(report)) lines.push(`  ${line}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The launcher as the table's last row: its uid and filter where a tile shows its metrics. */
function launcherRow(l: LauncherStatus): string[] {
  const d = l.dropped;
  const what = d
    ? `uid ${d.uid}, filter ${d.seccompPolicy} (${d.syscallsDenied} syscalls denied)`
    : "privileged (set-up)";
  return [
    "launcher",
    "launcher",
    String(l.pid),
    d ? "running" : "set-up",
    "-",
    "-",
    sandboxCell(l.sandbox, l.sandboxed),
    "-",
    what,
  ];
}

/** Every problem as "tile: problem" lines, the launcher's too (the table, `tilenet ready`, the
 *  systemd watchdog). */
export function problemLines(report: StatusReport): string[] {
  return [
    ...report.tiles.flatMap((t) => t.problems.map((p) => `${t.name}: ${p}`)),
    ...report.launcher.problems.map((p) => `launcher: ${p}`),
  ];
}
