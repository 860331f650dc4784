// Read side of netbase, for every process (mapped read-only; the writer's diff uses it too).
// Hot-path lookups (route, neighbor, interface, local address) are allocation-free: they fill
// caller-owned result objects (lookup-results.ts) and use plain typed-array loads. The whole-region
// views (records for diff and verify, `netbase show`) are in listing.ts and show.ts.
//
// Memory ordering: this module assumes x86-64 (TSO) and V8, where plain typed-array loads are neither
// merged nor reordered with each other (checked by test/netbase-concurrent-stress.test.ts). In Node 20
// Atomics.load is an out-of-line call (~14 ns, 5x slower lookups, measured), so the hot paths do
// not use it. The writer publishes with Atomics.store (a full fence on x86-64), see writer.ts and its parts.
import {
  type Addr6Record,
  type Neigh6Record,
  type NeighRecord,
  type NetSnapshot,
  type Route6Record,
  type RouteRecord,
  RouteType,
} from "../netmodel";
import {
  A6_ADDR_WORDS,
  A6_COPY,
  A6_FLAGS,
  A6C_COUNT,
  A6C_FIXED_WORDS,
  A6C_IFINDEX,
  COUNTER_INDEX,
  ENTRY_GROUP_FLAG,
  H_ADDR6_MOVE_SEQ,
  H_COUNTERS_BYTE,
  H_INTERFACE_MOVE_SEQ,
  H_NEIGHBOR_MOVE_SEQ,
  H_NEIGHBOR6_MOVE_SEQ,
  H_SYNC_GENERATION,
  IF_ADDR_WORDS,
  IF_COPY,
  IF_STATE_HAS_MAC,
  IF_STATE_LOWER_UP,
  IF_STATE_UP,
  IFC_ADDR_COUNT,
  IFC_FIXED_WORDS,
  IFC_IFINDEX,
  IFC_KERNEL_FLAGS,
  IFC_MAC_HI,
  IFC_MAC_LO,
  IFC_MTU,
  IFC_STATE,
  IFC_TYPE,
  interfaceHash,
  LPM6_ROOT_ENTRIES,
  NB_COPY,
  NB_COPY_WORDS,
  NB_INFO_HAS_MAC,
  NB_WORDS,
  NB6_COPY,
  NB6_COPY_WORDS,
  NB6_WORDS,
  NB6C_FLAGS,
  NB6C_IFINDEX,
  NB6C_INFO,
  NB6C_IP,
  NB6C_MAC_HI,
  NB6C_MAC_LO,
  NB6C_STATE,
  NBC_FLAGS,
  NBC_IFINDEX,
  NBC_INFO,
  NBC_IP,
  NBC_MAC_HI,
  NBC_MAC_LO,
  NBC_STATE,
  NETBASE_COUNTERS,
  type NetbaseCapacities,
  type NetbaseCounter,
  type NetbaseLayout,
  NH_GATEWAY,
  NH_META,
  NH_METRIC,
  NH_OIF,
  NH_SRC,
  NH_WORDS,
  NH6_GATEWAY,
  NH6_META,
  NH6_METRIC,
  NH6_OIF,
  NH6_SRC,
  NH6_WORDS,
  neighbor6Hash,
  neighborHash,
  validateNetbase,
} from "./layout";
import { RegionListing, type StoredInterface } from "./listing";
import { listAddresses6, listNeighbors6, listRoutes6 } from "./listing6";
import {
  type InterfaceResult,
  type NeighborResult,
  type Route6Batch,
  type RouteBatch,
  RouteResult,
} from "./lookup-results";
import { type NetbaseShow, netbaseShowOf, netSnapshotOf } from "./show";
import { type Netbase6Lookups, Route6Result } from "./v6";

export type { StoredInterface } from "./listing";
export { InterfaceResult, NeighborResult, Route6Batch, RouteBatch, RouteResult } from "./lookup-results";
export type { NetbaseShow, ShowRoute } from "./show";
export { neighStateName, routeTypeName } from "./show";
export type { Netbase6Lookups } from "./v6";
export { Route6Result } from "./v6";

/** How often a lookup retries when it meets an entry being rewritten, before reporting a miss. */
export const LOOKUP_RETRIES = 8;

/** netbase structures with a capacity. */
export const NETBASE_STRUCTURES = [
  "routes",
  "nexthops",
  "tbl8_groups",
  "tbl8_rows",
  "neighbors",
  "interfaces",
  "routes6",
  "nexthops6",
  "lpm6_nodes",
  "neighbors6",
] as const;
export type StructureName = (typeof NETBASE_STRUCTURES)[number];

export interface StructureUse {
  name: StructureName;
  used: number;
  capacity: number;
  pct: number;
}

export class NetbaseReader implements Netbase6Lookups {
  readonly layout: NetbaseLayout;
  readonly capacities: NetbaseCapacities;
  private readonly v: Int32Array;
  private readonly counterView: Float64Array;
  private readonly tbl24: number;
  private readonly tbl8: number;
  private readonly rows: number;
  private readonly nh: number;
  private readonly nbBase: number;
  private readonly nbMask: number;
  private readonly ifBase: number;
  private readonly ifMask: number;
  private readonly ifWords: number;
  private readonly ifCopyWords: number;
  private readonly scratch = new RouteResult();
  private readonly scratch6 = new Route6Result();
  private readonly lpm6: number;
  private readonly lpm6Nodes: number;
  private readonly nh6: number;
  private readonly nb6Base: number;
  private readonly nb6Mask: number;
  private readonly a6Base: number;
  private readonly a6Words: number;
  private readonly a6CopyWords: number;
  private readonly listing: RegionListing;

  /** buf: the whole region, mapped read-only (or the writer's own mapping). Validates the header. */
  constructor(buf: ArrayBuffer) {
    if (process.arch !== "x64" && process.arch !== "ia32")
      throw new Error(
        `netbase: lock-free reads rely on x86 ordering (plain loads stay in order); ${process.arch} needs fences first`,
      );
    const layout = validateNetbase(buf);
    this.layout = layout;
    this.capacities = layout.caps;
    this.v = new Int32Array(buf, 0, layout.regionBytes / 4);
    this.counterView = new Float64Array(buf, H_COUNTERS_BYTE, NETBASE_COUNTERS.length);
    this.tbl24 = layout.tbl24Offset / 4;
    this.tbl8 = layout.tbl8Offset / 4;
    this.rows = layout.tbl8RowsOffset / 4;
    this.nh = layout.nexthopsOffset / 4;
    this.nbBase = layout.neighborsOffset / 4;
    this.nbMask = layout.neighborSlots - 1;
    this.ifBase = layout.interfacesOffset / 4;
    this.ifMask = layout.interfaceSlots - 1;
    this.ifWords = layout.interfaceEntryWords;
    this.ifCopyWords = layout.interfaceCopyWords;
    this.listing = new RegionListing(buf, layout);
    this.lpm6 = layout.lpm6RootOffset / 4;
    this.lpm6Nodes = this.lpm6 + LPM6_ROOT_ENTRIES;
    this.nh6 = layout.nexthops6Offset / 4;
    this.nb6Base = layout.neighbors6Offset / 4;
    this.nb6Mask = layout.neighbor6Slots - 1;
    this.a6Base = layout.addrs6Offset / 4;
    this.a6Words = layout.addr6EntryWords;
    this.a6CopyWords = layout.addr6CopyWords;
  }

  /** Changes every time the writer applies an update. */
  syncGeneration(): number {
    return Atomics.load(this.v, H_SYNC_GENERATION);
  }

  counters(): Record<NetbaseCounter, number> {
    const out = {} as Record<NetbaseCounter, number>;
    for (const name of NETBASE_COUNTERS) out[name] = this.counterView[COUNTER_INDEX[name]];
    return out;
  }

  /** How full each structure with a capacity is. Routes need the first four (a route longer than
   *  /24 needs a tbl8 group for its block, one longer than /28 a row for its /28). */
  usage(): StructureUse[] {
    const c = this.counters();
    const caps = this.layout.caps;
    const use = (name: StructureName, used: number, capacity: number): StructureUse => ({
      name,
      used,
      capacity,
      pct: capacity > 0 ? (used / capacity) * 100 : 0,
    });
    return [
      use("routes", c.routes_local + c.routes_main, caps.routes),
      use("nexthops", c.nexthops_used, caps.nexthops),
      use("tbl8_groups", c.tbl8_groups_used, caps.tbl8Groups),
      use("tbl8_rows", c.tbl8_rows_used, caps.tbl8Rows),
      use("neighbors", c.neighbors, caps.neighbors),
      use("interfaces", c.interfaces, caps.interfaces),
      use("routes6", c.routes6_local + c.routes6_main, caps.routes6),
      use("nexthops6", c.nexthops6_used, caps.nexthops6),
      use("lpm6_nodes", c.lpm6_nodes_used, caps.lpm6Nodes),
      use("neighbors6", c.neighbors6, caps.neighbors6),
    ];
  }

  /**
   * Longest-prefix match of dst (host-order u32) with the kernel's order: table local first (a
   * `throw` there continues in main), then main (a `throw` there is no route); longest prefix, then
   * lowest metric. Routes with a nonzero TOS are not stored, so this is the kernel's answer for TOS 0.
   * Returns false when there is no route. Two to four loads: tbl24, maybe a tbl8 group and row, one nexthop record.
   */
  lookupRoute(dst: number, out: RouteResult): boolean {
    const v = this.v;
    let e = v[this.tbl24 + (dst >>> 8)];
    if (e < 0) {
      e = v[this.tbl8 + ((e & ~ENTRY_GROUP_FLAG) << 4) + ((dst >>> 4) & 15)];
      if (e < 0) e = v[this.rows + ((e & ~ENTRY_GROUP_FLAG) << 4) + (dst & 15)];
    }
    if (e === 0) return false;
    const r = this.nh + (e - 1) * NH_WORDS;
    const gen = v[r];
    const gateway = v[r + NH_GATEWAY];
    out.rawMeta = v[r + NH_META];
    out.rawGateway = gateway;
    out.rawNexthop = gateway !== 0 ? gateway : dst | 0;
    out.rawIfindex = v[r + NH_OIF];
    out.rawSrc = v[r + NH_SRC];
    out.rawMetric = v[r + NH_METRIC];
    // A record is immutable while any entry points to it and for the reuse delay after; the
    // generation catches a reader that stalled across a reuse (then: look again).
    if ((gen & 1) === 0 && v[r] === gen) return true;
    return this.lookupRouteAgain(dst, out);
  }

  /** The rare path, kept out of lookupRoute so that stays small (it is inlined into callers). */
  private lookupRouteAgain(dst: number, out: RouteResult): boolean {
    const v = this.v;
    for (let attempt = 0; attempt < LOOKUP_RETRIES; attempt++) {
      let e = v[this.tbl24 + (dst >>> 8)];
      if (e < 0) {
        e = v[this.tbl8 + ((e & ~ENTRY_GROUP_FLAG) << 4) + ((dst >>> 4) & 15)];
        if (e < 0) e = v[this.rows + ((e & ~ENTRY_GROUP_FLAG) << 4) + (dst & 15)];
      }
      if (e === 0) return false;
      const r = this.nh + (e - 1) * NH_WORDS;
      const gen = v[r];
      const gateway = v[r + NH_GATEWAY];
      out.rawMeta = v[r + NH_META];
      out.rawGateway = gateway;
      out.rawNexthop = gateway !== 0 ? gateway : dst | 0;
      out.rawIfindex = v[r + NH_OIF];
      out.rawSrc = v[r + NH_SRC];
      out.rawMetric = v[r + NH_METRIC];
      if ((gen & 1) === 0 && v[r] === gen) return true;
    }
    return false;
  }

  /**
   * lookupRoute for dsts[from .. from + count) (count <= out.capacity) into out; returns how many
   * have a route. The tbl24 words of the whole batch are loaded first, so that their cache and TLB
   * misses overlap instead of following one another: faster per destination than lookupRoute when
   * packets come in batches.
   */
  lookupRoutes(dsts: Uint32Array, from: number, count: number, out: RouteBatch): number {
    const v = this.v;
    const tbl24 = this.tbl24;
    const tbl8 = this.tbl8;
    const nh = this.nh;
    const n = Math.min(count, out.capacity, dsts.length - from);
    const entries = out.entries;
    for (let i = 0; i < n; i++) entries[i] = v[tbl24 + (dsts[from + i] >>> 8)];
    const found = out.found;
    const type = out.type;
    const table = out.table;
    const nexthop = out.nexthop;
    const ifindex = out.ifindex;
    const src = out.src;
    const metric = out.metric;
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const dst = dsts[from + i];
      let e = entries[i];
      if (e < 0) {
        e = v[tbl8 + ((e & ~ENTRY_GROUP_FLAG) << 4) + ((dst >>> 4) & 15)];
        if (e < 0) e = v[this.rows + ((e & ~ENTRY_GROUP_FLAG) << 4) + (dst & 15)];
      }
      if (e === 0) {
        found[i] = 0;
        continue;
      }
      const r = nh + (e - 1) * NH_WORDS;
      const gen = v[r];
      const meta = v[r + NH_META];
      const gateway = v[r + NH_GATEWAY];
      type[i] = meta;
      table[i] = (meta >>> 16) & 255;
      nexthop[i] = gateway !== 0 ? gateway : dst;
      ifindex[i] = v[r + NH_OIF];
      src[i] = v[r + NH_SRC];
      metric[i] = v[r + NH_METRIC];
      if ((gen & 1) === 0 && v[r] === gen) {
        found[i] = 1;
        hits++;
        continue;
      }
      const again = this.scratch;
      found[i] = this.lookupRouteAgain(dst, again) ? 1 : 0;
      type[i] = again.type;
      table[i] = again.table;
      nexthop[i] = again.rawNexthop;
      ifindex[i] = again.rawIfindex;
      src[i] = again.rawSrc;
      metric[i] = again.rawMetric;
      hits += found[i];
    }
    return hits;
  }

  /** True when dst is one of this host's addresses (a route of type `local` matches it). */
  isLocalAddress(ip: number): boolean {
    return this.lookupRoute(ip, this.scratch) && this.scratch.type === RouteType.local;
  }

  /** Neighbor (ifindex, ip): copies the MAC into out.mac. Never returns a torn entry (see seqtable.ts). */
  lookupNeighbor(ifindex: number, ip: number, out: NeighborResult): boolean {
    const v = this.v;
    const mask = this.nbMask;
    ifindex |= 0;
    ip |= 0;
    const home = neighborHash(ifindex, ip) & mask;
    attempts: for (let attempt = 0; attempt < LOOKUP_RETRIES; attempt++) {
      const moveSeq = v[H_NEIGHBOR_MOVE_SEQ];
      for (let slot = home, n = 0; n <= mask; n++, slot = (slot + 1) & mask) {
        const b = this.nbBase + slot * NB_WORDS;
        const seq = v[b];
        const c = b + NB_COPY + (seq & 1) * NB_COPY_WORDS;
        const k = v[c + NBC_IFINDEX];
        if (k === ifindex && v[c + NBC_IP] === ip) {
          const hi = v[c + NBC_MAC_HI];
          const lo = v[c + NBC_MAC_LO];
          const state = v[c + NBC_STATE];
          const flags = v[c + NBC_FLAGS];
          const info = v[c + NBC_INFO];
          if (v[b] !== seq) continue attempts;
          const mac = out.mac;
          mac[0] = hi >>> 24;
          mac[1] = hi >>> 16;
          mac[2] = hi >>> 8;
          mac[3] = hi;
          mac[4] = lo >>> 8;
          mac[5] = lo;
          out.state = state;
          out.flags = flags;
          out.hasMac = (info & NB_INFO_HAS_MAC) !== 0;
          return true;
        }
        if (v[b] !== seq) continue attempts;
        if (k === 0) {
          // A miss is trusted only if no deletion moved entries during the probe.
          if ((moveSeq & 1) === 0 && v[H_NEIGHBOR_MOVE_SEQ] === moveSeq) return false;
          continue attempts;
        }
      }
    }
    return false;
  }

  /** Interface by ifindex: MAC, MTU, up, addresses (as many as out has room for). */
  lookupInterface(ifindex: number, out: InterfaceResult): boolean {
    const v = this.v;
    const mask = this.ifMask;
    ifindex |= 0;
    const home = interfaceHash(ifindex) & mask;
    attempts: for (let attempt = 0; attempt < LOOKUP_RETRIES; attempt++) {
      const moveSeq = v[H_INTERFACE_MOVE_SEQ];
      for (let slot = home, n = 0; n <= mask; n++, slot = (slot + 1) & mask) {
        const b = this.ifBase + slot * this.ifWords;
        const seq = v[b];
        const c = b + IF_COPY + (seq & 1) * this.ifCopyWords;
        const k = v[c + IFC_IFINDEX];
        if (k === ifindex) {
          const state = v[c + IFC_STATE];
          const hi = v[c + IFC_MAC_HI];
          const lo = v[c + IFC_MAC_LO];
          out.ifindex = ifindex >>> 0;
          out.mtu = v[c + IFC_MTU] >>> 0;
          out.type = v[c + IFC_TYPE];
          out.flags = v[c + IFC_KERNEL_FLAGS] >>> 0;
          out.up = (state & IF_STATE_UP) !== 0;
          out.lowerUp = (state & IF_STATE_LOWER_UP) !== 0;
          out.hasMac = (state & IF_STATE_HAS_MAC) !== 0;
          const mac = out.mac;
          mac[0] = hi >>> 24;
          mac[1] = hi >>> 16;
          mac[2] = hi >>> 8;
          mac[3] = hi;
          mac[4] = lo >>> 8;
          mac[5] = lo;
          const count = Math.min(v[c + IFC_ADDR_COUNT], out.addrs.length, this.capacities.addrsPerInterface);
          for (let i = 0; i < count; i++) {
            const a = c + IFC_FIXED_WORDS + i * IF_ADDR_WORDS;
            out.addrs[i] = v[a];
            out.prefixLens[i] = v[a + 1] & 255;
          }
          out.addrCount = count;
          if (v[b] !== seq) continue attempts;
          return true;
        }
        if (v[b] !== seq) continue attempts;
        if (k === 0) {
          if ((moveSeq & 1) === 0 && v[H_INTERFACE_MOVE_SEQ] === moveSeq) return false;
          continue attempts;
        }
      }
    }
    return false;
  }

  // ---- IPv6 (Netbase6Lookups) ----

  /** The LPM entry for the address: a nexthop6 record + 1, or 0 (root, then 8-bit strides). */
  private entry6(a0: number, a1: number, a2: number, a3: number): number {
    const v = this.v;
    let e = v[this.lpm6 + (a0 >>> 16)];
    if (e >= 0) return e;
    e = v[this.lpm6Nodes + ((e & ~ENTRY_GROUP_FLAG) << 8) + ((a0 >>> 8) & 255)];
    if (e >= 0) return e;
    e = v[this.lpm6Nodes + ((e & ~ENTRY_GROUP_FLAG) << 8) + (a0 & 255)];
    for (let depth = 32; e < 0; depth += 8) {
      const w = depth < 64 ? a1 : depth < 96 ? a2 : a3;
      e = v[this.lpm6Nodes + ((e & ~ENTRY_GROUP_FLAG) << 8) + ((w >>> (24 - (depth & 31))) & 255)];
    }
    return e;
  }

  /**
   * Longest-prefix match of an IPv6 destination (four words) over tables local then main (a
   * `throw` in local continues in main, in main it is no route), lowest metric among equal
   * prefixes. Fills out (src: the route's source; for a link-local destination the output
   * interface's link-local address). False when there is no route.
   */
  lookupRoute6(a0: number, a1: number, a2: number, a3: number, out: Route6Result): boolean {
    const v = this.v;
    for (let attempt = 0; attempt < LOOKUP_RETRIES; attempt++) {
      const e = this.entry6(a0, a1, a2, a3);
      if (e === 0) return false;
      const r = this.nh6 + (e - 1) * NH6_WORDS;
      const gen = v[r];
      const g0 = v[r + NH6_GATEWAY];
      const g1 = v[r + NH6_GATEWAY + 1];
      const g2 = v[r + NH6_GATEWAY + 2];
      const g3 = v[r + NH6_GATEWAY + 3];
      out.rawMeta = v[r + NH6_META];
      out.ifindex = v[r + NH6_OIF] >>> 0;
      out.metric = v[r + NH6_METRIC] >>> 0;
      const src = out.src;
      src[0] = v[r + NH6_SRC];
      src[1] = v[r + NH6_SRC + 1];
      src[2] = v[r + NH6_SRC + 2];
      src[3] = v[r + NH6_SRC + 3];
      if ((gen & 1) !== 0 || v[r] !== gen) continue; // record reused under a stalled reader: again
      const gw = out.gateway;
      gw[0] = g0;
      gw[1] = g1;
      gw[2] = g2;
      gw[3] = g3;
      const onLink = (g0 | g1 | g2 | g3) === 0;
      const nh = out.nexthop;
      nh[0] = onLink ? a0 : g0;
      nh[1] = onLink ? a1 : g1;
      nh[2] = onLink ? a2 : g2;
      nh[3] = onLink ? a3 : g3;
      if (a0 >>> 22 === 0x3fa) this.linkLocalAddress6(out.ifindex, src);
      return true;
    }
    return false;
  }

  /**
   * lookupRoute6 for the count destinations at dsts[4 * from ..] (count <= out.capacity) into out;
   * returns how many have a route. The batch walks the trie one stride at a time for all its
   * destinations, so that their cache misses (a full table does not fit in cache) overlap instead
   * of following one another.
   */
  lookupRoutes6(dsts: Uint32Array, from: number, count: number, out: Route6Batch): number {
    const v = this.v;
    const nodes = this.lpm6Nodes;
    const n = Math.min(count, out.capacity, (dsts.length >> 2) - from);
    const e = out.entries;
    let pending = false;
    for (let i = 0; i < n; i++) {
      const x = v[this.lpm6 + (dsts[4 * (from + i)] >>> 16)];
      e[i] = x;
      if (x < 0) pending = true;
    }
    for (let depth = 16; pending; depth += 8) {
      pending = false;
      const word = depth >>> 5;
      const shift = 24 - (depth & 31);
      for (let i = 0; i < n; i++) {
        let x = e[i];
        if (x >= 0) continue;
        x = v[nodes + ((x & ~ENTRY_GROUP_FLAG) << 8) + ((dsts[4 * (from + i) + word] >>> shift) & 255)];
        e[i] = x;
        if (x < 0) pending = true;
      }
    }
    let hits = 0;
    for (let i = 0; i < n; i++) hits += this.batchAnswer6(dsts, 4 * (from + i), e[i], out, i);
    return hits;
  }

  /** Entry i of a batch from its LPM entry x (the nexthop record read under its generation). */
  private batchAnswer6(dsts: Uint32Array, at: number, x: number, out: Route6Batch, i: number): number {
    const v = this.v;
    const a0 = dsts[at];
    if (x !== 0) {
      const r = this.nh6 + (x - 1) * NH6_WORDS;
      const gen = v[r];
      const meta = v[r + NH6_META];
      const g0 = v[r + NH6_GATEWAY];
      const g1 = v[r + NH6_GATEWAY + 1];
      const g2 = v[r + NH6_GATEWAY + 2];
      const g3 = v[r + NH6_GATEWAY + 3];
      const nh = out.nexthop;
      const onLink = (g0 | g1 | g2 | g3) === 0;
      nh[4 * i] = onLink ? a0 : g0;
      nh[4 * i + 1] = onLink ? dsts[at + 1] : g1;
      nh[4 * i + 2] = onLink ? dsts[at + 2] : g2;
      nh[4 * i + 3] = onLink ? dsts[at + 3] : g3;
      out.type[i] = meta;
      out.table[i] = meta >>> 16;
      out.ifindex[i] = v[r + NH6_OIF];
      out.metric[i] = v[r + NH6_METRIC];
      const src = out.src;
      for (let w = 0; w < 4; w++) src[4 * i + w] = v[r + NH6_SRC + w];
      if ((gen & 1) === 0 && v[r] === gen && a0 >>> 22 !== 0x3fa) {
        out.found[i] = 1;
        return 1;
      }
    }
    if (x === 0) {
      out.found[i] = 0;
      return 0;
    }
    // Rare: a record reused under a stalled reader, or a link-local destination: the single lookup.
    const one = this.scratch6;
    const ok = this.lookupRoute6(a0, dsts[at + 1], dsts[at + 2], dsts[at + 3], one);
    out.found[i] = ok ? 1 : 0;
    out.type[i] = one.type;
    out.table[i] = one.table;
    out.ifindex[i] = one.ifindex;
    out.metric[i] = one.metric;
    out.nexthop.set(one.nexthop, 4 * i);
    out.src.set(one.src, 4 * i);
    return ok ? 1 : 0;
  }

  /** True when the address is one of this host's (a route of type `local` matches it). */
  isLocalAddress6(a0: number, a1: number, a2: number, a3: number): boolean {
    return this.lookupRoute6(a0, a1, a2, a3, this.scratch6) && this.scratch6.type === RouteType.local;
  }

  /** IPv6 neighbor (ifindex, address): MAC, NUD state. Never a torn entry (see seqtable.ts). */
  lookupNeighbor6(ifindex: number, a0: number, a1: number, a2: number, a3: number, out: NeighborResult): boolean {
    const v = this.v;
    const mask = this.nb6Mask;
    ifindex |= 0;
    a0 |= 0;
    a1 |= 0;
    a2 |= 0;
    a3 |= 0;
    const home = neighbor6Hash(ifindex, a0, a1, a2, a3) & mask;
    attempts: for (let attempt = 0; attempt < LOOKUP_RETRIES; attempt++) {
      const moveSeq = v[H_NEIGHBOR6_MOVE_SEQ];
      for (let slot = home, n = 0; n <= mask; n++, slot = (slot + 1) & mask) {
        const b = this.nb6Base + slot * NB6_WORDS;
        const seq = v[b];
        const c = b + NB6_COPY + (seq & 1) * NB6_COPY_WORDS;
        const k = v[c + NB6C_IFINDEX];
        if (
          k === ifindex &&
          v[c + NB6C_IP] === a0 &&
          v[c + NB6C_IP + 1] === a1 &&
          v[c + NB6C_IP + 2] === a2 &&
          v[c + NB6C_IP + 3] === a3
        ) {
          const hi = v[c + NB6C_MAC_HI];
          const lo = v[c + NB6C_MAC_LO];
          const state = v[c + NB6C_STATE];
          const flags = v[c + NB6C_FLAGS];
          const info = v[c + NB6C_INFO];
          if (v[b] !== seq) continue attempts;
          const mac = out.mac;
          mac[0] = hi >>> 24;
          mac[1] = hi >>> 16;
          mac[2] = hi >>> 8;
          mac[3] = hi;
          mac[4] = lo >>> 8;
          mac[5] = lo;
          out.state = state;
          out.flags = flags;
          out.hasMac = (info & NB_INFO_HAS_MAC) !== 0;
          return true;
        }
        if (v[b] !== seq) continue attempts;
        if (k === 0) {
          if ((moveSeq & 1) === 0 && v[H_NEIGHBOR6_MOVE_SEQ] === moveSeq) return false;
          continue attempts;
        }
      }
    }
    return false;
  }

  /** The interface's first link-local (fe80::/10) address, not tentative, into out[0..3]. */
  linkLocalAddress6(ifindex: number, out: Uint32Array): boolean {
    const v = this.v;
    const mask = this.ifMask;
    ifindex |= 0;
    const home = interfaceHash(ifindex) & mask;
    attempts: for (let attempt = 0; attempt < LOOKUP_RETRIES; attempt++) {
      const moveSeq = v[H_ADDR6_MOVE_SEQ];
      for (let slot = home, n = 0; n <= mask; n++, slot = (slot + 1) & mask) {
        const b = this.a6Base + slot * this.a6Words;
        const seq = v[b];
        const c = b + A6_COPY + (seq & 1) * this.a6CopyWords;
        const k = v[c + A6C_IFINDEX];
        if (k === ifindex) {
          const count = Math.min(v[c + A6C_COUNT], this.capacities.addrs6PerInterface);
          let found = -1;
          for (let i = 0; i < count && found < 0; i++) {
            const a = c + A6C_FIXED_WORDS + i * A6_ADDR_WORDS;
            if (v[a] >>> 22 === 0x3fa && (v[a + A6_FLAGS] & 0x48) === 0) found = a; // not tentative/dadfailed
          }
          const w0 = found < 0 ? 0 : v[found];
          const w1 = found < 0 ? 0 : v[found + 1];
          const w2 = found < 0 ? 0 : v[found + 2];
          const w3 = found < 0 ? 0 : v[found + 3];
          if (v[b] !== seq) continue attempts;
          if (found < 0) return false;
          out[0] = w0;
          out[1] = w1;
          out[2] = w2;
          out[3] = w3;
          return true;
        }
        if (v[b] !== seq) continue attempts;
        if (k === 0) {
          if ((moveSeq & 1) === 0 && v[H_ADDR6_MOVE_SEQ] === moveSeq) return false;
          continue attempts;
        }
      }
    }
    return false;
  }

  /** Every stored IPv6 address (allocates: show, diff, resync). */
  addresses6(): Addr6Record[] {
    return listAddresses6(this.v, this.layout);
  }

  /** Every stored IPv6 route, both tables (allocates). */
  routes6(): Route6Record[] {
    return listRoutes6(this.v, this.layout);
  }

  /** Every IPv6 neighbor entry (allocates). */
  neighbors6(): Neigh6Record[] {
    return listNeighbors6(this.v, this.layout);
  }

  // ---- the whole region (show, diff, verify): allocates, not for hot paths ----

  /** Every interface with its addresses, by ifindex. */
  interfaces(): StoredInterface[] {
    return this.listing.interfaces();
  }

  /** Every stored route (both tables), as records (tos is not stored: 0). */
  routes(): RouteRecord[] {
    return this.listing.routes();
  }

  /** Every neighbor entry, by (ifindex, ip). */
  neighbors(): NeighRecord[] {
    return this.listing.neighbors();
  }

  /** The region's content in the shape of a kernel dump (for diff and verification). */
  toNetSnapshot(): NetSnapshot {
    return {
      ...netSnapshotOf(this.listing),
      addrs6: this.addresses6(),
      routes6: this.routes6(),
      neighs6: this.neighbors6(),
    };
  }

  /** JSON of `tilenet netbase show`. */
  snapshot(): NetbaseShow {
    return netbaseShowOf(this.listing, this.addresses6(), this.routes6(), this.neighbors6());
  }
}
