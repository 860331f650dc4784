// Everyone else's view of a metrics region (status, monitor, Prometheus): usually a read-only
// mapping. Never writes. Values are read individually (each f64 load is atomic on the platforms
// we run on); a snapshot is not a consistent cut across metrics, which is fine for monitoring.
import { monotonicNs } from "./clock";
import { F64_HEARTBEAT_NS, F64_HEARTBEAT_SEQ, I32_PID, I32_STATE, METRICS_HEADER_SIZE, tileStateName } from "./layout";
import { validateMetricsRegion } from "./region";
import type { MetricDecl, MetricsSchema } from "./schema";

export class MetricsReader {
  readonly schema: MetricsSchema;
  private readonly values: Float64Array;
  private readonly live: Float64Array;
  private readonly words: Int32Array;

  /** Validates the region; `where` names it in errors. */
  constructor(buf: ArrayBuffer, where = "metrics region") {
    const info = validateMetricsRegion(buf, where);
    this.schema = info.schema;
    this.values = new Float64Array(buf, info.valuesOffset, info.valuesCount);
    this.live = new Float64Array(buf, 0, METRICS_HEADER_SIZE / 8);
    this.words = new Int32Array(buf, 0, METRICS_HEADER_SIZE / 4);
  }

  get tileName(): string {
    return this.schema.tileName;
  }

  get tileKind(): string {
    return this.schema.tileKind;
  }

  get metrics(): readonly MetricDecl[] {
    return this.schema.metrics;
  }

  /** Pid the tile recorded (0 until the tile attaches). */
  get pid(): number {
    return this.words[I32_PID];
  }

  get stateCode(): number {
    return this.words[I32_STATE];
  }

  get state(): string {
    return tileStateName(this.words[I32_STATE]);
  }

  /** Heartbeats so far (0 = never). */
  get heartbeatSeq(): number {
    return this.live[F64_HEARTBEAT_SEQ];
  }

  /** CLOCK_MONOTONIC ns of the last heartbeat (0 = never). */
  get heartbeatNs(): number {
    return this.live[F64_HEARTBEAT_NS];
  }

  /** Milliseconds since the last heartbeat, or null if the tile never sent one. */
  heartbeatAgeMs(nowNs: number = monotonicNs()): number | null {
    const at = this.live[F64_HEARTBEAT_NS];
    if (at === 0) return null;
    return Math.max(0, (nowNs - at) / 1e6);
  }

  /** Value of the metric at idx (schema order). */
  value(idx: number): number {
    return this.values[idx];
  }

  /** All values by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    const metrics = this.schema.metrics;
    for (let i = 0; i < metrics.length; i++) out[metrics[i].name] = this.values[i];
    return out;
  }

  /** Copies the values, in schema order, into target (allocation-free polling). */
  copyValues(target: Float64Array): void {
    target.set(this.values.subarray(0, Math.min(target.length, this.values.length)));
  }
}
