// Memory layout of a tile's metrics region, declared once. The launcher creates one region (a
// memfd) per tile and initialises it; the tile maps it read-write and is its only writer; status,
// monitor and the Prometheus exporter map it read-only. All integers are little-endian.
//
//   offset  size  field
//        0     4  magic            u32 METRICS_MAGIC ("TNMR"), written last by initMetricsRegion
//        4     4  version          u32 METRICS_VERSION
//        8     4  region size      u32 bytes (the memfd's size)
//       12     4  schema offset    u32 bytes from the start of the region
//       16     4  schema length    u32 bytes of UTF-8 schema text (see schema.ts)
//       20     4  values offset    u32 bytes, 8-aligned
//       24     4  values count     u32 number of f64 values (= metrics in the schema)
//       28     4  reserved         0
//       32     4  pid              i32 written by the tile at start-up (0 = not attached yet)
//       36     4  state            i32 booting=1 running=2 halting=3 failed=4
//       40     8  heartbeat ns     f64 CLOCK_MONOTONIC ns of the last heartbeat (0 = never)
//       48     8  heartbeat seq    f64 heartbeats so far (exact up to 2^53)
//       56     8  reserved         0
//       64     .  schema text, then padding to 8, then values (f64 each, in schema order)
//
// Heartbeat time and sequence are f64 rather than u64 so that the tile's hot path never builds a
// BigInt; f64 holds CLOCK_MONOTONIC ns exactly to 0.125 ns for 13 days of uptime and to 1 ns
// for 104 days, which is far finer than any staleness threshold.

/** Layout constants as one group, so a C header can be generated from them (prefix + name). */
export const METRICS_LAYOUT = {
  prefix: "TILENET_METRICS_",
  constants: {
    MAGIC: 0x524d4e54, // "TNMR" read as a little-endian u32
    VERSION: 1,
    HEADER_SIZE: 64,
    OFF_MAGIC: 0,
    OFF_VERSION: 4,
    OFF_REGION_SIZE: 8,
    OFF_SCHEMA_OFFSET: 12,
    OFF_SCHEMA_LENGTH: 16,
    OFF_VALUES_OFFSET: 20,
    OFF_VALUES_COUNT: 24,
    OFF_PID: 32,
    OFF_STATE: 36,
    OFF_HEARTBEAT_NS: 40,
    OFF_HEARTBEAT_SEQ: 48,
    VALUE_SIZE: 8,
    /** Regions are rounded up to whole pages (memfd sizes and mappings are page-granular anyway). */
    PAGE_SIZE: 4096,
    /** Upper bound on a region, so a corrupt header cannot make a reader allocate wildly. */
    MAX_REGION_SIZE: 16 * 1024 * 1024,
    STATE_BOOTING: 1,
    STATE_RUNNING: 2,
    STATE_HALTING: 3,
    STATE_FAILED: 4,
  },
} as const;

const C = METRICS_LAYOUT.constants;

export const METRICS_MAGIC = C.MAGIC;
export const METRICS_VERSION = C.VERSION;
export const METRICS_HEADER_SIZE = C.HEADER_SIZE;

/** Offsets in units of the typed-array view that accesses them (u32 / i32 / f64 words). */
export const U32_MAGIC = C.OFF_MAGIC / 4;
export const U32_VERSION = C.OFF_VERSION / 4;
export const U32_REGION_SIZE = C.OFF_REGION_SIZE / 4;
export const U32_SCHEMA_OFFSET = C.OFF_SCHEMA_OFFSET / 4;
export const U32_SCHEMA_LENGTH = C.OFF_SCHEMA_LENGTH / 4;
export const U32_VALUES_OFFSET = C.OFF_VALUES_OFFSET / 4;
export const U32_VALUES_COUNT = C.OFF_VALUES_COUNT / 4;
export const I32_PID = C.OFF_PID / 4;
export const I32_STATE = C.OFF_STATE / 4;
export const F64_HEARTBEAT_NS = C.OFF_HEARTBEAT_NS / 8;
export const F64_HEARTBEAT_SEQ = C.OFF_HEARTBEAT_SEQ / 8;

export const TileState = {
  booting: C.STATE_BOOTING,
  running: C.STATE_RUNNING,
  halting: C.STATE_HALTING,
  failed: C.STATE_FAILED,
} as const;
export type TileStateName = keyof typeof TileState;
export type TileStateCode = (typeof TileState)[TileStateName];

/** Name of a state code read from a region; codes outside the enum read as "invalid(<n>)". */
export function tileStateName(code: number): TileStateName | `invalid(${number})` {
  switch (code) {
    case C.STATE_BOOTING:
      return "booting";
    case C.STATE_RUNNING:
      return "running";
    case C.STATE_HALTING:
      return "halting";
    case C.STATE_FAILED:
      return "failed";
    default:
      return `invalid(${code})`;
  }
}
