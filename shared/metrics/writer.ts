// The tile's side of its metrics region: the only writer. Look names up once with index() at
// start-up; add/set/heartbeat are allocation-free typed-array writes for the hot path.
import { monotonicNs } from "./clock";
import {
  F64_HEARTBEAT_NS,
  F64_HEARTBEAT_SEQ,
  I32_PID,
  I32_STATE,
  METRICS_HEADER_SIZE,
  TileState,
  type TileStateName,
} from "./layout";
import { type MetricsRegionInfo, validateMetricsRegion } from "./region";
import type { MetricsSchema } from "./schema";

export class MetricsWriter {
  readonly schema: MetricsSchema;
  private readonly values: Float64Array;
  private readonly live: Float64Array;
  private readonly words: Int32Array;
  private readonly indexByName: Map<string, number>;

  /** Validates the region and records this process's pid in it (the host's pid: in a PID
   *  namespace process.pid is 1, and status compares the region's pid with the manifest). */
  constructor(buf: ArrayBuffer, where = "metrics region", pid = process.pid) {
    const info: MetricsRegionInfo = validateMetricsRegion(buf, where);
    this.schema = info.schema;
    this.values = new Float64Array(buf, info.valuesOffset, info.valuesCount);
    this.live = new Float64Array(buf, 0, METRICS_HEADER_SIZE / 8);
    this.words = new Int32Array(buf, 0, METRICS_HEADER_SIZE / 4);
    this.indexByName = new Map(info.schema.metrics.map((m, i) => [m.name, i]));
    this.words[I32_PID] = pid;
  }

  /** Index of a declared metric; throws for a name the schema does not declare. */
  index(name: string): number {
    const idx = this.indexByName.get(name);
    if (idx === undefined) {
      throw new Error(`tile ${this.schema.tileName} has no metric named ${JSON.stringify(name)}`);
    }
    return idx;
  }

  /** True when the schema declares the metric (for optional metrics). */
  has(name: string): boolean {
    return this.indexByName.has(name);
  }

  add(idx: number, n: number): void {
    this.values[idx] += n;
  }

  set(idx: number, value: number): void {
    this.values[idx] = value;
  }

  get(idx: number): number {
    return this.values[idx];
  }

  setState(state: TileStateName): void {
    this.words[I32_STATE] = TileState[state];
  }

  /** Records that the tile is alive now (time first, then sequence, so a reader that sees the new
   *  sequence also sees a time at least as new). */
  heartbeat(nowNs: number = monotonicNs()): void {
    this.live[F64_HEARTBEAT_NS] = nowNs;
    this.live[F64_HEARTBEAT_SEQ] += 1;
  }
}

/** Sets the state of a region the caller maps read-write without claiming it (e.g. the launcher
 *  marking a tile that exited as failed). Validates the region first. */
export function setRegionState(buf: ArrayBuffer, state: TileStateName, where = "metrics region"): void {
  validateMetricsRegion(buf, where);
  new Int32Array(buf, 0, METRICS_HEADER_SIZE / 4)[I32_STATE] = TileState[state];
}
