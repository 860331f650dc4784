// Prometheus text exposition (format 0.0.4) of status reports: GET /metrics, /healthz, /readyz.
// Every declared metric becomes tilenet_<name>{tilenet_instance,tile,kind} with HELP and TYPE from
// the region's schema, named the way Prometheus users expect (promtool check metrics finds
// nothing): counters end in _total, nanosecond counters become seconds, percentages become 0-1
// ratios; a few synthetic series describe each tile's health, the build and the XDP attachment.
// The label is tilenet_instance: `instance` and `job` belong to Prometheus's own target labels.
//
// Our own code rather than prom-client: its counters can only be incremented, while ours are
// absolute values read from shared memory at each scrape (a mirror would need reset()+inc()),
// and the set of metrics is discovered from the regions' schemas rather than declared here.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { version } from "../../package.json";
import type { MetricKind } from "../../shared/metrics/schema";
import type { NetProviderReport, XdpAttachment } from "../manifest";
import { summaryIsSandboxed } from "./procfs";
import type { StatusReport, TileStatus } from "./status";

const PREFIX = "tilenet_";

interface Family {
  name: string;
  help: string;
  type: MetricKind | "untyped";
  samples: string[];
}

/** How one region metric is exposed: its Prometheus name (without prefix) and a value scale. */
export interface ExposedName {
  name: string;
  scale: number;
  help: string;
}

/** The Prometheus name of a region metric: counters end in _total (a _count suffix is reserved
 *  for histograms and replaced), nanoseconds become seconds, percentages 0-1 ratios. */
export function exposedName(metric: string, kind: MetricKind | "untyped", help: string): ExposedName {
  let name = metric;
  let scale = 1;
  let unitNote = "";
  if (name.endsWith("_ns")) {
    name = `${name.slice(0, -3)}_seconds`;
    scale = 1e-9;
    unitNote = " (in seconds)";
  } else if (name.endsWith("_pct") && kind === "gauge") {
    name = `${name.slice(0, -4)}_ratio`;
    scale = 0.01;
    unitNote = " (as a ratio, 0-1)";
  }
  if (kind === "counter") {
    if (name.endsWith("_count")) name = name.slice(0, -6);
    if (!name.endsWith("_total")) name = `${name}_total`;
  }
  return { name, scale, help: `${help}${unitNote}` };
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

function labelText(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(",")}}`;
}

function labels(report: StatusReport, tile: TileStatus): string {
  return labelText({ tilenet_instance: report.instance, tile: tile.name, kind: tile.kind });
}

class Families {
  readonly all = new Map<string, Family>();
  get(name: string, help: string, type: Family["type"]): Family {
    let f = this.all.get(name);
    if (!f) {
      f = { name, help, type, samples: [] };
      this.all.set(name, f);
    }
    return f;
  }
  render(): string {
    const out: string[] = [];
    for (const f of this.all.values()) {
      if (f.samples.length === 0) continue;
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.samples);
    }
    return `${out.join("\n")}\n`;
  }
}

function addHealthSeries(families: Families, report: StatusReport, tile: TileStatus): void {
  const lbl = labels(report, tile);
  const up = families.get(`${PREFIX}tile_up`, "1 when the tile process is alive and its state is running", "gauge");
  const healthy = families.get(
    `${PREFIX}tile_healthy`,
    "1 when the tile has no problem (running, heartbeat fresh, alive, sandboxed): what /healthz checks",
    "gauge",
  );
  const age = families.get(
    `${PREFIX}tile_heartbeat_age_seconds`,
    "Seconds since the tile's last heartbeat (absent if it never sent one)",
    "gauge",
  );
  const sandboxed = families.get(
    `${PREFIX}tile_sandboxed`,
    "1 when every thread of the tile is in seccomp filter mode with no_new_privs, no capabilities and no root ids",
    "gauge",
  );
  const restarts = families.get(
    `${PREFIX}tile_restarts_total`,
    "Times the launcher restarted this app tile after it died or its heartbeat stopped",
    "counter",
  );
  const dropped = families.get(
    `${PREFIX}tile_log_lines_dropped_total`,
    "Lines of the tile's output the launcher dropped: not a JSON log record, or too long",
    "counter",
  );
  restarts.samples.push(`${restarts.name}${lbl} ${tile.restarts}`);
  dropped.samples.push(`${dropped.name}${lbl} ${tile.logLinesDropped}`);
  const alive = tile.detail ? tile.detail.alive : tile.sandbox !== null;
  up.samples.push(`${up.name}${lbl} ${alive && tile.state === "running" ? 1 : 0}`);
  healthy.samples.push(`${healthy.name}${lbl} ${tile.problems.length === 0 ? 1 : 0}`);
  if (tile.heartbeatAgeMs !== null) age.samples.push(`${age.name}${lbl} ${formatValue(tile.heartbeatAgeMs / 1000)}`);
  const isSandboxed = tile.detail ? tile.detail.sandboxed : tile.sandbox !== null && summaryIsSandboxed(tile.sandbox);
  sandboxed.samples.push(`${sandboxed.name}${lbl} ${isSandboxed ? 1 : 0}`);
}

function addTileMetrics(families: Families, report: StatusReport, tile: TileStatus): void {
  const lbl = labels(report, tile);
  const decls = new Map((tile.detail?.decls ?? []).map((d) => [d.name, d]));
  for (const [metric, value] of Object.entries(tile.metrics)) {
    const decl = decls.get(metric);
    const type: Family["type"] = decl ? decl.kind : "untyped";
    const exposed = exposedName(metric, type, decl ? decl.help : `tilenet metric ${metric}`);
    let name = `${PREFIX}${exposed.name}`;
    const existing = families.all.get(name);
    if (existing && existing.type !== type)
      name = `${PREFIX}${tile.kind.replace(/[^a-zA-Z0-9_]/g, "_")}_${exposed.name}`;
    const f = families.get(name, exposed.help, type);
    if (f.type !== type) continue; // still conflicting after qualification: leave it out rather than lie
    f.samples.push(`${name}${lbl} ${formatValue(value * exposed.scale)}`);
  }
}

/** tilenet_xdp_info: what the net tile's socket is attached to, as labels (value 1). */
function addXdpInfo(families: Families, instance: string, xdp: XdpAttachment & { tile?: string }): void {
  const f = families.get(
    `${PREFIX}xdp_info`,
    "Each AF_XDP socket of the instance: its net tile, interface, queue, mode actually attached (drv or skb), copy or zero-copy and why, need-wakeup, busy polling",
    "gauge",
  );
  const lbl = labelText({
    tilenet_instance: instance,
    tile: xdp.tile ?? "net",
    interface: xdp.interface,
    queue: String(xdp.queue),
    mode: xdp.mode,
    requested_mode: xdp.requestedMode,
    zero_copy: xdp.zeroCopy ? "true" : "false",
    requested_zero_copy: String(xdp.requestedZeroCopy ?? false),
    zero_copy_fallback: xdp.zeroCopyFallback ?? "",
    need_wakeup: xdp.needWakeup ? "true" : "false",
    busy_poll_prefer: xdp.busyPoll?.prefer ? "true" : "false",
    busy_poll_usecs: String(xdp.busyPoll?.usecs ?? 0),
    busy_poll_budget: String(xdp.busyPoll?.budget ?? 0),
    napi_defer_hard_irqs: napiLabel(xdp.napi?.deferHardIrqs),
    gro_flush_timeout_ns: napiLabel(xdp.napi?.groFlushTimeoutNs),
  });
  f.samples.push(`${f.name}${lbl} 1`);
}

/** A sysfs figure as a label: "" when unknown. */
function napiLabel(v: number | null | undefined): string {
  return v === null || v === undefined ? "" : String(v);
}

/** tilenet_net_provider_info: the data plane the net tile runs on (xdp or socket), what the
 *  config asked for and why this one (e.g. "auto: XDP attach failed: ..."), as labels (value 1). */
function addNetProviderInfo(families: Families, instance: string, p: NetProviderReport): void {
  const f = families.get(
    `${PREFIX}net_provider_info`,
    "The net tile's data plane: provider running (xdp or socket), the one configured, and why",
    "gauge",
  );
  const lbl = labelText({
    tilenet_instance: instance,
    provider: p.provider,
    configured: p.configured,
    reason: p.reason,
  });
  f.samples.push(`${f.name}${lbl} 1`);
}

/** Renders reports (one per instance) as exposition text. Families are grouped so each name has
 *  one HELP and TYPE line before its samples; a tile metric whose kind conflicts with the first
 *  declaration of that name is exposed as tilenet_<tile kind>_<name> instead. */
export function renderPrometheus(reports: readonly StatusReport[]): string {
  const families = new Families();
  const build = families.get(`${PREFIX}build_info`, "tilenet's version and the Node.js running the launcher", "gauge");
  build.samples.push(`${build.name}${labelText({ version, node_version: process.version })} 1`);
  const launcher = families.get(
    `${PREFIX}launcher_sandboxed`,
    "1 when the launcher runs as its own uid with no capability under its seccomp filter (after set-up)",
    "gauge",
  );
  for (const report of reports) {
    for (const tile of report.tiles) addHealthSeries(families, report, tile);
    for (const xdp of report.xdpAttachments ?? (report.xdp ? [report.xdp] : []))
      addXdpInfo(families, report.instance, xdp);
    if (report.netProvider) addNetProviderInfo(families, report.instance, report.netProvider);
    const sandboxed = report.launcher.sandboxed && report.launcher.dropped !== null;
    launcher.samples.push(`${launcher.name}${labelText({ tilenet_instance: report.instance })} ${sandboxed ? 1 : 0}`);
  }
  for (const report of reports) for (const tile of report.tiles) addTileMetrics(families, report, tile);
  return families.render();
}

/** /healthz: 200 only when every tile of every instance is healthy; /readyz: 200 once every tile
 *  runs. The body names what is wrong. */
export function healthAnswer(
  reports: readonly StatusReport[],
  what: "health" | "ready",
): { ok: boolean; body: string } {
  const problems: string[] = [];
  for (const r of reports) {
    for (const t of r.tiles) {
      if (what === "health") for (const p of t.problems) problems.push(`${r.instance}/${t.name}: ${p}`);
      else if (t.state !== "running") problems.push(`${r.instance}/${t.name}: state is ${t.state}`);
    }
    if (what === "health") for (const p of r.launcher.problems) problems.push(`${r.instance}/launcher: ${p}`);
  }
  if (reports.every((r) => r.tiles.length === 0)) problems.push("no tiles");
  return { ok: problems.length === 0, body: problems.length === 0 ? "ok\n" : `${problems.join("\n")}\n` };
}

export interface MetricsServer {
  /** The bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics from source() on host:port only (pass 127.0.0.1 to keep it local).
 *  Resolves once listening. source may return one report or one per instance. */
export function startMetricsServer(
  host: string,
  port: number,
  source: () => StatusReport | readonly StatusReport[] | Promise<StatusReport | readonly StatusReport[]>,
): Promise<MetricsServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics" && path !== "/healthz" && path !== "/readyz") {
      res
        .writeHead(404, { "content-type": "text/plain; charset=utf-8" })
        .end("not found: try GET /metrics, /healthz or /readyz\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("GET only\n");
      return;
    }
    let body: string;
    let status = 200;
    try {
      const got = await source();
      const reports = Array.isArray(got) ? (got as readonly StatusReport[]) : [got as StatusReport];
      if (path === "/metrics") body = renderPrometheus(reports);
      else {
        const answer = healthAnswer(reports, path === "/healthz" ? "health" : "ready");
        status = answer.ok ? 200 : 503;
        res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
        res.end(req.method === "HEAD" ? undefined : answer.body);
        return;
      }
    } catch (err) {
      res
        .writeHead(path === "/metrics" ? 500 : 503, { "content-type": "text/plain; charset=utf-8" })
        .end(`status failed: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(status, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          }),
      });
    });
  });
}
