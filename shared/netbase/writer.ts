// Write side of netbase: the netlink tile's only handle on the region (read-write mapping).
//
// Routes: the writer keeps its control-plane model (a Patricia trie of every route with, per
// prefix and table, the alternatives ordered by metric) in its own heap, and the region holds the
// answer for every address in a DIR-24-8 table: tbl24 (one word per /24) and tbl8 groups (256 words,
// for /24 blocks that hold longer prefixes). The local and main tables are combined into that one
// structure: each entry holds the kernel's final answer (local first, `throw` falls through to
// main, `throw` in main = no route), so a lookup is 2-3 loads whatever the tables hold.
//
// Every change is a delta: a route change repaints only the addresses it governs (its prefix minus
// more specific prefixes of the same table, which keep their own answer), each entry with a single
// 32-bit store of the new answer, so a reader sees the old or the new answer and never a hole.
// Deleting a route repaints its addresses with the next best covering route. Answers point to
// immutable nexthop records shared by all routes with the same answer; a record is fully written
// and its generation published (Atomics.store, a full fence) before any entry points to it, and a
// record or tbl8 group no longer referenced waits `reuseDelayMs` before it is reused (readers hold
// no pointer across lookups; the generation check catches a reader stalled longer than that).
import {
  type AddrRecord,
  type LinkRecord,
  type NeighRecord,
  type NetEvent,
  type NetSnapshot,
  type RouteRecord,
  RouteTable,
  RouteType,
} from "../netmodel";
import { diffNetbase, isMirroredRoute, normalizeSnapshot, normalMac, normalName, sameAddr, sameLink } from "./diff";
import {
  COUNTER_INDEX,
  ENTRY_GROUP_FLAG,
  H_COUNTERS_BYTE,
  H_INTERFACE_MOVE_SEQ,
  H_NEIGHBOR_MOVE_SEQ,
  H_SYNC_GENERATION,
  H_WRITER_PID,
  IF_ADDR_WORDS,
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
  NH_GEN,
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
  RT_SEQ,
  RT_WORDS,
  TBL8_GROUP_WORDS,
  TBL8_ROW_WORDS,
  TBL24_ENTRIES,
  validateNetbase,
} from "./layout";
import { NetbaseReader } from "./reader";
import { busyDelay, SeqTableWriter } from "./seqtable";
import {
  bitAt,
  mask32,
  N_CHILD0,
  N_CHILD1,
  N_HEAD_LOCAL,
  N_HEAD_MAIN,
  N_KEY,
  N_LEN,
  NONE,
  PrefixTrie,
  TABLE_LOCAL,
  TABLE_MAIN,
} from "./trie";

export interface NetbaseWriterOptions {
  /** How long a nexthop record or tbl8 group that nothing points to waits before reuse. Default 1000 ms. */
  reuseDelayMs?: number;
  /** Monotonic clock in ms (tests inject one). Default performance.now. */
  now?: () => number;
  /** TEST ONLY: deliberately broken variants, to prove the concurrent stress test catches them. */
  unsafe?: {
    /** Neighbor entries rewritten in place without versioning, key first (Firedancer issue 11198). */
    neighborSkipVersioning?: boolean;
    /** Route repaints clear the covered entries before writing the answers (a rebuild, not a delta). */
    routeClearThenFill?: boolean;
    /** Busy-loop iterations in the middle of every neighbor write (between key and MAC) and every
     *  route fill, in correct and broken variants alike: widens the windows a reader could hit. */
    writeDelay?: number;
  };
}

export interface ResyncResult {
  added: number;
  removed: number;
  changed: number;
}

/** Indexes of freed resources waiting out their reuse delay, oldest first. */
class DeferredReuse {
  private items: number[] = [];
  private times: number[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: number, at: number): void {
    this.items.push(item);
    this.times.push(at);
  }

  /** Oldest item freed at least `delay` ago for which stillFree(item, freedAt) holds, or -1. */
  take(now: number, delay: number, stillFree: (item: number, at: number) => boolean): number {
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      const at = this.times[this.head];
      if (!stillFree(item, at)) {
        this.head++;
        continue;
      }
      if (now - at < delay) return -1;
      this.head++;
      this.compact();
      return item;
    }
    return -1;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

const THROW = RouteType.throw;

/** Hash of a nexthop record's content (int32 words). */
function nexthopHash(meta: number, gateway: number, oif: number, prefsrc: number, metric: number, src: number): number {
  let h = Math.imul(meta ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ gateway ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ oif ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ prefsrc ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ metric ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ src ^ (h >>> 15), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
const textEncoder = new TextEncoder();

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function macWords(mac: Uint8Array | null): [number, number] {
  if (mac?.length !== 6) return [0, 0];
  return [(mac[0] << 24) | (mac[1] << 16) | (mac[2] << 8) | mac[3] | 0, (mac[4] << 8) | mac[5]];
}

export class NetbaseWriter {
  readonly layout: NetbaseLayout;
  readonly capacities: NetbaseCapacities;
  /** A reader over the writer's own mapping (diff, tests). */
  readonly reader: NetbaseReader;
  private readonly v: Int32Array;
  private readonly counterView: Float64Array;
  private readonly tbl24: number;
  private readonly tbl8: number;
  private readonly rowsBase: number;
  private readonly nhBase: number;
  private readonly routesBase: number;
  private readonly reuseDelayMs: number;
  private readonly now: () => number;
  private readonly clearThenFill: boolean;
  private readonly fillDelay: number;

  // Routes (per route slot; slots are also the route ids in the trie lists).
  private readonly trie = new PrefixTrie();
  private readonly routeNh: Int32Array;
  private readonly routeNext: Int32Array;
  private readonly routeMetric: Float64Array;
  private readonly routeType: Uint8Array;
  private readonly routeDst: Int32Array;
  private readonly routeLen: Uint8Array;
  private readonly routeTable: Uint8Array;
  private readonly routeFree: Int32Array;
  private routeFreeTop = 0;
  private routeHighWater = 0;
  private liveRoutes = 0;
  private readonly tableRoutes = [0, 0];

  // Nexthop records.
  private readonly nhRef: Int32Array;
  private readonly nhFreedAt: Float64Array;
  /** Records by content: hash -> first record, chained through nhChain (-1 ends). */
  private readonly nhByHash = new Map<number, number>();
  private readonly nhChain: Int32Array;
  private readonly nhHashOf: Int32Array;
  private readonly nhReuse = new DeferredReuse();
  private nhHighWater = 0;
  private nhLive = 0;

  // tbl8 groups.
  private readonly groupReuse = new DeferredReuse();
  private groupHighWater = 0;
  private groupsUsed = 0;
  // tbl8 rows (the group word of a /28 links one while the /28 holds a longer prefix).
  private readonly rowReuse = new DeferredReuse();
  private rowHighWater = 0;
  private rowsUsed = 0;
  /** One bit per /24 block: set while the block's tbl24 word links a group. */
  private readonly groupBits = new Uint32Array(TBL24_ENTRIES / 32);

  // Interfaces and neighbors.
  private readonly ifTable: SeqTableWriter;
  private readonly nbTable: SeqTableWriter;
  private readonly ifScratch: Int32Array;
  private readonly nbScratch = new Int32Array(NB_COPY_WORDS);
  private interfaceCount = 0;
  private neighborCount = 0;
  /** Resync bookkeeping: slots stamped with the current epoch were in the dump. */
  private resyncEpoch = 0;
  private readonly routeSeen: Uint32Array;
  private readonly neighborSeen: Uint32Array;
  /** During resync, interfaces whose addresses changed (derived sources refreshed at the end). */
  private deferredSrcRefresh: Set<number> | null = null;

  constructor(buf: ArrayBuffer, options: NetbaseWriterOptions = {}) {
    this.layout = validateNetbase(buf);
    this.capacities = this.layout.caps;
    this.reader = new NetbaseReader(buf);
    const caps = this.capacities;
    this.v = new Int32Array(buf, 0, this.layout.regionBytes / 4);
    this.counterView = new Float64Array(buf, H_COUNTERS_BYTE, NETBASE_COUNTERS.length);
    this.tbl24 = this.layout.tbl24Offset / 4;
    this.tbl8 = this.layout.tbl8Offset / 4;
    this.rowsBase = this.layout.tbl8RowsOffset / 4;
    this.nhBase = this.layout.nexthopsOffset / 4;
    this.routesBase = this.layout.routesOffset / 4;
    this.reuseDelayMs = options.reuseDelayMs ?? 1000;
    this.now = options.now ?? (() => performance.now());
    this.clearThenFill = options.unsafe?.routeClearThenFill ?? false;
    this.fillDelay = options.unsafe?.writeDelay ?? 0;

    this.routeNh = new Int32Array(caps.routes);
    this.routeNext = new Int32Array(caps.routes);
    this.routeMetric = new Float64Array(caps.routes);
    this.routeType = new Uint8Array(caps.routes);
    this.routeDst = new Int32Array(caps.routes);
    this.routeLen = new Uint8Array(caps.routes);
    this.routeTable = new Uint8Array(caps.routes);
    this.routeFree = new Int32Array(caps.routes);
    this.routeSeen = new Uint32Array(caps.routes);
    this.neighborSeen = new Uint32Array(this.layout.neighborSlots);
    this.nhRef = new Int32Array(caps.nexthops);
    this.nhFreedAt = new Float64Array(caps.nexthops);
    this.nhChain = new Int32Array(caps.nexthops);
    this.nhHashOf = new Int32Array(caps.nexthops);

    const v = this.v;
    const ifCopyWords = this.layout.interfaceCopyWords;
    this.ifScratch = new Int32Array(ifCopyWords);
    this.ifTable = new SeqTableWriter(
      v,
      this.layout.interfacesOffset / 4,
      this.layout.interfaceSlots,
      this.layout.interfaceEntryWords,
      ifCopyWords,
      H_INTERFACE_MOVE_SEQ,
      1,
      (c) => interfaceHash(v[c + IFC_IFINDEX]),
    );
    this.nbTable = new SeqTableWriter(
      v,
      this.layout.neighborsOffset / 4,
      this.layout.neighborSlots,
      NB_WORDS,
      NB_COPY_WORDS,
      H_NEIGHBOR_MOVE_SEQ,
      2,
      (c) => neighborHash(v[c + NBC_IFINDEX], v[c + NBC_IP]),
      {
        skipVersioning: options.unsafe?.neighborSkipVersioning ?? false,
        keyValueDelay: options.unsafe?.writeDelay ?? 0,
      },
    );
    // A region that never had a writer is all zeros past its header: nothing to adopt, and not
    // scanning it keeps its untouched pages unallocated (they are shared memory).
    if (v[H_WRITER_PID] !== 0) this.adopt();
    v[H_WRITER_PID] = process.pid;
  }

  // ---------------------------------------------------------------- links and addresses

  /** Adds or updates a link (its addresses are kept). False when dropped (table full, bad record). */
  upsertLink(link: LinkRecord): boolean {
    const ifindex = link.ifindex;
    if (!isU32(ifindex) || ifindex === 0 || !isU32(link.mtu)) return this.bad();
    const hash = interfaceHash(ifindex | 0);
    let slot = this.ifTable.find(hash, ifindex | 0, 0);
    const s = this.ifScratch;
    if (slot < 0) {
      if (this.interfaceCount >= this.capacities.interfaces) return this.drop("drop_interfaces_full");
      slot = this.ifTable.findEmpty(hash);
      s.fill(0);
      this.interfaceCount++;
    } else {
      this.readInterface(slot, s);
    }
    const mac = normalMac(link.mac);
    const [hi, lo] = macWords(mac);
    s[IFC_IFINDEX] = ifindex | 0;
    s[IFC_STATE] = (link.up ? IF_STATE_UP : 0) | (link.lowerUp ? IF_STATE_LOWER_UP : 0) | (mac ? IF_STATE_HAS_MAC : 0);
    s[IFC_MTU] = link.mtu | 0;
    s[IFC_TYPE] = link.type | 0;
    s[IFC_KERNEL_FLAGS] = link.flags | 0;
    s[IFC_MAC_HI] = hi;
    s[IFC_MAC_LO] = lo;
    const name = textEncoder.encode(normalName(link.name));
    const nameBytes = new Uint8Array(s.buffer, s.byteOffset + IFC_NAME * 4, IF_NAME_BYTES);
    nameBytes.fill(0);
    nameBytes.set(name.subarray(0, IF_NAME_BYTES - 1));
    this.ifTable.write(slot, s);
    this.count("link_updates");
    this.set("interfaces", this.interfaceCount);
    return this.published(true);
  }

  /** Removes a link, its addresses, and (the kernel flushes them without telling) the routes that
   *  leave through it and its neighbors. */
  deleteLink(ifindex: number): boolean {
    if (!isU32(ifindex) || ifindex === 0) return this.bad();
    this.flushRoutesVia(ifindex);
    this.flushNeighborsOn(ifindex);
    const slot = this.ifTable.find(interfaceHash(ifindex | 0), ifindex | 0, 0);
    if (slot < 0) {
      this.count("delete_missing");
      return this.published(false);
    }
    this.ifTable.remove(slot);
    this.interfaceCount--;
    this.count("link_deletes");
    this.set("interfaces", this.interfaceCount);
    return this.published(true);
  }

  upsertAddr(addr: AddrRecord): boolean {
    if (!isU32(addr.address) || !Number.isInteger(addr.prefixLen) || addr.prefixLen < 0 || addr.prefixLen > 32)
      return this.bad();
    const slot = this.ifTable.find(interfaceHash(addr.ifindex | 0), addr.ifindex | 0, 0);
    if (slot < 0 || addr.ifindex === 0) return this.drop("drop_addr_no_link");
    const s = this.ifScratch;
    this.readInterface(slot, s);
    const count = s[IFC_ADDR_COUNT];
    let at = this.findAddr(s, addr);
    if (at < 0) {
      if (count >= this.capacities.addrsPerInterface) return this.drop("drop_addrs_full");
      at = IFC_FIXED_WORDS + count * IF_ADDR_WORDS;
      s[IFC_ADDR_COUNT] = count + 1;
    }
    s[at] = addr.address | 0;
    s[at + 1] = (addr.prefixLen & 255) | ((addr.scope & 255) << 8);
    s[at + 2] = addr.broadcast | 0;
    this.ifTable.write(slot, s);
    this.count("addr_updates");
    this.refreshDerivedSources(addr.ifindex);
    return this.published(true);
  }

  deleteAddr(addr: AddrRecord): boolean {
    const slot = this.ifTable.find(interfaceHash(addr.ifindex | 0), addr.ifindex | 0, 0);
    const s = this.ifScratch;
    if (slot >= 0) this.readInterface(slot, s);
    const at = slot >= 0 ? this.findAddr(s, addr) : -1;
    if (at < 0) {
      this.count("delete_missing");
      return this.published(false);
    }
    const end = IFC_FIXED_WORDS + s[IFC_ADDR_COUNT] * IF_ADDR_WORDS;
    s.copyWithin(at, at + IF_ADDR_WORDS, end); // keep the kernel's order: the first is the primary
    s.fill(0, end - IF_ADDR_WORDS, end);
    s[IFC_ADDR_COUNT]--;
    this.ifTable.write(slot, s);
    this.count("addr_deletes");
    this.refreshDerivedSources(addr.ifindex);
    return this.published(true);
  }

  private readInterface(slot: number, out: Int32Array): void {
    const c = this.ifTable.current(slot);
    out.set(this.v.subarray(c, c + this.ifTable.copyWords));
  }

  private findAddr(s: Int32Array, addr: AddrRecord): number {
    for (let i = 0; i < s[IFC_ADDR_COUNT]; i++) {
      const at = IFC_FIXED_WORDS + i * IF_ADDR_WORDS;
      if (s[at] === (addr.address | 0) && (s[at + 1] & 255) === addr.prefixLen) return at;
    }
    return -1;
  }

  // ---------------------------------------------------------------- neighbors

  /** Adds or updates (ifindex, ip) -> MAC, state. False when dropped (table full, bad record). */
  upsertNeighbor(n: NeighRecord): boolean {
    if (!isU32(n.ifindex) || n.ifindex === 0 || !isU32(n.ip)) return this.bad();
    const ifindex = n.ifindex | 0;
    const ip = n.ip | 0;
    const hash = neighborHash(ifindex, ip);
    let slot = this.nbTable.find(hash, ifindex, ip);
    if (slot < 0) {
      if (this.neighborCount >= this.capacities.neighbors) return this.drop("drop_neighbors_full");
      slot = this.nbTable.findEmpty(hash);
      this.neighborCount++;
    }
    const s = this.nbScratch;
    this.neighborWords(n, s);
    // The kernel re-announces unchanged entries often: publish only real changes (readers retry less).
    if (!this.nbTable.holds(slot, s)) this.nbTable.write(slot, s);
    this.count("neighbor_updates");
    this.set("neighbors", this.neighborCount);
    return this.published(true);
  }

  /** The entry words netbase stores for n. */
  private neighborWords(n: NeighRecord, s: Int32Array): void {
    const mac = normalMac(n.mac);
    const [hi, lo] = macWords(mac);
    s[NBC_IFINDEX] = n.ifindex | 0;
    s[NBC_IP] = n.ip | 0;
    s[NBC_MAC_HI] = hi;
    s[NBC_MAC_LO] = lo;
    s[NBC_STATE] = n.state | 0;
    s[NBC_FLAGS] = n.flags | 0;
    s[NBC_INFO] = mac ? NB_INFO_HAS_MAC : 0;
  }

  deleteNeighbor(n: Pick<NeighRecord, "ifindex" | "ip">): boolean {
    const slot = this.nbTable.find(neighborHash(n.ifindex | 0, n.ip | 0), n.ifindex | 0, n.ip | 0);
    if (slot < 0) {
      this.count("delete_missing");
      return this.published(false);
    }
    this.nbTable.remove(slot);
    this.neighborCount--;
    this.count("neighbor_deletes");
    this.set("neighbors", this.neighborCount);
    return this.published(true);
  }

  private flushNeighborsOn(ifindex: number): void {
    const v = this.v;
    for (let slot = 0; slot < this.nbTable.slots; ) {
      if (v[this.nbTable.current(slot) + NBC_IFINDEX] === (ifindex | 0)) {
        // Backward shift may move a later entry into this slot: look at it again.
        this.nbTable.remove(slot);
        this.neighborCount--;
        this.count("flushed_neighbors");
      } else slot++;
    }
    this.set("neighbors", this.neighborCount);
  }

  // ---------------------------------------------------------------- routes

  /** Adds a route, or replaces the one with the same (table, prefix, metric). Tables other than local
   *  and main, and routes with a TOS, are ignored (counted). False when ignored or dropped. */
  upsertRoute(r: RouteRecord): boolean {
    if (!this.routeAccepted(r)) return this.published(false);
    const t = r.table === RouteTable.local ? TABLE_LOCAL : TABLE_MAIN;
    const len = r.dstLen;
    const dst = r.dst & mask32(len);
    const metric = r.priority >>> 0;
    const node = this.trie.insert(dst, len);
    const existing = this.findAlternative(node, t, metric);
    const src = this.deriveSource(r.prefsrc, r.oif, r.gateway, dst, len);
    if (existing !== NONE) {
      const nh = this.acquireNexthop(r, src);
      if (nh < 0) return this.drop("drop_nexthops_full");
      this.changeRouteNexthop(existing, nh, r.type);
      this.count("route_updates");
      return this.published(true);
    }
    let full: NetbaseCounter | undefined;
    if (this.liveRoutes >= this.capacities.routes) full = "drop_routes_full";
    else if (len > 24 && !this.ensureGroup(dst >>> 8)) full = "drop_tbl8_full";
    else if (len > 28 && !this.ensureRow(dst)) full = "drop_tbl8_rows_full";
    const nh = full ? -1 : this.acquireNexthop(r, src);
    if (nh < 0) {
      this.trie.prune(node);
      if (len > 28) this.maybeFreeRow(dst);
      if (len > 24) this.maybeFreeGroup(dst >>> 8);
      return this.drop(full ?? "drop_nexthops_full");
    }
    const id = this.routeFreeTop > 0 ? this.routeFree[--this.routeFreeTop] : this.routeHighWater++;
    this.routeNh[id] = nh;
    this.routeMetric[id] = metric;
    this.routeType[id] = r.type;
    this.routeDst[id] = dst;
    this.routeLen[id] = len;
    this.routeTable[id] = t;
    this.writeRouteSlot(id, dst, len | (t === TABLE_LOCAL ? RT_META_LOCAL : 0) | RT_META_LIVE, nh);
    const before = this.trie.head(node, t);
    this.insertAlternative(node, t, id);
    if (this.trie.head(node, t) !== before) this.repaint(dst, len, t);
    this.liveRoutes++;
    this.tableRoutes[t]++;
    this.updateRouteCounters();
    this.count("route_updates");
    return this.published(true);
  }

  /** Deletes the route with the same (table, prefix, metric); its addresses fall back to the next
   *  best covering route. */
  deleteRoute(r: RouteRecord): boolean {
    if (!this.routeAccepted(r)) return this.published(false);
    const t = r.table === RouteTable.local ? TABLE_LOCAL : TABLE_MAIN;
    const dst = r.dst & mask32(r.dstLen);
    const node = this.trie.find(dst, r.dstLen);
    const id = node === NONE ? NONE : this.findAlternative(node, t, r.priority >>> 0);
    if (id === NONE) {
      this.count("delete_missing");
      return this.published(false);
    }
    this.removeRoute(node, id);
    this.count("route_deletes");
    return this.published(true);
  }

  private routeAccepted(r: RouteRecord): boolean {
    if (r.table !== RouteTable.local && r.table !== RouteTable.main) {
      this.count("ignored_route_table");
      return false;
    }
    if (r.tos !== 0) {
      this.count("ignored_route_tos");
      return false;
    }
    const valid =
      Number.isInteger(r.dstLen) &&
      r.dstLen >= 0 &&
      r.dstLen <= 32 &&
      isU32(r.dst) &&
      isU32(r.gateway) &&
      isU32(r.oif) &&
      isU32(r.prefsrc) &&
      isU32(r.priority) &&
      Number.isInteger(r.type) &&
      r.type > 0 &&
      r.type < 256 &&
      Number.isInteger(r.scope) &&
      r.scope >= 0 &&
      r.scope < 256;
    if (!valid) this.count("drop_bad_record");
    return valid;
  }

  private removeRoute(node: number, id: number): void {
    const t = this.routeTable[id];
    const dst = this.routeDst[id];
    const len = this.routeLen[id];
    const wasHead = this.trie.head(node, t) === id;
    this.removeAlternative(node, t, id);
    this.trie.prune(node);
    this.writeRouteSlot(id, 0, 0, 0);
    if (wasHead) this.repaint(dst, len, t);
    if (len > 28) this.maybeFreeRow(dst);
    if (len > 24) this.maybeFreeGroup(dst >>> 8);
    this.releaseNexthop(this.routeNh[id]);
    this.routeFree[this.routeFreeTop++] = id;
    this.liveRoutes--;
    this.tableRoutes[t]--;
    this.updateRouteCounters();
  }

  /** Points a route at another nexthop record (gateway replaced, source re-derived). */
  private changeRouteNexthop(id: number, nh: number, type: number): void {
    const old = this.routeNh[id];
    if (old === nh) {
      this.releaseNexthop(nh);
      return;
    }
    this.routeNh[id] = nh;
    this.routeType[id] = type;
    const t = this.routeTable[id];
    const dst = this.routeDst[id];
    const len = this.routeLen[id];
    this.writeRouteSlot(id, dst, len | (t === TABLE_LOCAL ? RT_META_LOCAL : 0) | RT_META_LIVE, nh);
    const node = this.trie.find(dst, len);
    if (this.trie.head(node, t) === id) this.repaint(dst, len, t);
    this.releaseNexthop(old);
  }

  private flushRoutesVia(ifindex: number): void {
    const v = this.v;
    for (let id = 0; id < this.routeHighWater; id++) {
      const b = this.routesBase + id * RT_WORDS;
      if ((v[b + RT_META] & RT_META_LIVE) === 0) continue;
      if (v[this.nhBase + this.routeNh[id] * NH_WORDS + NH_OIF] !== (ifindex | 0)) continue;
      this.removeRoute(this.trie.find(this.routeDst[id], this.routeLen[id]), id);
      this.count("flushed_routes");
    }
  }

  private writeRouteSlot(id: number, dst: number, meta: number, nh: number): void {
    const v = this.v;
    const b = this.routesBase + id * RT_WORDS;
    Atomics.store(v, b + RT_SEQ, (v[b + RT_SEQ] + 1) | 1);
    v[b + RT_DST] = dst;
    v[b + RT_META] = meta;
    v[b + RT_NEXTHOP] = nh;
    Atomics.store(v, b + RT_SEQ, (v[b + RT_SEQ] + 1) & ~1);
  }

  private findAlternative(node: number, t: number, metric: number): number {
    for (let id = this.trie.head(node, t); id !== NONE; id = this.routeNext[id]) {
      if (this.routeMetric[id] === metric) return id;
    }
    return NONE;
  }

  /** Keeps a prefix's alternatives ordered by metric: the head is the kernel's choice. */
  private insertAlternative(node: number, t: number, id: number): void {
    const metric = this.routeMetric[id];
    let prev = NONE;
    let cur = this.trie.head(node, t);
    while (cur !== NONE && this.routeMetric[cur] <= metric) {
      prev = cur;
      cur = this.routeNext[cur];
    }
    this.routeNext[id] = cur;
    if (prev === NONE) this.trie.setHead(node, t, id);
    else this.routeNext[prev] = id;
  }

  private removeAlternative(node: number, t: number, id: number): void {
    let prev = NONE;
    for (let cur = this.trie.head(node, t); cur !== NONE; prev = cur, cur = this.routeNext[cur]) {
      if (cur !== id) continue;
      if (prev === NONE) this.trie.setHead(node, t, this.routeNext[cur]);
      else this.routeNext[prev] = this.routeNext[cur];
      return;
    }
  }

  // ---- painting the DIR-24-8 table

  /** The answer a lookup must give for addresses whose best routes are bestMain/bestLocal. */
  private answer(bestMain: number, bestLocal: number): number {
    if (bestLocal !== NONE && this.routeType[bestLocal] !== THROW) return this.routeNh[bestLocal] + 1;
    if (bestMain !== NONE && this.routeType[bestMain] !== THROW) return this.routeNh[bestMain] + 1;
    return 0;
  }

  /** Rewrites the answers of dst/len after table t changed at exactly that prefix. */
  private repaint(dst: number, len: number, t: number): void {
    const nodes = this.trie.nodes;
    let bestMain = NONE;
    let bestLocal = NONE;
    let sub = NONE;
    // Best routes of both tables covering dst/len from above; `sub` = the node at or under it.
    for (let n = this.trie.root; n !== NONE; ) {
      const l = nodes[n + N_LEN];
      if (l >= len) {
        if (((nodes[n + N_KEY] ^ dst) & mask32(len)) === 0) sub = n;
        break;
      }
      if (((nodes[n + N_KEY] ^ dst) & mask32(l)) !== 0) break;
      if (nodes[n + N_HEAD_MAIN] !== NONE) bestMain = nodes[n + N_HEAD_MAIN];
      if (nodes[n + N_HEAD_LOCAL] !== NONE) bestLocal = nodes[n + N_HEAD_LOCAL];
      n = nodes[n + N_CHILD0 + bitAt(dst, l)];
    }
    this.paint(dst, len, bestMain, bestLocal, sub, t, len);
  }

  /**
   * Paints prefix/len, where `sub` is the trie node at or below it (or NONE) and bestMain/bestLocal
   * the best routes covering it. A node below the changed prefix that has routes of the changed
   * table keeps its answers (the change does not reach them), so its subtree is skipped.
   */
  private paint(
    prefix: number,
    len: number,
    bestMain: number,
    bestLocal: number,
    sub: number,
    t: number,
    changedLen: number,
  ): void {
    if (sub === NONE) {
      this.fill(prefix, len, this.answer(bestMain, bestLocal));
      return;
    }
    const nodes = this.trie.nodes;
    const half = (1 << (31 - len)) | 0;
    if (nodes[sub + N_LEN] === len) {
      if (len > changedLen && this.trie.head(sub, t) !== NONE) return;
      if (nodes[sub + N_HEAD_MAIN] !== NONE) bestMain = nodes[sub + N_HEAD_MAIN];
      if (nodes[sub + N_HEAD_LOCAL] !== NONE) bestLocal = nodes[sub + N_HEAD_LOCAL];
      const c0 = nodes[sub + N_CHILD0];
      const c1 = nodes[sub + N_CHILD1];
      if (c0 === NONE && c1 === NONE) {
        this.fill(prefix, len, this.answer(bestMain, bestLocal));
        return;
      }
      this.paint(prefix, len + 1, bestMain, bestLocal, c0, t, changedLen);
      this.paint(prefix | half, len + 1, bestMain, bestLocal, c1, t, changedLen);
      return;
    }
    // The next node is deeper: the half without it has one answer.
    if (bitAt(nodes[sub + N_KEY], len)) {
      this.fill(prefix, len + 1, this.answer(bestMain, bestLocal));
      this.paint(prefix | half, len + 1, bestMain, bestLocal, sub, t, changedLen);
    } else {
      this.paint(prefix, len + 1, bestMain, bestLocal, sub, t, changedLen);
      this.fill(prefix | half, len + 1, this.answer(bestMain, bestLocal));
    }
  }

  /** Sets the answer of every address in prefix/len (one 32-bit store per entry). A /24 block with a
   *  tbl8 group that this covers whole has no longer prefix left: its group is folded back. */
  private fill(prefix: number, len: number, value: number): void {
    if (len > 24) {
      this.fillInBlock(prefix, len, value);
      return;
    }
    const end = (prefix >>> 8) + (1 << (24 - len));
    let from = prefix >>> 8;
    if (this.groupsUsed > 0) {
      for (let b = this.nextGroupBlock(from, end); b >= 0; b = this.nextGroupBlock(from, end)) {
        this.fillWords(this.tbl24 + from, this.tbl24 + b, value);
        this.foldGroup(b, value);
        from = b + 1;
      }
    }
    this.fillWords(this.tbl24 + from, this.tbl24 + end, value);
  }

  /** fill() inside a /24 block's group: whole /28 rows (folding the rows it covers: no longer prefix
   *  is left in a range painted with one answer), or addresses of one row. */
  private fillInBlock(prefix: number, len: number, value: number): void {
    const v = this.v;
    const e = v[this.tbl24 + (prefix >>> 8)];
    if (e >= 0) throw new Error(`netbase: internal error: no tbl8 group for ${prefix >>> 0}/${len}`);
    const group = this.tbl8 + (e & ~ENTRY_GROUP_FLAG) * TBL8_GROUP_WORDS;
    const r = (prefix >>> 4) & 15;
    if (len <= 28) {
      const end = r + (1 << (28 - len));
      for (let w = group + r; w < group + end; w++) if (v[w] < 0) this.foldRow(w, value);
      this.fillWords(group + r, group + end, value);
      return;
    }
    const row = v[group + r];
    if (row >= 0) throw new Error(`netbase: internal error: no tbl8 row for ${prefix >>> 0}/${len}`);
    const base = this.rowsBase + (row & ~ENTRY_GROUP_FLAG) * TBL8_ROW_WORDS + (prefix & 15);
    this.fillWords(base, base + (1 << (32 - len)), value);
  }

  /** Words [from, to) := value. Long runs use TypedArray.fill (aligned stores, so each 32-bit entry
   *  changes at once: a reader sees the old or the new answer). */
  private fillWords(from: number, to: number, value: number): void {
    const v = this.v;
    if (this.clearThenFill) for (let i = from; i < to; i++) v[i] = 0; // TEST ONLY: the broken rebuild
    if (this.fillDelay > 0) busyDelay(this.fillDelay); // TEST ONLY
    if (to - from > 64) v.fill(value, from, to);
    else for (let i = from; i < to; i++) if (v[i] !== value) v[i] = value;
  }

  /** First block in [from, to) that has a tbl8 group, or -1. */
  private nextGroupBlock(from: number, to: number): number {
    const bits = this.groupBits;
    let b = from;
    while (b < to) {
      const w = bits[b >>> 5] >>> (b & 31);
      if (w === 0) {
        b = ((b >>> 5) + 1) << 5;
        continue;
      }
      const found = b + 31 - Math.clz32(w & -w);
      return found < to ? found : -1;
    }
    return -1;
  }

  /** A tbl8 group for the /24 block, holding the block's current answer, published by one store. */
  private ensureGroup(block: number): boolean {
    const v = this.v;
    const at = this.tbl24 + block;
    const cur = v[at];
    if (cur < 0) return true;
    let g = this.groupHighWater < this.capacities.tbl8Groups ? this.groupHighWater++ : -1;
    if (g < 0) g = this.groupReuse.take(this.now(), this.reuseDelayMs, () => true);
    if (g < 0) return false;
    const base = this.tbl8 + g * TBL8_GROUP_WORDS;
    v.fill(cur, base, base + TBL8_GROUP_WORDS);
    Atomics.store(v, at, g | ENTRY_GROUP_FLAG | 0); // after the group's words (full fence)
    this.groupBits[block >>> 5] |= 1 << (block & 31);
    this.groupsUsed++;
    this.set("tbl8_groups_used", this.groupsUsed);
    return true;
  }

  /** Folds a block's group back into tbl24 once no prefix longer than /24 remains in it. */
  private maybeFreeGroup(block: number): void {
    const cur = this.v[this.tbl24 + block];
    if (cur >= 0) return;
    const top = this.trie.subtreeTop(block << 8, 24);
    const nodes = this.trie.nodes;
    if (top !== NONE && (nodes[top + N_LEN] > 24 || nodes[top + N_CHILD0] !== NONE || nodes[top + N_CHILD1] !== NONE))
      return;
    // No longer prefix: the whole block has one answer, already in every word of the group.
    this.foldGroup(block, this.v[this.tbl8 + (cur & ~ENTRY_GROUP_FLAG) * TBL8_GROUP_WORDS]);
  }

  /** A tbl8 row for dst's /28 (its block has a group), holding the /28's current answer. */
  private ensureRow(dst: number): boolean {
    const v = this.v;
    const at = this.tbl8 + (v[this.tbl24 + (dst >>> 8)] & ~ENTRY_GROUP_FLAG) * TBL8_GROUP_WORDS + ((dst >>> 4) & 15);
    const cur = v[at];
    if (cur < 0) return true;
    let q = this.rowHighWater < this.capacities.tbl8Rows ? this.rowHighWater++ : -1;
    if (q < 0) q = this.rowReuse.take(this.now(), this.reuseDelayMs, () => true);
    if (q < 0) return false;
    const base = this.rowsBase + q * TBL8_ROW_WORDS;
    v.fill(cur, base, base + TBL8_ROW_WORDS);
    Atomics.store(v, at, q | ENTRY_GROUP_FLAG | 0); // after the row's words (full fence)
    this.rowsUsed++;
    this.set("tbl8_rows_used", this.rowsUsed);
    return true;
  }

  /** Folds dst's /28 row back into its group word once no prefix longer than /28 remains in it. */
  private maybeFreeRow(dst: number): void {
    const v = this.v;
    const e = v[this.tbl24 + (dst >>> 8)];
    if (e >= 0) return;
    const at = this.tbl8 + (e & ~ENTRY_GROUP_FLAG) * TBL8_GROUP_WORDS + ((dst >>> 4) & 15);
    const row = v[at];
    if (row >= 0) return;
    const top = this.trie.subtreeTop(dst & ~15, 28);
    const nodes = this.trie.nodes;
    if (top !== NONE && (nodes[top + N_LEN] > 28 || nodes[top + N_CHILD0] !== NONE || nodes[top + N_CHILD1] !== NONE))
      return;
    this.foldRow(at, v[this.rowsBase + (row & ~ENTRY_GROUP_FLAG) * TBL8_ROW_WORDS]);
  }

  /** group word at := value (one store); the row waits out the reuse delay (a reader may be in it). */
  private foldRow(at: number, value: number): void {
    const q = this.v[at] & ~ENTRY_GROUP_FLAG;
    Atomics.store(this.v, at, value);
    this.rowReuse.push(q, this.now());
    this.rowsUsed--;
    this.set("tbl8_rows_used", this.rowsUsed);
  }

  /** tbl24[block] := value (one store); the group waits out the reuse delay (a reader may be in it). */
  private foldGroup(block: number, value: number): void {
    const at = this.tbl24 + block;
    const g = this.v[at] & ~ENTRY_GROUP_FLAG;
    Atomics.store(this.v, at, value);
    const base = this.tbl8 + g * TBL8_GROUP_WORDS;
    for (let w = base; w < base + TBL8_GROUP_WORDS; w++) if (this.v[w] < 0) this.foldRow(w, value);
    this.groupBits[block >>> 5] &= ~(1 << (block & 31));
    this.groupReuse.push(g, this.now());
    this.groupsUsed--;
    this.set("tbl8_groups_used", this.groupsUsed);
  }

  // ---- nexthop records

  /** A record holding this answer (shared with every route giving the same answer), or -1 when full. */
  private acquireNexthop(r: RouteRecord, src: number): number {
    const meta = (r.type & 255) | ((r.scope & 255) << 8) | ((r.table & 255) << 16);
    const gateway = r.gateway | 0;
    const oif = r.oif | 0;
    const prefsrc = r.prefsrc | 0;
    const metric = r.priority | 0;
    src |= 0;
    const hash = nexthopHash(meta, gateway, oif, prefsrc, metric, src);
    const v = this.v;
    for (let nh = this.nhByHash.get(hash) ?? -1; nh >= 0; nh = this.nhChain[nh]) {
      const b = this.nhBase + nh * NH_WORDS;
      if (
        v[b + NH_META] !== meta ||
        v[b + NH_GATEWAY] !== gateway ||
        v[b + NH_OIF] !== oif ||
        v[b + NH_PREFSRC] !== prefsrc ||
        v[b + NH_METRIC] !== metric ||
        v[b + NH_SRC] !== src
      )
        continue;
      if (this.nhRef[nh]++ === 0) {
        this.nhFreedAt[nh] = -1; // back in use before it was reused: its content is still right
        this.nhLive++;
        this.set("nexthops_used", this.nhLive);
      }
      return nh;
    }
    let nh = this.nhHighWater < this.capacities.nexthops ? this.nhHighWater++ : -1;
    if (nh < 0) {
      nh = this.nhReuse.take(this.now(), this.reuseDelayMs, (i, at) => this.nhRef[i] === 0 && this.nhFreedAt[i] === at);
      if (nh < 0) return -1;
      this.unindexNexthop(nh);
    }
    const b = this.nhBase + nh * NH_WORDS;
    Atomics.store(v, b + NH_GEN, (v[b + NH_GEN] + 1) | 1);
    v[b + NH_META] = meta;
    v[b + NH_GATEWAY] = gateway;
    v[b + NH_OIF] = oif;
    v[b + NH_PREFSRC] = prefsrc;
    v[b + NH_METRIC] = metric;
    v[b + NH_SRC] = src;
    Atomics.store(v, b + NH_GEN, (v[b + NH_GEN] + 1) & ~1); // published before any entry points here
    this.indexNexthop(nh, hash);
    this.nhRef[nh] = 1;
    this.nhFreedAt[nh] = -1;
    this.nhLive++;
    this.set("nexthops_used", this.nhLive);
    return nh;
  }

  private indexNexthop(nh: number, hash: number): void {
    this.nhHashOf[nh] = hash;
    this.nhChain[nh] = this.nhByHash.get(hash) ?? -1;
    this.nhByHash.set(hash, nh);
  }

  private unindexNexthop(nh: number): void {
    const hash = this.nhHashOf[nh];
    let cur = this.nhByHash.get(hash) ?? -1;
    if (cur === nh) {
      const next = this.nhChain[nh];
      if (next < 0) this.nhByHash.delete(hash);
      else this.nhByHash.set(hash, next);
      return;
    }
    while (cur >= 0 && this.nhChain[cur] !== nh) cur = this.nhChain[cur];
    if (cur >= 0) this.nhChain[cur] = this.nhChain[nh];
  }

  private releaseNexthop(nh: number): void {
    if (--this.nhRef[nh] > 0) return;
    const at = this.now();
    this.nhFreedAt[nh] = at;
    this.nhReuse.push(nh, at);
    this.nhLive--;
    this.set("nexthops_used", this.nhLive);
  }

  // ---- source addresses

  /** prefsrc; else the output interface's first address on the gateway's subnet (or, on-link, in the
   *  route's prefix); else its first address; else 0. */
  private deriveSource(prefsrc: number, oif: number, gateway: number, dst: number, len: number): number {
    if (prefsrc !== 0) return prefsrc >>> 0;
    if (oif === 0) return 0;
    const slot = this.ifTable.find(interfaceHash(oif | 0), oif | 0, 0);
    if (slot < 0) return 0;
    const v = this.v;
    const e = this.ifTable.current(slot);
    const count = v[e + IFC_ADDR_COUNT];
    for (let i = 0; i < count; i++) {
      const a = e + IFC_FIXED_WORDS + i * IF_ADDR_WORDS;
      const addr = v[a];
      const onSubnet =
        gateway !== 0 ? ((gateway ^ addr) & mask32(v[a + 1] & 255)) === 0 : ((addr ^ dst) & mask32(len)) === 0;
      if (onSubnet) return addr >>> 0;
    }
    return count > 0 ? v[e + IFC_FIXED_WORDS] >>> 0 : 0;
  }

  /** After an address change: routes via the interface without prefsrc get their source re-derived. */
  private refreshDerivedSources(ifindex: number): void {
    if (this.deferredSrcRefresh) {
      this.deferredSrcRefresh.add(ifindex);
      return;
    }
    const v = this.v;
    for (let id = 0; id < this.routeHighWater; id++) {
      if ((v[this.routesBase + id * RT_WORDS + RT_META] & RT_META_LIVE) === 0) continue;
      const b = this.nhBase + this.routeNh[id] * NH_WORDS;
      if (v[b + NH_OIF] !== (ifindex | 0) || v[b + NH_PREFSRC] !== 0) continue;
      const src = this.deriveSource(0, ifindex, v[b + NH_GATEWAY], this.routeDst[id], this.routeLen[id]);
      if (src === v[b + NH_SRC] >>> 0) continue;
      const meta = v[b + NH_META];
      const record: RouteRecord = {
        table: (meta >>> 16) & 255,
        type: meta & 255,
        dst: this.routeDst[id] >>> 0,
        dstLen: this.routeLen[id],
        gateway: v[b + NH_GATEWAY] >>> 0,
        oif: ifindex,
        prefsrc: 0,
        priority: v[b + NH_METRIC] >>> 0,
        scope: (meta >>> 8) & 255,
        protocol: 0,
        tos: 0,
      };
      const nh = this.acquireNexthop(record, src);
      if (nh < 0) {
        this.count("drop_nexthops_full"); // keeps the old source until a record frees up
        continue;
      }
      this.changeRouteNexthop(id, nh, record.type);
    }
  }

  // ---------------------------------------------------------------- events, resync, diff

  applyEvent(ev: NetEvent): boolean {
    switch (ev.kind) {
      case "link":
        return ev.op === "new" ? this.upsertLink(ev.link) : this.deleteLink(ev.link.ifindex);
      case "addr":
        return ev.op === "new" ? this.upsertAddr(ev.addr) : this.deleteAddr(ev.addr);
      case "route":
        return ev.op === "new" ? this.upsertRoute(ev.route) : this.deleteRoute(ev.route);
      case "neigh":
        return ev.op === "new" ? this.upsertNeighbor(ev.neigh) : this.deleteNeighbor(ev.neigh);
    }
  }

  /**
   * Brings the region to a full new dump (after a netlink overrun) by applying only the differences
   * as deltas: readers never see emptied tables. Links first (a vanished link takes its addresses,
   * routes and neighbors with it, as in the kernel; it counts as one removal); then routes are added
   * and changed before any is removed, so a prefix that moves to another metric is never without a
   * route.
   */
  resync(snap: NetSnapshot): ResyncResult {
    const result: ResyncResult = { added: 0, removed: 0, changed: 0 };
    const want = normalizeSnapshot({ links: snap.links, addrs: snap.addrs, routes: [], neighs: [] });
    this.deferredSrcRefresh = new Set();
    try {
      const links = normalizeSnapshot({
        links: this.reader.interfaces().map((i) => i.link),
        addrs: [],
        routes: [],
        neighs: [],
      }).links;
      for (const [ifindex, link] of want.links) {
        const cur = links.get(ifindex);
        if (cur && sameLink(cur, link)) continue;
        if (this.upsertLink(link)) result[cur ? "changed" : "added"]++;
      }
      for (const ifindex of links.keys()) {
        if (!want.links.has(ifindex) && this.deleteLink(ifindex)) result.removed++;
      }
      const haveAddrs = normalizeSnapshot({
        links: [],
        addrs: this.reader.interfaces().flatMap((i) => i.addrs.map((a) => ({ ...a, ifindex: i.link.ifindex }))),
        routes: [],
        neighs: [],
      }).addrs;
      for (const [key, addr] of haveAddrs) {
        if (!want.addrs.has(key) && this.deleteAddr(addr)) result.removed++;
      }
      for (const [key, addr] of want.addrs) {
        const cur = haveAddrs.get(key);
        if (cur && sameAddr(cur, addr)) continue;
        if (this.upsertAddr(addr)) result[cur ? "changed" : "added"]++;
      }
      this.resyncRoutes(snap.routes, result);
      this.resyncNeighbors(snap.neighs, result);
    } finally {
      const dirty = this.deferredSrcRefresh;
      this.deferredSrcRefresh = null;
      for (const ifindex of dirty) this.refreshDerivedSources(ifindex);
    }
    this.count("resyncs");
    this.published(true);
    return result;
  }

  /** Routes to exactly `routes` (the mirrored ones): unchanged ones are compared with the model
   *  in place (no records built from the region), so a resync costs about one pass over each side. */
  private resyncRoutes(routes: readonly RouteRecord[], result: ResyncResult): void {
    const epoch = ++this.resyncEpoch;
    const seen = this.routeSeen;
    // Last to first: of two records with one key, the later one wins (as in a map built in order).
    for (let i = routes.length - 1; i >= 0; i--) {
      const r = routes[i];
      if (!isMirroredRoute(r)) continue;
      let id = this.routeIdOf(r);
      if (id !== NONE && seen[id] === epoch) continue;
      if (id === NONE || !this.routeHolds(id, r)) {
        const existed = id !== NONE;
        if (this.upsertRoute(r)) result[existed ? "changed" : "added"]++;
        id = this.routeIdOf(r);
      }
      if (id !== NONE) seen[id] = epoch;
    }
    const v = this.v;
    const stale: RouteRecord[] = [];
    for (let id = 0; id < this.routeHighWater; id++) {
      if ((v[this.routesBase + id * RT_WORDS + RT_META] & RT_META_LIVE) === 0 || seen[id] === epoch) continue;
      stale.push({
        table: this.routeTable[id] === TABLE_LOCAL ? RouteTable.local : RouteTable.main,
        type: this.routeType[id],
        dst: this.routeDst[id] >>> 0,
        dstLen: this.routeLen[id],
        gateway: 0,
        oif: 0,
        prefsrc: 0,
        priority: this.routeMetric[id],
        scope: 0,
        protocol: 0,
        tos: 0,
      });
    }
    for (const r of stale) if (this.deleteRoute(r)) result.removed++;
  }

  /** The route slot holding r's key (table, prefix, metric), or NONE. */
  private routeIdOf(r: RouteRecord): number {
    const len = r.dstLen;
    if (!Number.isInteger(len) || len < 0 || len > 32) return NONE;
    const node = this.trie.find(r.dst & mask32(len), len);
    if (node === NONE) return NONE;
    return this.findAlternative(node, r.table === RouteTable.local ? TABLE_LOCAL : TABLE_MAIN, r.priority >>> 0);
  }

  /** Whether route slot id already gives r's answer (its source is derived the same way). */
  private routeHolds(id: number, r: RouteRecord): boolean {
    const v = this.v;
    const b = this.nhBase + this.routeNh[id] * NH_WORDS;
    const meta = (r.type & 255) | ((r.scope & 255) << 8) | ((r.table & 255) << 16);
    return (
      v[b + NH_META] === meta &&
      v[b + NH_GATEWAY] === (r.gateway | 0) &&
      v[b + NH_OIF] === (r.oif | 0) &&
      v[b + NH_PREFSRC] === (r.prefsrc | 0)
    );
  }

  /** Neighbors to exactly `neighs`: entries no dump line names are removed first (room for new
   *  ones, as the kernel had it), then changed and new ones written (unchanged ones are not). */
  private resyncNeighbors(neighs: readonly NeighRecord[], result: ResyncResult): void {
    const seen = this.neighborSeen;
    const v = this.v;
    const s = this.nbScratch;
    const slotOf = (n: NeighRecord): number =>
      this.nbTable.find(neighborHash(n.ifindex | 0, n.ip | 0), n.ifindex | 0, n.ip | 0);
    const named = ++this.resyncEpoch;
    for (const n of neighs) {
      const slot = slotOf(n);
      if (slot >= 0) seen[slot] = named;
    }
    const stale: NeighRecord[] = [];
    for (let slot = 0; slot < this.nbTable.slots; slot++) {
      if (this.nbTable.isEmpty(slot) || seen[slot] === named) continue;
      const c = this.nbTable.current(slot);
      stale.push({ ifindex: v[c + NBC_IFINDEX] >>> 0, ip: v[c + NBC_IP] >>> 0, mac: null, state: 0, flags: 0 });
    }
    for (const n of stale) if (this.deleteNeighbor(n)) result.removed++;
    // Last to first: of two records with one key, the later one wins (as in a map built in order).
    const written = ++this.resyncEpoch;
    for (let i = neighs.length - 1; i >= 0; i--) {
      const n = neighs[i];
      const slot = slotOf(n);
      if (slot >= 0 && seen[slot] === written) continue;
      if (slot >= 0) {
        this.neighborWords(n, s);
        if (this.nbTable.holds(slot, s)) {
          seen[slot] = written;
          continue;
        }
      }
      if (this.upsertNeighbor(n)) result[slot >= 0 ? "changed" : "added"]++;
      const now = slotOf(n);
      if (now >= 0) seen[now] = written;
    }
  }

  /** Human-readable differences between the region and a kernel dump; empty when equal. */
  diff(snap: NetSnapshot): string[] {
    return diffNetbase(this.reader, snap);
  }

  counters(): Record<NetbaseCounter, number> {
    return this.reader.counters();
  }

  // ---------------------------------------------------------------- bookkeeping

  private count(name: NetbaseCounter, by = 1): void {
    this.counterView[COUNTER_INDEX[name]] += by;
  }

  private set(name: NetbaseCounter, value: number): void {
    this.counterView[COUNTER_INDEX[name]] = value;
  }

  private drop(name: NetbaseCounter): boolean {
    this.count(name);
    return this.published(false);
  }

  private bad(): boolean {
    return this.drop("drop_bad_record");
  }

  private published(result: boolean): boolean {
    Atomics.add(this.v, H_SYNC_GENERATION, 1);
    return result;
  }

  private updateRouteCounters(): void {
    this.set("routes_main", this.tableRoutes[TABLE_MAIN]);
    this.set("routes_local", this.tableRoutes[TABLE_LOCAL]);
  }

  /**
   * Rebuilds the private model from the region, so a restarted writer carries on where the last one
   * stopped (an initialized, empty region gives an empty model).
   */
  private adopt(): void {
    const v = this.v;
    const caps = this.capacities;
    for (let s = 0; s < this.ifTable.slots; s++) if (!this.ifTable.isEmpty(s)) this.interfaceCount++;
    for (let s = 0; s < this.nbTable.slots; s++) if (!this.nbTable.isEmpty(s)) this.neighborCount++;
    // Nexthop records ever written, indexed by content.
    for (let nh = 0; nh < caps.nexthops; nh++) {
      const b = this.nhBase + nh * NH_WORDS;
      if (v[b + NH_GEN] === 0) continue;
      this.nhHighWater = nh + 1;
      this.indexNexthop(
        nh,
        nexthopHash(
          v[b + NH_META],
          v[b + NH_GATEWAY],
          v[b + NH_OIF],
          v[b + NH_PREFSRC],
          v[b + NH_METRIC],
          v[b + NH_SRC],
        ),
      );
    }
    for (let id = 0; id < caps.routes; id++) {
      const b = this.routesBase + id * RT_WORDS;
      const meta = v[b + RT_META];
      if ((meta & RT_META_LIVE) === 0) continue;
      this.routeHighWater = id + 1;
      const nh = v[b + RT_NEXTHOP];
      const t = meta & RT_META_LOCAL ? TABLE_LOCAL : TABLE_MAIN;
      this.routeNh[id] = nh;
      this.routeMetric[id] = v[this.nhBase + nh * NH_WORDS + NH_METRIC] >>> 0;
      this.routeType[id] = v[this.nhBase + nh * NH_WORDS + NH_META] & 255;
      this.routeDst[id] = v[b + RT_DST];
      this.routeLen[id] = meta & 63;
      this.routeTable[id] = t;
      this.insertAlternative(this.trie.insert(v[b + RT_DST], meta & 63), t, id);
      if (this.nhRef[nh]++ === 0) this.nhLive++;
      this.liveRoutes++;
      this.tableRoutes[t]++;
    }
    for (let id = this.routeHighWater - 1; id >= 0; id--) {
      if ((v[this.routesBase + id * RT_WORDS + RT_META] & RT_META_LIVE) === 0) this.routeFree[this.routeFreeTop++] = id;
    }
    const now = this.now();
    for (let nh = 0; nh < this.nhHighWater; nh++) {
      if (this.nhRef[nh] === 0) {
        this.nhFreedAt[nh] = now;
        this.nhReuse.push(nh, now);
      } else this.nhFreedAt[nh] = -1;
    }
    this.adoptGroupsAndRows(now);
    this.set("interfaces", this.interfaceCount);
    this.set("neighbors", this.neighborCount);
    this.set("nexthops_used", this.nhLive);
    this.set("tbl8_groups_used", this.groupsUsed);
    this.set("tbl8_rows_used", this.rowsUsed);
    this.updateRouteCounters();
  }

  /** Groups and rows in use, found from the routes longer than /24 and /28 (only those can link
   *  one). The unlinked ones below the highest in use may still be read by a slow reader: they
   *  wait out the reuse delay. */
  private adoptGroupsAndRows(now: number): void {
    const v = this.v;
    const usedGroups = new Uint8Array(this.capacities.tbl8Groups);
    const usedRows = new Uint8Array(this.capacities.tbl8Rows);
    for (let id = 0; id < this.routeHighWater; id++) {
      if ((v[this.routesBase + id * RT_WORDS + RT_META] & RT_META_LIVE) === 0 || this.routeLen[id] <= 24) continue;
      const dst = this.routeDst[id];
      const block = dst >>> 8;
      const e = v[this.tbl24 + block];
      if (e >= 0) continue;
      const g = e & ~ENTRY_GROUP_FLAG;
      if (!usedGroups[g]) {
        usedGroups[g] = 1;
        this.groupBits[block >>> 5] |= 1 << (block & 31);
        this.groupHighWater = Math.max(this.groupHighWater, g + 1);
        this.groupsUsed++;
      }
      const row = v[this.tbl8 + g * TBL8_GROUP_WORDS + ((dst >>> 4) & 15)];
      if (this.routeLen[id] <= 28 || row >= 0 || usedRows[row & ~ENTRY_GROUP_FLAG]) continue;
      usedRows[row & ~ENTRY_GROUP_FLAG] = 1;
      this.rowHighWater = Math.max(this.rowHighWater, (row & ~ENTRY_GROUP_FLAG) + 1);
      this.rowsUsed++;
    }
    for (let g = 0; g < this.groupHighWater; g++) if (!usedGroups[g]) this.groupReuse.push(g, now);
    for (let q = 0; q < this.rowHighWater; q++) if (!usedRows[q]) this.rowReuse.push(q, now);
  }
}
