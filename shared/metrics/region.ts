// Creating and validating a metrics region (layout in layout.ts, schema text in schema.ts).
import {
  I32_PID,
  I32_STATE,
  METRICS_HEADER_SIZE,
  METRICS_LAYOUT,
  METRICS_MAGIC,
  METRICS_VERSION,
  TileState,
  U32_MAGIC,
  U32_REGION_SIZE,
  U32_SCHEMA_LENGTH,
  U32_SCHEMA_OFFSET,
  U32_VALUES_COUNT,
  U32_VALUES_OFFSET,
  U32_VERSION,
} from "./layout";
import { decodeSchema, encodeSchema, MAX_TILE_WORD, type MetricDecl, type MetricsSchema } from "./schema";

const { PAGE_SIZE, VALUE_SIZE, MAX_REGION_SIZE } = METRICS_LAYOUT.constants;

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

interface Placement {
  schemaBytes: Uint8Array;
  valuesOffset: number;
  regionSize: number;
}

function place(tileName: string, tileKind: string, decls: readonly MetricDecl[]): Placement {
  const schemaBytes = encodeSchema({ tileName, tileKind, metrics: [...decls] });
  const valuesOffset = alignUp(METRICS_HEADER_SIZE + schemaBytes.length, VALUE_SIZE);
  const regionSize = alignUp(valuesOffset + decls.length * VALUE_SIZE, PAGE_SIZE);
  if (regionSize > MAX_REGION_SIZE) throw new Error(`metrics region for ${tileName} would be ${regionSize} bytes`);
  return { schemaBytes, valuesOffset, regionSize };
}

/** Bytes the launcher must allocate (memfd size) for a tile with these metrics. Computed with the
 *  longest allowed tile name and kind, so any valid name fits later. */
export function metricsRegionSize(decls: readonly MetricDecl[]): number {
  const longest = "x".repeat(MAX_TILE_WORD);
  return place(longest, longest, decls).regionSize;
}

/** Written by the launcher once, before the tile starts: header, schema, zeroed values,
 *  state=booting, pid=0. The magic is stored last so a reader never accepts a half-written region. */
export function initMetricsRegion(
  buf: ArrayBuffer,
  tileName: string,
  tileKind: string,
  decls: readonly MetricDecl[],
): void {
  const { schemaBytes, valuesOffset } = place(tileName, tileKind, decls);
  const regionSize = metricsRegionSize(decls);
  if (buf.byteLength < regionSize) {
    throw new Error(
      `metrics region for ${tileName} is ${buf.byteLength} bytes, needs ${regionSize} (use metricsRegionSize)`,
    );
  }
  new Uint8Array(buf, 0, regionSize).fill(0);
  const u32 = new Uint32Array(buf, 0, METRICS_HEADER_SIZE / 4);
  const i32 = new Int32Array(buf, 0, METRICS_HEADER_SIZE / 4);
  u32[U32_VERSION] = METRICS_VERSION;
  u32[U32_REGION_SIZE] = regionSize;
  u32[U32_SCHEMA_OFFSET] = METRICS_HEADER_SIZE;
  u32[U32_SCHEMA_LENGTH] = schemaBytes.length;
  u32[U32_VALUES_OFFSET] = valuesOffset;
  u32[U32_VALUES_COUNT] = decls.length;
  i32[I32_PID] = 0;
  i32[I32_STATE] = TileState.booting;
  new Uint8Array(buf, METRICS_HEADER_SIZE, schemaBytes.length).set(schemaBytes);
  Atomics.store(u32, U32_MAGIC, METRICS_MAGIC);
}

/** A validated region: its schema and where the values are. */
export interface MetricsRegionInfo {
  schema: MetricsSchema;
  regionSize: number;
  valuesOffset: number;
  valuesCount: number;
}

/** Validates a mapped region (magic, version, bounds, schema) and returns its description.
 *  `where` names the region in errors (e.g. "metrics region net (/proc/12/fd/9)"). */
export function validateMetricsRegion(buf: ArrayBuffer, where: string): MetricsRegionInfo {
  if (buf.byteLength < METRICS_HEADER_SIZE) {
    throw new Error(`${where}: ${buf.byteLength} bytes is smaller than the ${METRICS_HEADER_SIZE}-byte header`);
  }
  const u32 = new Uint32Array(buf, 0, METRICS_HEADER_SIZE / 4);
  const magic = Atomics.load(u32, U32_MAGIC);
  if (magic !== METRICS_MAGIC) {
    throw new Error(
      `${where}: bad magic 0x${magic.toString(16).padStart(8, "0")} (expected 0x${METRICS_MAGIC.toString(16)}): ` +
        "not a metrics region, or not initialised yet",
    );
  }
  const version = u32[U32_VERSION];
  if (version !== METRICS_VERSION) {
    throw new Error(`${where}: layout version ${version}, this program reads version ${METRICS_VERSION}`);
  }
  const regionSize = u32[U32_REGION_SIZE];
  if (regionSize > buf.byteLength || regionSize < METRICS_HEADER_SIZE) {
    throw new Error(`${where}: header says ${regionSize} bytes but ${buf.byteLength} are mapped`);
  }
  const schemaOffset = u32[U32_SCHEMA_OFFSET];
  const schemaLength = u32[U32_SCHEMA_LENGTH];
  if (schemaOffset < METRICS_HEADER_SIZE || schemaOffset + schemaLength > regionSize) {
    throw new Error(`${where}: schema [${schemaOffset}, +${schemaLength}) is outside the ${regionSize}-byte region`);
  }
  const valuesOffset = u32[U32_VALUES_OFFSET];
  const valuesCount = u32[U32_VALUES_COUNT];
  if (valuesOffset % VALUE_SIZE !== 0 || valuesOffset < schemaOffset + schemaLength) {
    throw new Error(`${where}: values offset ${valuesOffset} is misaligned or overlaps the schema`);
  }
  if (valuesOffset + valuesCount * VALUE_SIZE > regionSize) {
    throw new Error(`${where}: ${valuesCount} values at ${valuesOffset} overflow the ${regionSize}-byte region`);
  }
  // Copy the schema out before decoding: the region may be mapped read-only and shared.
  const schema = decodeSchema(new Uint8Array(buf, schemaOffset, schemaLength).slice(), where);
  if (schema.metrics.length !== valuesCount) {
    throw new Error(`${where}: schema declares ${schema.metrics.length} metrics but the header says ${valuesCount}`);
  }
  return { schema, regionSize, valuesOffset, valuesCount };
}
