// Read side of netbase, for every process (mapped read-only; the writer's diff uses it too).
// Hot-path lookups (route, neighbor, interface, local address) are allocation-free: they fill
// caller-owned result objects and use plain typed-array loads.
//
// Memory ordering: this module assumes x86-64 (TSO) and V8, where plain typed-array loads are neither
// merged nor reordered with each other (checked by test/netbase-concurrent-stress.test.ts). In Node 20
// Atomics.load is an out-of-line call (~14 ns, 5x slower lookups, measured), so the hot paths do
// not use it. The writer publishes with Atomics.store (a full fence on x86-64), see writer.ts.
import {
  ipToString,
  type LinkRecord,
  macToString,
  type NeighRecord,
  NeighState,
  type NetSnapshot,
  type RouteRecord,
  RouteType,
} from "../netmodel";
import {
  COUNTER_INDEX,
  ENTRY_GROUP_FLAG,
  H_COUNTERS_BYTE,
  H_INTERFACE_MOVE_SEQ,
  H_NEIGHBOR_MOVE_SEQ,
  H_SYNC_GENERATION,
  IF_ADDR_WORDS,
  IF_COPY,
  IF_NAME_BYTES,
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
  IFC_NAME,
  IFC_STATE,
  IFC_TYPE,
  interfaceHash,
  NB_COPY,
  NB_COPY_WORDS,
  NB_INFO_HAS_MAC,
  NB_WORDS,
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
  NH_PREFSRC,
  NH_SRC,
  NH_WORDS,
  neighborHash,
  RT_DST,
  RT_META,
  RT_META_LIVE,
  RT_META_LOCAL,
  RT_NEXTHOP,
  RT_WORDS,
  validateNetbase,
} from "./layout";

/** How often a lookup retries when it meets an entry being rewritten, before reporting a miss. */
export const LOOKUP_RETRIES = 8;
/** Non-hot enumeration (show/diff) retries per entry before skipping it. */
const LIST_RETRIES = 1000;

/**
 * Filled by lookupRoute. The lookup stores the record's raw 32-bit words (cheap: fewer stores and no
 * float conversions on the hot path); the getters give the documented values, IPv4 as host-order
 * unsigned 32-bit numbers.
 */
export class RouteResult {
  /** type | scope << 8 | table << 16 */
  rawMeta = 0;
  rawGateway = 0;
  rawNexthop = 0;
  rawIfindex = 0;
  rawSrc = 0;
  rawMetric = 0;
  /** RouteType value (unicast, local, broadcast, blackhole, unreachable, prohibit, ...). */
  get type(): number {
    return this.rawMeta & 255;
  }
  get scope(): number {
    return (this.rawMeta >>> 8) & 255;
  }
  /** 255 (local) or 254 (main). */
  get table(): number {
    return (this.rawMeta >>> 16) & 255;
  }
  /** The route's gateway, 0 when on-link. */
  get gateway(): number {
    return this.rawGateway >>> 0;
  }
  /** Where to send: the gateway, or the destination itself when on-link. */
  get nexthop(): number {
    return this.rawNexthop >>> 0;
  }
  get ifindex(): number {
    return this.rawIfindex >>> 0;
  }
  /** Source address: prefsrc, else the output interface's address on that subnet, else its first, else 0. */
  get src(): number {
    return this.rawSrc >>> 0;
  }
  get metric(): number {
    return this.rawMetric >>> 0;
  }
}

/** Filled by lookupRoutes: entry i answers dsts[from + i]. */
export class RouteBatch {
  readonly capacity: number;
  /** 1 when the destination has a route. */
  readonly found: Uint8Array;
  readonly type: Uint8Array;
  readonly table: Uint8Array;
  readonly nexthop: Uint32Array;
  readonly ifindex: Uint32Array;
  readonly src: Uint32Array;
  readonly metric: Uint32Array;
  /** Scratch: the tbl24 words, loaded first for all destinations so their cache misses overlap. */
  readonly entries: Int32Array;
  constructor(capacity = 64) {
    this.capacity = capacity;
    this.found = new Uint8Array(capacity);
    this.type = new Uint8Array(capacity);
    this.table = new Uint8Array(capacity);
    this.nexthop = new Uint32Array(capacity);
    this.ifindex = new Uint32Array(capacity);
    this.src = new Uint32Array(capacity);
    this.metric = new Uint32Array(capacity);
    this.entries = new Int32Array(capacity);
  }
}

/** Filled by lookupNeighbor. */
export class NeighborResult {
  readonly mac = new Uint8Array(6);
  /** NeighState bits. */
  state = 0;
  flags = 0;
  /** False while the kernel has no link-layer address (INCOMPLETE, FAILED): mac is then zero. */
  hasMac = false;
}

/** Filled by lookupInterface. */
export class InterfaceResult {
  ifindex = 0;
  mtu = 0;
  up = false;
  lowerUp = false;
  type = 0;
  flags = 0;
  hasMac = false;
  readonly mac = new Uint8Array(6);
  /** Number of entries filled in addrs/prefixLens (at most their length). */
  addrCount = 0;
  readonly addrs: Uint32Array;
  readonly prefixLens: Uint8Array;
  constructor(maxAddrs = 16) {
    this.addrs = new Uint32Array(maxAddrs);
    this.prefixLens = new Uint8Array(maxAddrs);
  }
}

/** JSON of `tilenet netbase show`. */
export interface NetbaseShow {
  interfaces: { ifindex: number; name: string; mac: string; mtu: number; up: boolean; addrs: string[] }[];
  routes: { local: ShowRoute[]; main: ShowRoute[] };
  neighbors: { ifindex: number; ip: string; mac: string; state: string }[];
}
export interface ShowRoute {
  dst: string;
  type: string;
  gateway?: string;
  ifindex: number;
  src?: string;
  metric: number;
  scope: number;
}

/** An interface as stored: its link record and its addresses. */
export interface StoredInterface {
  link: LinkRecord;
  addrs: { address: number; prefixLen: number; scope: number; broadcast: number }[];
}

const ROUTE_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(RouteType).map(([name, value]) => [value, name]),
);

export function routeTypeName(type: number): string {
  return ROUTE_TYPE_NAMES[type] ?? `type${type}`;
}

/** NUD state bits as names, e.g. "REACHABLE", "STALE|PROBE"; "NONE" for 0. */
export function neighStateName(state: number): string {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(NeighState)) if (state & bit) names.push(name.toUpperCase());
  return names.length ? names.join("|") : "NONE";
}

/** netbase structures with a capacity. */
export const NETBASE_STRUCTURES = [
  "routes",
  "nexthops",
  "tbl8_groups",
  "tbl8_rows",
  "neighbors",
  "interfaces",
] as const;
export type StructureName = (typeof NETBASE_STRUCTURES)[number];

export interface StructureUse {
  name: StructureName;
  used: number;
  capacity: number;
  pct: number;
}

export class NetbaseReader {
  readonly layout: NetbaseLayout;
  readonly capacities: NetbaseCapacities;
  private readonly v: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly counterView: Float64Array;
  private readonly tbl24: number;
  private readonly tbl8: number;
  private readonly rows: number;
  private readonly nh: number;
  private readonly routesBase: number;
  private readonly nbBase: number;
  private readonly nbMask: number;
  private readonly ifBase: number;
  private readonly ifMask: number;
  private readonly ifWords: number;
  private readonly ifCopyWords: number;
  private readonly scratch = new RouteResult();

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
    this.bytes = new Uint8Array(buf, 0, layout.regionBytes);
    this.counterView = new Float64Array(buf, H_COUNTERS_BYTE, NETBASE_COUNTERS.length);
    this.tbl24 = layout.tbl24Offset / 4;
    this.tbl8 = layout.tbl8Offset / 4;
    this.rows = layout.tbl8RowsOffset / 4;
    this.nh = layout.nexthopsOffset / 4;
    this.routesBase = layout.routesOffset / 4;
    this.nbBase = layout.neighborsOffset / 4;
    this.nbMask = layout.neighborSlots - 1;
    this.ifBase = layout.interfacesOffset / 4;
    this.ifMask = layout.interfaceSlots - 1;
    this.ifWords = layout.interfaceEntryWords;
    this.ifCopyWords = layout.interfaceCopyWords;
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
      table[i] = meta >>> 16;
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

  // ---- enumeration (show, diff, verify): allocates, not for hot paths ----

  /** Every interface with its addresses, by ifindex. */
  interfaces(): StoredInterface[] {
    const out: StoredInterface[] = [];
    const v = this.v;
    const decoder = new TextDecoder();
    for (let slot = 0; slot <= this.ifMask; slot++) {
      const b = this.ifBase + slot * this.ifWords;
      for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
        const seq = v[b];
        const c = b + IF_COPY + (seq & 1) * this.ifCopyWords;
        const ifindex = v[c + IFC_IFINDEX];
        const state = v[c + IFC_STATE];
        const nameBytes = this.bytes.slice((c + IFC_NAME) * 4, (c + IFC_NAME) * 4 + IF_NAME_BYTES);
        const end = nameBytes.indexOf(0);
        const addrs: StoredInterface["addrs"] = [];
        const count = Math.min(v[c + IFC_ADDR_COUNT], this.capacities.addrsPerInterface);
        for (let i = 0; i < count; i++) {
          const a = c + IFC_FIXED_WORDS + i * IF_ADDR_WORDS;
          addrs.push({
            address: v[a] >>> 0,
            prefixLen: v[a + 1] & 255,
            scope: (v[a + 1] >>> 8) & 255,
            broadcast: v[a + 2] >>> 0,
          });
        }
        const link: LinkRecord = {
          ifindex: ifindex >>> 0,
          name: decoder.decode(end >= 0 ? nameBytes.subarray(0, end) : nameBytes),
          mac: state & IF_STATE_HAS_MAC ? unpackMac(v[c + IFC_MAC_HI], v[c + IFC_MAC_LO]) : null,
          mtu: v[c + IFC_MTU] >>> 0,
          up: (state & IF_STATE_UP) !== 0,
          lowerUp: (state & IF_STATE_LOWER_UP) !== 0,
          type: v[c + IFC_TYPE],
          flags: v[c + IFC_KERNEL_FLAGS] >>> 0,
        };
        if (v[b] !== seq) continue;
        if (ifindex !== 0) out.push({ link, addrs });
        break;
      }
    }
    return out.sort((a, b) => a.link.ifindex - b.link.ifindex);
  }

  /** Every stored route (both tables), as records (protocol and tos are not stored: 0). */
  routes(): RouteRecord[] {
    const out: RouteRecord[] = [];
    const v = this.v;
    for (let slot = 0; slot < this.capacities.routes; slot++) {
      const b = this.routesBase + slot * RT_WORDS;
      for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
        const seq = v[b];
        if ((seq & 1) !== 0) continue;
        const meta = v[b + RT_META];
        if ((meta & RT_META_LIVE) === 0) break;
        const dst = v[b + RT_DST] >>> 0;
        const r = this.nh + v[b + RT_NEXTHOP] * NH_WORDS;
        const gen = v[r];
        const nhMeta = v[r + NH_META];
        const route: RouteRecord = {
          table: meta & RT_META_LOCAL ? 255 : 254,
          type: nhMeta & 255,
          dst,
          dstLen: meta & 63,
          gateway: v[r + NH_GATEWAY] >>> 0,
          oif: v[r + NH_OIF] >>> 0,
          prefsrc: v[r + NH_PREFSRC] >>> 0,
          priority: v[r + NH_METRIC] >>> 0,
          scope: (nhMeta >>> 8) & 255,
          protocol: 0,
          tos: 0,
        };
        if ((gen & 1) !== 0 || v[r] !== gen || v[b] !== seq) continue;
        out.push(route);
        break;
      }
    }
    return out.sort((a, b) => a.table - b.table || a.dst - b.dst || a.dstLen - b.dstLen || a.priority - b.priority);
  }

  /** Every neighbor entry, by (ifindex, ip). */
  neighbors(): NeighRecord[] {
    const out: NeighRecord[] = [];
    const v = this.v;
    for (let slot = 0; slot <= this.nbMask; slot++) {
      const b = this.nbBase + slot * NB_WORDS;
      for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
        const seq = v[b];
        const c = b + NB_COPY + (seq & 1) * NB_COPY_WORDS;
        const ifindex = v[c + NBC_IFINDEX];
        const info = v[c + NBC_INFO];
        const rec: NeighRecord = {
          ifindex: ifindex >>> 0,
          ip: v[c + NBC_IP] >>> 0,
          mac: info & NB_INFO_HAS_MAC ? unpackMac(v[c + NBC_MAC_HI], v[c + NBC_MAC_LO]) : null,
          state: v[c + NBC_STATE],
          flags: v[c + NBC_FLAGS],
        };
        if (v[b] !== seq) continue;
        if (ifindex !== 0) out.push(rec);
        break;
      }
    }
    return out.sort((a, b) => a.ifindex - b.ifindex || a.ip - b.ip);
  }

  /** The region's content in the shape of a kernel dump (for diff and verification). */
  toNetSnapshot(): NetSnapshot {
    const ifs = this.interfaces();
    return {
      links: ifs.map((i) => i.link),
      addrs: ifs.flatMap((i) =>
        i.addrs.map((a) => ({
          ifindex: i.link.ifindex,
          address: a.address,
          prefixLen: a.prefixLen,
          broadcast: a.broadcast,
          scope: a.scope,
        })),
      ),
      routes: this.routes(),
      neighs: this.neighbors(),
    };
  }

  /** JSON of `tilenet netbase show`. */
  snapshot(): NetbaseShow {
    const routes = this.routes();
    const show = (r: RouteRecord): ShowRoute => {
      // Key order as documented: dst, type, gateway?, ifindex, src?, metric, scope.
      return {
        dst: `${ipToString(r.dst)}/${r.dstLen}`,
        type: routeTypeName(r.type),
        ...(r.gateway !== 0 ? { gateway: ipToString(r.gateway) } : {}),
        ifindex: r.oif,
        ...(r.prefsrc !== 0 ? { src: ipToString(r.prefsrc) } : {}),
        metric: r.priority,
        scope: r.scope,
      };
    };
    return {
      interfaces: this.interfaces().map((i) => ({
        ifindex: i.link.ifindex,
        name: i.link.name,
        mac: macToString(i.link.mac),
        mtu: i.link.mtu,
        up: i.link.up,
        addrs: i.addrs.map((a) => `${ipToString(a.address)}/${a.prefixLen}`),
      })),
      routes: {
        local: routes.filter((r) => r.table === 255).map(show),
        main: routes.filter((r) => r.table === 254).map(show),
      },
      neighbors: this.neighbors().map((n) => ({
        ifindex: n.ifindex,
        ip: ipToString(n.ip),
        mac: macToString(n.mac),
        state: neighStateName(n.state),
      })),
    };
  }
}

function unpackMac(hi: number, lo: number): Uint8Array {
  return Uint8Array.of(hi >>> 24, (hi >>> 16) & 255, (hi >>> 8) & 255, hi & 255, (lo >>> 8) & 255, lo & 255);
}
