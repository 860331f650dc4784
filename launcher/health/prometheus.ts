// Prometheus text exposition (format 0.0.4) of status reports, served on GET /metrics.
// Every declared metric becomes tilenet_<name>{instance,tile,kind} with HELP and TYPE from the
// region's schema; three synthetic series describe each tile's health.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { MetricKind } from "../../shared/metrics/schema";
import { summaryIsSandboxed } from "./procfs";
import type { StatusReport, TileStatus } from "./status";

const PREFIX = "tilenet_";

interface Family {
  name: string;
  help: string;
  type: MetricKind | "untyped";
  samples: string[];
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

function labels(report: StatusReport, tile: TileStatus): string {
  return `{instance="${escapeLabel(report.instance)}",tile="${escapeLabel(tile.name)}",kind="${escapeLabel(tile.kind)}"}`;
}

/** Renders reports (one per instance) as exposition text. Families are grouped so each name has
 *  one HELP and TYPE line before its samples; a tile metric whose kind conflicts with the first
 *  declaration of that name is exposed as tilenet_<tile kind>_<name> instead. */
export function renderPrometheus(reports: readonly StatusReport[]): string {
  const families = new Map<string, Family>();
  const family = (name: string, help: string, type: Family["type"]): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, help, type, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  const up = family(`${PREFIX}tile_up`, "1 when the tile process is alive and its state is running", "gauge");
  const age = family(
    `${PREFIX}tile_heartbeat_age_seconds`,
    "Seconds since the tile's last heartbeat (absent if it never sent one)",
    "gauge",
  );
  const sandboxed = family(
    `${PREFIX}tile_sandboxed`,
    "1 when every thread of the tile is in seccomp filter mode with no_new_privs, no capabilities and no root ids",
    "gauge",
  );
  const restarts = family(
    `${PREFIX}tile_restarts_total`,
    "Times the launcher restarted this app tile after it died or its heartbeat stopped",
    "counter",
  );
  const dropped = family(
    `${PREFIX}tile_log_lines_dropped_total`,
    "Lines of the tile's output the launcher dropped: not a JSON log record, or too long",
    "counter",
  );
  for (const report of reports) {
    for (const tile of report.tiles) {
      const lbl = labels(report, tile);
      restarts.samples.push(`${restarts.name}${lbl} ${tile.restarts}`);
      dropped.samples.push(`${dropped.name}${lbl} ${tile.logLinesDropped}`);
      const alive = tile.detail ? tile.detail.alive : tile.sandbox !== null;
      up.samples.push(`${up.name}${lbl} ${alive && tile.state === "running" ? 1 : 0}`);
      if (tile.heartbeatAgeMs !== null)
        age.samples.push(`${age.name}${lbl} ${formatValue(tile.heartbeatAgeMs / 1000)}`);
      const isSandboxed = tile.detail
        ? tile.detail.sandboxed
        : tile.sandbox !== null && summaryIsSandboxed(tile.sandbox);
      sandboxed.samples.push(`${sandboxed.name}${lbl} ${isSandboxed ? 1 : 0}`);
      const decls = new Map((tile.detail?.decls ?? []).map((d) => [d.name, d]));
      for (const [metric, value] of Object.entries(tile.metrics)) {
        const decl = decls.get(metric);
        const type: Family["type"] = decl ? decl.kind : "untyped";
        let name = `${PREFIX}${metric}`;
        const existing = families.get(name);
        if (existing && existing.type !== type) name = `${PREFIX}${tile.kind.replace(/[^a-zA-Z0-9_]/g, "_")}_${metric}`;
        const f = family(name, decl ? decl.help : `tilenet metric ${metric}`, type);
        if (f.type !== type) continue; // still conflicting after qualification: leave it out rather than lie
        f.samples.push(`${name}${lbl} ${formatValue(value)}`);
      }
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.samples);
  }
  return `${out.join("\n")}\n`;
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
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: try GET /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("GET only\n");
      return;
    }
    let body: string;
    try {
      const got = await source();
      body = renderPrometheus(Array.isArray(got) ? (got as readonly StatusReport[]) : [got as StatusReport]);
    } catch (err) {
      res
        .writeHead(500, { "content-type": "text/plain; charset=utf-8" })
        .end(`status failed: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
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
