// netbase: the one shared-memory region that mirrors the kernel's links, IPv4 addresses, IPv4 routes
// (tables local 255 and main 254) and neighbors. The netlink tile is its only writer; every other
// process maps it read-only. This module declares the layout ONCE (header words, section offsets,
// entry formats, hash functions) and validates it for every mapper.
//
// Region (all sections 4 KiB aligned, little-endian 32-bit words):
//   header      4 KiB: magic, version, capacities, section offsets, sync words, 64-bit counters
//   interfaces  open-addressed table keyed by ifindex, double-buffered versioned entries, addresses inline
//   neighbors   open-addressed table keyed by (ifindex, ip), double-buffered versioned entries
//   tbl24       2^24 words: route entry for each /24 (0 = no route, nexthop index + 1, or a tbl8 link)
//   tbl8        groups of 16 words, one per /28 row, for /24 blocks that hold routes longer than /24
//               (an answer, or a link to a row)
//   tbl8 rows   rows of 16 words, one per address, for /28s that hold routes longer than /28
// (Version 2: a /32 costs a group and a row, 128 bytes, instead of a 1 KiB group of 256 words.)
//   nexthops    32-byte immutable records {gen, type/scope/table, gateway, oif, prefsrc, metric, src}
//   routes      one 16-byte slot per route {seq, dst, len/table/live, nexthop}: listing only (show/diff)
//
// Version 4 adds IPv6 (see lpm6.ts for why the structure):
//   addrs6      open-addressed table keyed by ifindex: the interface's IPv6 addresses, versioned entries
//   neighbors6  open-addressed table keyed by (ifindex, address), double-buffered versioned entries
//   lpm6 root   2^16 words: answer for each /16 (0 = no route, nexthop6 index + 1, or a node link)
//   lpm6 nodes  nodes of 256 words, one per 8-bit stride (bits 16-23, 24-31, ... 120-127)
//   nexthops6   64-byte immutable records {gen, meta, gateway x4, oif, prefsrc x4, metric, src x4}
//   routes6     one 32-byte slot per IPv6 route {seq, dst x4, len/table/live, nexthop6}: listing only
//
// Lookups read tbl24 (and tbl8) then one nexthop record. Distinct routes that share the same answer
// share one nexthop record (an Internet table has a handful), so that record stays in cache.

/** "NBAS" */
export const NETBASE_MAGIC = 0x5341424e;
export const NETBASE_VERSION = 4;
export const NETBASE_HEADER_BYTES = 4096;
const SECTION_ALIGN = 4096;

// ---- header words (Int32 indices) ----
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_HEADER_BYTES = 2;
export const H_REGION_BYTES_LO = 3;
export const H_REGION_BYTES_HI = 4;
export const H_CAP_ROUTES = 5;
export const H_CAP_NEXTHOPS = 6;
export const H_CAP_TBL8_GROUPS = 7;
export const H_CAP_NEIGHBORS = 8;
export const H_NEIGHBOR_SLOTS = 9;
export const H_CAP_INTERFACES = 10;
export const H_INTERFACE_SLOTS = 11;
export const H_ADDRS_PER_INTERFACE = 12;
export const H_INTERFACE_ENTRY_WORDS = 13;
export const H_CAP_TBL8_ROWS = 14;
export const H_OFF_INTERFACES = 16;
export const H_OFF_NEIGHBORS = 17;
export const H_OFF_TBL24 = 18;
export const H_OFF_TBL8 = 19;
export const H_OFF_NEXTHOPS = 20;
export const H_OFF_ROUTES = 21;
export const H_OFF_TBL8_ROWS = 22;
/** Bumped (Atomics) after every applied update: readers can tell that something changed. */
export const H_SYNC_GENERATION = 32;
/** Odd while the writer shifts neighbor entries (deletion): a reader's miss is only trusted when
 *  this word was even and unchanged across its probe (see seqtable.ts). */
export const H_NEIGHBOR_MOVE_SEQ = 33;
/** Same protocol for the interface table. */
export const H_INTERFACE_MOVE_SEQ = 34;
/** pid of the process that last opened the region as writer (information only). */
export const H_WRITER_PID = 35;
/** Move sequences of the IPv6 tables (same protocol as H_NEIGHBOR_MOVE_SEQ). */
export const H_NEIGHBOR6_MOVE_SEQ = 36;
export const H_ADDR6_MOVE_SEQ = 37;
// IPv6 capacities and sections (version 4).
export const H_CAP_ROUTES6 = 40;
export const H_CAP_NEXTHOPS6 = 41;
export const H_CAP_LPM6_NODES = 42;
export const H_CAP_NEIGHBORS6 = 43;
export const H_NEIGHBOR6_SLOTS = 44;
export const H_ADDRS6_PER_INTERFACE = 45;
export const H_ADDR6_ENTRY_WORDS = 46;
export const H_OFF_ADDRS6 = 48;
export const H_OFF_NEIGHBORS6 = 49;
export const H_OFF_LPM6_ROOT = 50;
export const H_OFF_LPM6_NODES = 51;
export const H_OFF_NEXTHOPS6 = 52;
export const H_OFF_ROUTES6 = 53;
/** Counters: Float64 (exact integers to 2^53) from this byte offset. */
export const H_COUNTERS_BYTE = 512;

/** Counters, in slot order (each one Float64 at H_COUNTERS_BYTE + 8 * index). Append only. */
export const NETBASE_COUNTERS = [
  "link_updates",
  "link_deletes",
  "addr_updates",
  "addr_deletes",
  "route_updates",
  "route_deletes",
  "neighbor_updates",
  "neighbor_deletes",
  "resyncs",
  "routes_local",
  "routes_main",
  "nexthops_used",
  "tbl8_groups_used",
  "neighbors",
  "interfaces",
  "drop_routes_full",
  "drop_nexthops_full",
  "drop_tbl8_full",
  "drop_neighbors_full",
  "drop_interfaces_full",
  "drop_addrs_full",
  "drop_addr_no_link",
  "drop_bad_record",
  "ignored_route_table",
  "ignored_route_tos",
  "delete_missing",
  "flushed_routes",
  "flushed_neighbors",
  "tbl8_rows_used",
  "drop_tbl8_rows_full",
  // IPv6 (version 4)
  "addr6_updates",
  "addr6_deletes",
  "route6_updates",
  "route6_deletes",
  "neighbor6_updates",
  "neighbor6_deletes",
  "routes6_local",
  "routes6_main",
  "nexthops6_used",
  "lpm6_nodes_used",
  "neighbors6",
  "drop_routes6_full",
  "drop_nexthops6_full",
  "drop_lpm6_nodes_full",
  "drop_neighbors6_full",
  "drop_addrs6_full",
  "flushed_routes6",
  "flushed_neighbors6",
] as const;
export type NetbaseCounter = (typeof NETBASE_COUNTERS)[number];
export const COUNTER_INDEX: Readonly<Record<NetbaseCounter, number>> = Object.fromEntries(
  NETBASE_COUNTERS.map((name, i) => [name, i]),
) as Record<NetbaseCounter, number>;

// ---- interface entry (words): IF_SEQ, then two copies of IF_COPY words; copy (seq & 1) is current ----
export const IF_SEQ = 0;
/** Word of copy 0; copy 1 follows it. */
export const IF_COPY = 1;
/** Fields inside a copy. ifindex 0 = empty slot (ifindex 0 never names a link). */
export const IFC_IFINDEX = 0;
export const IFC_STATE = 1;
export const IFC_MTU = 2;
export const IFC_TYPE = 3;
export const IFC_KERNEL_FLAGS = 4;
/** MAC bytes 0..3, big-endian in the word. */
export const IFC_MAC_HI = 5;
/** MAC bytes 4..5 in the low 16 bits. */
export const IFC_MAC_LO = 6;
/** Name: 16 bytes (IFNAMSIZ), NUL padded, in the host's byte order of the words. */
export const IFC_NAME = 7;
export const IF_NAME_BYTES = 16;
export const IFC_ADDR_COUNT = 11;
export const IFC_FIXED_WORDS = 12;
/** Per address: address, prefixLen | scope << 8, broadcast. */
export const IF_ADDR_WORDS = 3;
export const IF_STATE_UP = 1;
export const IF_STATE_LOWER_UP = 2;
export const IF_STATE_HAS_MAC = 4;

// ---- neighbor entry (words): NB_SEQ, then two copies of NB_COPY_WORDS; copy (seq & 1) is current ----
export const NB_SEQ = 0;
export const NB_COPY = 1;
export const NB_COPY_WORDS = 7;
/** 16 words = 64 bytes: one cache line per probed slot. */
export const NB_WORDS = 16;
/** Fields inside a copy. ifindex 0 = empty slot. */
export const NBC_IFINDEX = 0;
export const NBC_IP = 1;
export const NBC_MAC_HI = 2;
export const NBC_MAC_LO = 3;
export const NBC_STATE = 4;
export const NBC_FLAGS = 5;
export const NBC_INFO = 6;
export const NB_INFO_HAS_MAC = 1;

// ---- route lookup entries (tbl24 / tbl8 words) ----
/** Bit 31 set: the low 31 bits are a tbl8 group index. Otherwise 0 = no route, n = nexthop n - 1. */
export const ENTRY_GROUP_FLAG = 0x80000000;
export const TBL24_ENTRIES = 1 << 24;
/** Words of a tbl8 group: one per /28 row of its /24 block. */
export const TBL8_GROUP_WORDS = 16;
/** Words of a tbl8 row: one per address of its /28. */
export const TBL8_ROW_WORDS = 16;

// ---- nexthop record (words) ----
/** Generation: odd while being (re)written; readers retry when it is odd or changed. */
export const NH_GEN = 0;
/** type | scope << 8 | table << 16 | protocol << 24 (see nexthopMeta) */
export const NH_META = 1;
export const NH_GATEWAY = 2;
export const NH_OIF = 3;
export const NH_PREFSRC = 4;
export const NH_METRIC = 5;
/** Source address to use: prefsrc, else derived from the output interface's addresses, else 0. */
export const NH_SRC = 6;
export const NH_WORDS = 8;

// ---- route slot (words) ----
export const RT_SEQ = 0;
export const RT_DST = 1;
/** prefix length | table (0 = main, 1 = local) << 8 | live << 9 */
export const RT_META = 2;
export const RT_NEXTHOP = 3;
export const RT_WORDS = 4;
export const RT_META_LOCAL = 1 << 8;
export const RT_META_LIVE = 1 << 9;

// ---- IPv6 address entry (addrs6 table): A6_SEQ, then two copies; copy (seq & 1) is current ----
export const A6_SEQ = 0;
export const A6_COPY = 1;
/** Fields inside a copy. ifindex 0 = empty slot. */
export const A6C_IFINDEX = 0;
export const A6C_COUNT = 1;
export const A6C_FIXED_WORDS = 2;
/** Per address: 4 address words, prefixLen | scope << 8, IFA_F_* flags. */
export const A6_ADDR_WORDS = 6;
export const A6_PLEN_SCOPE = 4;
export const A6_FLAGS = 5;

// ---- IPv6 neighbor entry: NB6_SEQ, then two copies of NB6_COPY_WORDS; copy (seq & 1) is current ----
export const NB6_SEQ = 0;
export const NB6_COPY = 1;
export const NB6_COPY_WORDS = 10;
/** 32 words = two cache lines. */
export const NB6_WORDS = 32;
/** Fields inside a copy: key (ifindex, 4 address words) first. ifindex 0 = empty slot. */
export const NB6C_IFINDEX = 0;
export const NB6C_IP = 1;
export const NB6C_MAC_HI = 5;
export const NB6C_MAC_LO = 6;
export const NB6C_STATE = 7;
export const NB6C_FLAGS = 8;
export const NB6C_INFO = 9;

// ---- IPv6 LPM (lpm6.ts): entries as tbl24's (ENTRY_GROUP_FLAG | node, else nexthop6 + 1, 0 none) ----
export const LPM6_ROOT_BITS = 16;
export const LPM6_ROOT_ENTRIES = 1 << 16;
export const LPM6_STRIDE_BITS = 8;
export const LPM6_NODE_WORDS = 256;

// ---- IPv6 nexthop record (words) ----
export const NH6_GEN = 0;
/** type | scope << 8 | table << 16 | protocol << 24 */
export const NH6_META = 1;
export const NH6_GATEWAY = 2;
export const NH6_OIF = 6;
export const NH6_PREFSRC = 7;
export const NH6_METRIC = 11;
/** Source: prefsrc, else the output interface's best address for the route's prefix, else zero. */
export const NH6_SRC = 12;
export const NH6_WORDS = 16;

// ---- IPv6 route slot (words) ----
export const RT6_SEQ = 0;
export const RT6_DST = 1;
/** prefix length | local << 8 | live << 9 (RT_META_LOCAL, RT_META_LIVE) */
export const RT6_META = 5;
export const RT6_NEXTHOP = 6;
export const RT6_WORDS = 8;

/** Constants grouped with their C prefix, so a C header can be generated from this module. */
export const NETBASE_LAYOUT_CONSTANTS = {
  prefix: "TN_NETBASE_",
  constants: {
    MAGIC: NETBASE_MAGIC,
    VERSION: NETBASE_VERSION,
    HEADER_BYTES: NETBASE_HEADER_BYTES,
    SECTION_ALIGN,
    H_MAGIC,
    H_VERSION,
    H_HEADER_BYTES,
    H_REGION_BYTES_LO,
    H_REGION_BYTES_HI,
    H_CAP_ROUTES,
    H_CAP_NEXTHOPS,
    H_CAP_TBL8_GROUPS,
    H_CAP_NEIGHBORS,
    H_NEIGHBOR_SLOTS,
    H_CAP_INTERFACES,
    H_INTERFACE_SLOTS,
    H_ADDRS_PER_INTERFACE,
    H_INTERFACE_ENTRY_WORDS,
    H_CAP_TBL8_ROWS,
    H_OFF_INTERFACES,
    H_OFF_NEIGHBORS,
    H_OFF_TBL24,
    H_OFF_TBL8,
    H_OFF_NEXTHOPS,
    H_OFF_ROUTES,
    H_OFF_TBL8_ROWS,
    H_SYNC_GENERATION,
    H_NEIGHBOR_MOVE_SEQ,
    H_INTERFACE_MOVE_SEQ,
    H_WRITER_PID,
    H_COUNTERS_BYTE,
    COUNTER_COUNT: NETBASE_COUNTERS.length,
    IF_SEQ,
    IF_COPY,
    IFC_IFINDEX,
    IFC_STATE,
    IFC_MTU,
    IFC_TYPE,
    IFC_KERNEL_FLAGS,
    IFC_MAC_HI,
    IFC_MAC_LO,
    IFC_NAME,
    IF_NAME_BYTES,
    IFC_ADDR_COUNT,
    IFC_FIXED_WORDS,
    IF_ADDR_WORDS,
    IF_STATE_UP,
    IF_STATE_LOWER_UP,
    IF_STATE_HAS_MAC,
    NB_SEQ,
    NB_COPY,
    NB_COPY_WORDS,
    NB_WORDS,
    NBC_IFINDEX,
    NBC_IP,
    NBC_MAC_HI,
    NBC_MAC_LO,
    NBC_STATE,
    NBC_FLAGS,
    NBC_INFO,
    NB_INFO_HAS_MAC,
    ENTRY_GROUP_FLAG,
    TBL24_ENTRIES,
    TBL8_GROUP_WORDS,
    TBL8_ROW_WORDS,
    NH_GEN,
    NH_META,
    NH_GATEWAY,
    NH_OIF,
    NH_PREFSRC,
    NH_METRIC,
    NH_SRC,
    NH_WORDS,
    RT_SEQ,
    RT_DST,
    RT_META,
    RT_NEXTHOP,
    RT_WORDS,
    RT_META_LOCAL,
    RT_META_LIVE,
    H_NEIGHBOR6_MOVE_SEQ,
    H_ADDR6_MOVE_SEQ,
    H_CAP_ROUTES6,
    H_CAP_NEXTHOPS6,
    H_CAP_LPM6_NODES,
    H_CAP_NEIGHBORS6,
    H_NEIGHBOR6_SLOTS,
    H_ADDRS6_PER_INTERFACE,
    H_ADDR6_ENTRY_WORDS,
    H_OFF_ADDRS6,
    H_OFF_NEIGHBORS6,
    H_OFF_LPM6_ROOT,
    H_OFF_LPM6_NODES,
    H_OFF_NEXTHOPS6,
    H_OFF_ROUTES6,
    A6_SEQ,
    A6_COPY,
    A6C_IFINDEX,
    A6C_COUNT,
    A6C_FIXED_WORDS,
    A6_ADDR_WORDS,
    A6_PLEN_SCOPE,
    A6_FLAGS,
    NB6_SEQ,
    NB6_COPY,
    NB6_COPY_WORDS,
    NB6_WORDS,
    NB6C_IFINDEX,
    NB6C_IP,
    NB6C_MAC_HI,
    NB6C_MAC_LO,
    NB6C_STATE,
    NB6C_FLAGS,
    NB6C_INFO,
    LPM6_ROOT_BITS,
    LPM6_ROOT_ENTRIES,
    LPM6_STRIDE_BITS,
    LPM6_NODE_WORDS,
    NH6_GEN,
    NH6_META,
    NH6_GATEWAY,
    NH6_OIF,
    NH6_PREFSRC,
    NH6_METRIC,
    NH6_SRC,
    NH6_WORDS,
    RT6_SEQ,
    RT6_DST,
    RT6_META,
    RT6_NEXTHOP,
    RT6_WORDS,
  },
} as const;

// ---- capacities ----

export interface NetbaseCapacities {
  /** Live routes (local + main). Up to 4,000,000. */
  routes: number;
  /** Live neighbor entries; the table has twice as many slots (load factor <= 0.5). */
  neighbors: number;
  /** Live interfaces; the table has at least twice as many slots. */
  interfaces: number;
  /** IPv4 addresses kept per interface. */
  addrsPerInterface: number;
  /** Nexthop records (distinct route answers), including those waiting out their reuse delay.
   *  Default: routes + max(1024, routes / 8) (every route distinct, plus churn headroom). */
  nexthops: number;
  /** tbl8 groups: one per /24 block holding a route longer than /24 (plus reuse headroom).
   *  Default: routes + max(1024, routes / 8), so that any `routes` routes fit whatever their
   *  lengths (each /25-/32 route in its own /24 block needs a group of its own), plus churn
   *  headroom (freed groups wait out the reuse delay). 64 bytes each. */
  tbl8Groups: number;
  /** tbl8 rows: one per /28 holding a route longer than /28. Default as tbl8Groups. 64 bytes each. */
  tbl8Rows: number;
  /** Live IPv6 routes (local + main). Default 4096 (a host's own); a full IPv6 table is ~230,000. */
  routes6: number;
  /** IPv6 nexthop records (64 bytes each). Default: routes6 + max(1024, routes6 / 8). */
  nexthops6: number;
  /** IPv6 LPM nodes (1 KiB each): one per 8-bit stride that holds a longer prefix. An Internet
   *  mix (mostly /32-/48) needs about one per route; a lone /128 needs 14. Default: routes6 +
   *  max(1024, routes6 / 4). */
  lpm6Nodes: number;
  /** Live IPv6 neighbor entries; the table has twice as many slots. Default 4096. */
  neighbors6: number;
  /** IPv6 addresses kept per interface. Default 8. */
  addrs6PerInterface: number;
}

const LIMITS: Record<keyof NetbaseCapacities, [number, number]> = {
  routes: [1, 4_000_000],
  neighbors: [1, 4_000_000],
  interfaces: [1, 65536],
  addrsPerInterface: [1, 256],
  nexthops: [1, 8_000_000],
  // Group index << 8 must stay a positive int32 index.
  tbl8Groups: [1, 1 << 22],
  tbl8Rows: [1, 1 << 22],
  routes6: [1, 4_000_000],
  nexthops6: [1, 8_000_000],
  // Node index << 8 must stay a positive int32 index.
  lpm6Nodes: [1, 1 << 22],
  neighbors6: [1, 4_000_000],
  addrs6PerInterface: [1, 64],
};

/** Fills derived defaults (nexthops, tbl8Groups follow routes) and validates every capacity. */
export function netbaseCapacities(partial: Partial<NetbaseCapacities>): NetbaseCapacities {
  const routes = partial.routes ?? 65536;
  const routes6 = partial.routes6 ?? 4096;
  const caps: NetbaseCapacities = {
    routes,
    neighbors: partial.neighbors ?? 65536,
    interfaces: partial.interfaces ?? 256,
    addrsPerInterface: partial.addrsPerInterface ?? 16,
    nexthops: partial.nexthops ?? routes + Math.max(1024, Math.ceil(routes / 8)),
    tbl8Groups: partial.tbl8Groups ?? Math.min(1 << 22, routes + Math.max(1024, Math.ceil(routes / 8))),
    tbl8Rows: partial.tbl8Rows ?? Math.min(1 << 22, routes + Math.max(1024, Math.ceil(routes / 8))),
    routes6,
    nexthops6: partial.nexthops6 ?? routes6 + Math.max(1024, Math.ceil(routes6 / 8)),
    lpm6Nodes: partial.lpm6Nodes ?? Math.min(1 << 22, routes6 + Math.max(1024, Math.ceil(routes6 / 4))),
    neighbors6: partial.neighbors6 ?? 4096,
    addrs6PerInterface: partial.addrs6PerInterface ?? 8,
  };
  for (const [key, [min, max]] of Object.entries(LIMITS) as [keyof NetbaseCapacities, [number, number]][]) {
    const v = caps[key];
    if (!Number.isInteger(v) || v < min || v > max)
      throw new Error(`netbase: capacity ${key} must be an integer from ${min} to ${max} (got ${v})`);
  }
  return caps;
}

export const DEFAULT_NETBASE_CAPACITIES: Readonly<NetbaseCapacities> = netbaseCapacities({});

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function align(n: number): number {
  return Math.ceil(n / SECTION_ALIGN) * SECTION_ALIGN;
}

/** Where everything is, derived from the capacities alone (so every mapper can recompute it). */
export interface NetbaseLayout {
  caps: NetbaseCapacities;
  regionBytes: number;
  interfaceSlots: number;
  /** Words of one copy of an interface entry. */
  interfaceCopyWords: number;
  interfaceEntryWords: number;
  neighborSlots: number;
  /** Byte offsets. */
  interfacesOffset: number;
  neighborsOffset: number;
  tbl24Offset: number;
  tbl8Offset: number;
  tbl8RowsOffset: number;
  nexthopsOffset: number;
  routesOffset: number;
  /** IPv6 sections. */
  addr6CopyWords: number;
  addr6EntryWords: number;
  neighbor6Slots: number;
  addrs6Offset: number;
  neighbors6Offset: number;
  lpm6RootOffset: number;
  lpm6NodesOffset: number;
  nexthops6Offset: number;
  routes6Offset: number;
}

export function netbaseLayout(capsIn: Partial<NetbaseCapacities>): NetbaseLayout {
  const caps = netbaseCapacities(capsIn);
  const interfaceSlots = Math.max(8, nextPow2(caps.interfaces * 2));
  const interfaceCopyWords = IFC_FIXED_WORDS + IF_ADDR_WORDS * caps.addrsPerInterface;
  const interfaceEntryWords = IF_COPY + 2 * interfaceCopyWords;
  const neighborSlots = Math.max(16, nextPow2(caps.neighbors * 2));
  let at = NETBASE_HEADER_BYTES;
  const interfacesOffset = at;
  at = align(at + interfaceSlots * interfaceEntryWords * 4);
  const neighborsOffset = at;
  at = align(at + neighborSlots * NB_WORDS * 4);
  const tbl24Offset = at;
  at = align(at + TBL24_ENTRIES * 4);
  const tbl8Offset = at;
  at = align(at + caps.tbl8Groups * TBL8_GROUP_WORDS * 4);
  const tbl8RowsOffset = at;
  at = align(at + caps.tbl8Rows * TBL8_ROW_WORDS * 4);
  const nexthopsOffset = at;
  at = align(at + caps.nexthops * NH_WORDS * 4);
  const routesOffset = at;
  at = align(at + caps.routes * RT_WORDS * 4);
  const addr6CopyWords = A6C_FIXED_WORDS + A6_ADDR_WORDS * caps.addrs6PerInterface;
  const addr6EntryWords = A6_COPY + 2 * addr6CopyWords;
  const neighbor6Slots = Math.max(16, nextPow2(caps.neighbors6 * 2));
  const addrs6Offset = at;
  at = align(at + interfaceSlots * addr6EntryWords * 4);
  const neighbors6Offset = at;
  at = align(at + neighbor6Slots * NB6_WORDS * 4);
  const lpm6RootOffset = at;
  at = align(at + LPM6_ROOT_ENTRIES * 4);
  const lpm6NodesOffset = at;
  at = align(at + caps.lpm6Nodes * LPM6_NODE_WORDS * 4);
  const nexthops6Offset = at;
  at = align(at + caps.nexthops6 * NH6_WORDS * 4);
  const routes6Offset = at;
  at = align(at + caps.routes6 * RT6_WORDS * 4);
  return {
    addr6CopyWords,
    addr6EntryWords,
    neighbor6Slots,
    addrs6Offset,
    neighbors6Offset,
    lpm6RootOffset,
    lpm6NodesOffset,
    nexthops6Offset,
    routes6Offset,
    caps,
    regionBytes: at,
    interfaceSlots,
    interfaceCopyWords,
    interfaceEntryWords,
    neighborSlots,
    interfacesOffset,
    neighborsOffset,
    tbl24Offset,
    tbl8Offset,
    tbl8RowsOffset,
    nexthopsOffset,
    routesOffset,
  };
}

/** Bytes the launcher must allocate for these capacities. */
export function netbaseRegionSize(caps: Partial<NetbaseCapacities>): number {
  return netbaseLayout(caps).regionBytes;
}

/** Launcher: zeroes the region and writes the header. The buffer must be the whole region. */
export function initNetbase(
  buf: ArrayBuffer,
  capsIn: Partial<NetbaseCapacities>,
  opts: { alreadyZero?: boolean } = {},
): NetbaseLayout {
  const layout = netbaseLayout(capsIn);
  if (buf.byteLength < layout.regionBytes)
    throw new Error(
      `netbase: region of ${buf.byteLength} bytes is smaller than the ${layout.regionBytes} bytes these capacities need`,
    );
  // A fresh memfd reads as zeros: filling it would only allocate every page of a mostly empty table.
  if (!opts.alreadyZero) new Uint8Array(buf, 0, layout.regionBytes).fill(0);
  const h = new Int32Array(buf, 0, NETBASE_HEADER_BYTES / 4);
  const c = layout.caps;
  h[H_VERSION] = NETBASE_VERSION;
  h[H_HEADER_BYTES] = NETBASE_HEADER_BYTES;
  h[H_REGION_BYTES_LO] = (layout.regionBytes % 2 ** 32) | 0;
  h[H_REGION_BYTES_HI] = Math.floor(layout.regionBytes / 2 ** 32);
  h[H_CAP_ROUTES] = c.routes;
  h[H_CAP_NEXTHOPS] = c.nexthops;
  h[H_CAP_TBL8_GROUPS] = c.tbl8Groups;
  h[H_CAP_TBL8_ROWS] = c.tbl8Rows;
  h[H_CAP_NEIGHBORS] = c.neighbors;
  h[H_NEIGHBOR_SLOTS] = layout.neighborSlots;
  h[H_CAP_INTERFACES] = c.interfaces;
  h[H_INTERFACE_SLOTS] = layout.interfaceSlots;
  h[H_ADDRS_PER_INTERFACE] = c.addrsPerInterface;
  h[H_INTERFACE_ENTRY_WORDS] = layout.interfaceEntryWords;
  h[H_OFF_INTERFACES] = layout.interfacesOffset;
  h[H_OFF_NEIGHBORS] = layout.neighborsOffset;
  h[H_OFF_TBL24] = layout.tbl24Offset;
  h[H_OFF_TBL8] = layout.tbl8Offset;
  h[H_OFF_TBL8_ROWS] = layout.tbl8RowsOffset;
  h[H_OFF_NEXTHOPS] = layout.nexthopsOffset;
  h[H_OFF_ROUTES] = layout.routesOffset;
  h[H_CAP_ROUTES6] = c.routes6;
  h[H_CAP_NEXTHOPS6] = c.nexthops6;
  h[H_CAP_LPM6_NODES] = c.lpm6Nodes;
  h[H_CAP_NEIGHBORS6] = c.neighbors6;
  h[H_NEIGHBOR6_SLOTS] = layout.neighbor6Slots;
  h[H_ADDRS6_PER_INTERFACE] = c.addrs6PerInterface;
  h[H_ADDR6_ENTRY_WORDS] = layout.addr6EntryWords;
  h[H_OFF_ADDRS6] = layout.addrs6Offset;
  h[H_OFF_NEIGHBORS6] = layout.neighbors6Offset;
  h[H_OFF_LPM6_ROOT] = layout.lpm6RootOffset;
  h[H_OFF_LPM6_NODES] = layout.lpm6NodesOffset;
  h[H_OFF_NEXTHOPS6] = layout.nexthops6Offset;
  h[H_OFF_ROUTES6] = layout.routes6Offset;
  // Magic last: a mapper that sees it sees a complete header.
  Atomics.store(h, H_MAGIC, NETBASE_MAGIC | 0);
  return layout;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/** Every mapper (writer and readers): checks magic, version and that the header matches the layout
 *  recomputed from its own capacities and the mapping's size. Throws a clear Error otherwise. */
export function validateNetbase(buf: ArrayBuffer): NetbaseLayout {
  if (buf.byteLength < NETBASE_HEADER_BYTES)
    throw new Error(
      `netbase: mapping of ${buf.byteLength} bytes is smaller than the ${NETBASE_HEADER_BYTES}-byte header`,
    );
  const h = new Int32Array(buf, 0, NETBASE_HEADER_BYTES / 4);
  const magic = Atomics.load(h, H_MAGIC);
  if (magic !== (NETBASE_MAGIC | 0))
    throw new Error(
      `netbase: bad magic ${hex(magic)} (expected ${hex(NETBASE_MAGIC)}): not an initialized netbase region`,
    );
  if (h[H_VERSION] !== NETBASE_VERSION)
    throw new Error(`netbase: layout version ${h[H_VERSION]} but this build reads version ${NETBASE_VERSION}`);
  if (h[H_HEADER_BYTES] !== NETBASE_HEADER_BYTES)
    throw new Error(`netbase: header is ${h[H_HEADER_BYTES]} bytes, expected ${NETBASE_HEADER_BYTES}`);
  let layout: NetbaseLayout;
  try {
    layout = netbaseLayout({
      routes: h[H_CAP_ROUTES],
      nexthops: h[H_CAP_NEXTHOPS],
      tbl8Groups: h[H_CAP_TBL8_GROUPS],
      tbl8Rows: h[H_CAP_TBL8_ROWS],
      neighbors: h[H_CAP_NEIGHBORS],
      interfaces: h[H_CAP_INTERFACES],
      addrsPerInterface: h[H_ADDRS_PER_INTERFACE],
      routes6: h[H_CAP_ROUTES6],
      nexthops6: h[H_CAP_NEXTHOPS6],
      lpm6Nodes: h[H_CAP_LPM6_NODES],
      neighbors6: h[H_CAP_NEIGHBORS6],
      addrs6PerInterface: h[H_ADDRS6_PER_INTERFACE],
    });
  } catch (e) {
    throw new Error(`netbase: header holds invalid capacities: ${(e as Error).message}`);
  }
  const regionBytes = (h[H_REGION_BYTES_LO] >>> 0) + h[H_REGION_BYTES_HI] * 2 ** 32;
  const checks: [string, number, number][] = [
    ["region size", regionBytes, layout.regionBytes],
    ["neighbor slots", h[H_NEIGHBOR_SLOTS], layout.neighborSlots],
    ["interface slots", h[H_INTERFACE_SLOTS], layout.interfaceSlots],
    ["interface entry words", h[H_INTERFACE_ENTRY_WORDS], layout.interfaceEntryWords],
    ["interfaces offset", h[H_OFF_INTERFACES], layout.interfacesOffset],
    ["neighbors offset", h[H_OFF_NEIGHBORS], layout.neighborsOffset],
    ["tbl24 offset", h[H_OFF_TBL24], layout.tbl24Offset],
    ["tbl8 offset", h[H_OFF_TBL8], layout.tbl8Offset],
    ["tbl8 rows offset", h[H_OFF_TBL8_ROWS], layout.tbl8RowsOffset],
    ["nexthops offset", h[H_OFF_NEXTHOPS], layout.nexthopsOffset],
    ["routes offset", h[H_OFF_ROUTES], layout.routesOffset],
    ["neighbor6 slots", h[H_NEIGHBOR6_SLOTS], layout.neighbor6Slots],
    ["addr6 entry words", h[H_ADDR6_ENTRY_WORDS], layout.addr6EntryWords],
    ["addrs6 offset", h[H_OFF_ADDRS6], layout.addrs6Offset],
    ["neighbors6 offset", h[H_OFF_NEIGHBORS6], layout.neighbors6Offset],
    ["lpm6 root offset", h[H_OFF_LPM6_ROOT], layout.lpm6RootOffset],
    ["lpm6 nodes offset", h[H_OFF_LPM6_NODES], layout.lpm6NodesOffset],
    ["nexthops6 offset", h[H_OFF_NEXTHOPS6], layout.nexthops6Offset],
    ["routes6 offset", h[H_OFF_ROUTES6], layout.routes6Offset],
  ];
  for (const [what, got, want] of checks) {
    if (got !== want) throw new Error(`netbase: header ${what} is ${got} but the capacities give ${want}`);
  }
  if (buf.byteLength < layout.regionBytes)
    throw new Error(
      `netbase: mapping of ${buf.byteLength} bytes is smaller than the region (${layout.regionBytes} bytes)`,
    );
  return layout;
}

// ---- hashing (writer and readers must agree) ----

/** murmur3 finalizer: spreads sequential addresses over the table. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Home slot hash of a neighbor key (mask with slots - 1). */
export function neighborHash(ifindex: number, ip: number): number {
  return mix32(ip ^ Math.imul(ifindex, 0x9e3779b1));
}

/** Home slot hash of an interface (mask with slots - 1). */
export function interfaceHash(ifindex: number): number {
  return mix32(Math.imul(ifindex, 0x9e3779b1));
}

/** Home slot hash of an IPv6 neighbor key (mask with slots - 1). */
export function neighbor6Hash(ifindex: number, a0: number, a1: number, a2: number, a3: number): number {
  let h = Math.imul(ifindex, 0x9e3779b1) ^ a0;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ a1;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ a2;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ a3;
  return mix32(h);
}
