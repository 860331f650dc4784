// Shared by the data plane tests: channel regions and metrics in process memory, quiet logs.
import { withCommonMetrics } from "../../shared/metrics/common";
import { initMetricsRegion, metricsRegionSize } from "../../shared/metrics/region";
import type { MetricDecl } from "../../shared/metrics/schema";
import { MetricsWriter } from "../../shared/metrics/writer";
import { initUdpChannel, type UdpChannelRegions, type UdpDirection, udpChannelSizes } from "../../shared/udp/channel";

/** One direction's three regions, initialized as the launcher would (the layout does not care what backs them). */
export function makeChannel(direction: UdpDirection, depth: number, maxPayload: number): UdpChannelRegions {
  const s = udpChannelSizes(depth, maxPayload);
  const r: UdpChannelRegions = {
    producer: new ArrayBuffer(s.producerBytes),
    consumer: new ArrayBuffer(s.consumerBytes),
    data: new ArrayBuffer(s.dataBytes),
  };
  initUdpChannel(r.producer, r.consumer, r.data, direction, depth, maxPayload);
  return r;
}

export function makeMetrics(tile: string, kind: string, decls: readonly MetricDecl[]): MetricsWriter {
  const all = withCommonMetrics(decls);
  const buf = new ArrayBuffer(metricsRegionSize(all));
  initMetricsRegion(buf, tile, kind, all);
  return new MetricsWriter(buf, `${tile} metrics`);
}

export function metric(m: MetricsWriter, name: string): number {
  return m.get(m.index(name));
}

/** Every nonzero metric by name (for failure messages). */
export function nonzeroMetrics(m: MetricsWriter, prefix = ""): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of m.schema.metrics) {
    const v = m.get(m.index(d.name));
    if (v !== 0 && d.name.startsWith(prefix)) out[d.name] = v;
  }
  return out;
}

export interface CapturedLog {
  lines: { level: string; obj: object; msg?: string }[];
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export function captureLog(): CapturedLog {
  const lines: CapturedLog["lines"] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: "info", obj, msg }),
    warn: (obj, msg) => lines.push({ level: "warn", obj, msg }),
    error: (obj, msg) => lines.push({ level: "error", obj, msg }),
  };
}

export function ipv4(text: string): number {
  return text.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}
