// Where the net tile sends a datagram: route, source address, interface and neighbor from netbase,
// cached per (destination, requested source) for one netbase generation, so a steady flow costs one
// hashed slot check per message. A failed answer is cached too (with the drop it counts).
//
// Neighbor misses are not queued (as in Firedancer): the message is dropped and counted, and a
// solicit is published for the netlink tile, at most once per next hop per resolicitMs.
import type { MetricIndexes } from "../../shared/metrics/keys";
import type { MetricsWriter } from "../../shared/metrics/writer";
import { InterfaceResult, NeighborResult, type NetbaseReader, RouteResult } from "../../shared/netbase/reader";
import { RouteType } from "../../shared/netmodel";
import type { RingProducer } from "../../shared/ring/producer";
import { encodeSolicit } from "../../shared/solicit/message";
import { type netMetrics, TX_ROUTE_FAIL_TYPES } from "./definition";

const ROUTE_CACHE_SLOTS = 256;
const SOLICIT_MEMORY_SLOTS = 256;

/** Outcome codes of a route resolution (cached per destination and netbase generation). */
const Resolve = {
  ok: 0,
  noRoute: 1,
  routeType: 2,
  iface: 3,
  sourceIp: 4,
  badSourceIp: 5,
  noNeighbor: 6,
} as const;

export interface NextHopOptions {
  netbase: NetbaseReader;
  /** The tile's interface: routes must leave through it. */
  ifindex: number;
  /** Receives the interface's MAC (the frame fields' source MAC), refreshed once per generation. */
  srcMac: Uint8Array;
  metrics: MetricsWriter;
  ix: MetricIndexes<typeof netMetrics>;
  solicitRing: RingProducer;
  resolicitMs: number;
}

export class NextHopCache {
  /** Per slot of an ok answer: the source address and the next hop's MAC (6 bytes at slot * 6). */
  readonly src = new Int32Array(ROUTE_CACHE_SLOTS);
  readonly mac = new Uint8Array(ROUTE_CACHE_SLOTS * 6);

  private readonly netbase: NetbaseReader;
  private readonly ifindex: number;
  private readonly srcMac: Uint8Array;
  private readonly metrics: MetricsWriter;
  private readonly solicitRing: RingProducer;
  private readonly resolicitMs: number;
  private readonly route = new RouteResult();
  private readonly neighbor = new NeighborResult();
  private readonly iface = new InterfaceResult(1);
  private ifaceKnown = false;
  private ifaceGen = -1;
  private gen = 0;
  private now = 0;

  private readonly cacheDst = new Int32Array(ROUTE_CACHE_SLOTS);
  private readonly cacheReqSrc = new Int32Array(ROUTE_CACHE_SLOTS);
  private readonly cacheGen = new Int32Array(ROUTE_CACHE_SLOTS);
  private readonly cacheValid = new Uint8Array(ROUTE_CACHE_SLOTS);
  private readonly cacheOutcome = new Uint8Array(ROUTE_CACHE_SLOTS);
  /** Metric index of the drop for failed outcomes. */
  private readonly cacheDropMetric = new Int32Array(ROUTE_CACHE_SLOTS);
  private readonly cacheNexthop = new Int32Array(ROUTE_CACHE_SLOTS);
  // Recently solicited next hops.
  private readonly solicitedIp = new Int32Array(SOLICIT_MEMORY_SLOTS);
  private readonly solicitedAt = new Float64Array(SOLICIT_MEMORY_SLOTS).fill(Number.NEGATIVE_INFINITY);

  // Metric indices.
  private readonly m: {
    noRoute: number;
    routeIface: number;
    sourceIp: number;
    badSourceIp: number;
    noNeighbor: number;
    solicits: number;
    solicitsSuppressed: number;
  };
  /** Metric index by route type (types without their own metric count as "other"). */
  private readonly routeTypeDrop = new Int32Array(256);

  constructor(o: NextHopOptions) {
    this.netbase = o.netbase;
    this.ifindex = o.ifindex;
    this.srcMac = o.srcMac;
    this.metrics = o.metrics;
    this.solicitRing = o.solicitRing;
    this.resolicitMs = o.resolicitMs;
    const ix = o.ix;
    this.m = {
      noRoute: ix.tx_route_fail_no_route,
      routeIface: ix.tx_route_fail_interface,
      sourceIp: ix.tx_route_fail_source_ip,
      badSourceIp: ix.tx_bad_source_ip,
      noNeighbor: ix.tx_no_neighbor,
      solicits: ix.solicits_published,
      solicitsSuppressed: ix.solicits_suppressed,
    };
    this.routeTypeDrop.fill(ix.tx_route_fail_other);
    for (const t of TX_ROUTE_FAIL_TYPES) {
      const code = (RouteType as Record<string, number>)[t];
      if (code !== undefined) this.routeTypeDrop[code] = ix[`tx_route_fail_${t}`];
    }
  }

  /** Before a transmit pass: answers cached under an older netbase generation are stale. */
  startPass(nowMs: number): void {
    this.now = nowMs;
    this.gen = this.netbase.syncGeneration();
  }

  /**
   * The cache slot holding a usable answer for (dst, requested source), or -1 after counting the
   * drop (and soliciting the next hop on a neighbor miss).
   */
  resolve(dst: number, reqSrc: number): number {
    const slot = (Math.imul(dst ^ (reqSrc >>> 7), 0x9e3779b1) >>> 24) & (ROUTE_CACHE_SLOTS - 1);
    if (
      this.cacheValid[slot] === 0 ||
      this.cacheGen[slot] !== this.gen ||
      this.cacheDst[slot] !== (dst | 0) ||
      this.cacheReqSrc[slot] !== (reqSrc | 0)
    )
      this.fillCache(slot, dst, reqSrc);
    const outcome = this.cacheOutcome[slot];
    if (outcome === Resolve.ok) return slot;
    this.metrics.add(this.cacheDropMetric[slot], 1);
    if (outcome === Resolve.noNeighbor) this.solicit(this.cacheNexthop[slot]);
    return -1;
  }

  private fillCache(slot: number, dst: number, reqSrc: number): void {
    this.cacheValid[slot] = 1;
    this.cacheGen[slot] = this.gen;
    this.cacheDst[slot] = dst | 0;
    this.cacheReqSrc[slot] = reqSrc | 0;
    const outcome = this.lookup(slot, dst, reqSrc);
    this.cacheOutcome[slot] = outcome;
  }

  /** Route, source, interface and neighbor for dst into cache slot `slot`; returns the outcome. */
  private lookup(slot: number, dst: number, reqSrc: number): number {
    const nb = this.netbase;
    const route = this.route;
    if (!nb.lookupRoute(dst, route)) return this.failed(slot, Resolve.noRoute, this.m.noRoute);
    if (route.type !== RouteType.unicast)
      return this.failed(slot, Resolve.routeType, this.routeTypeDrop[route.type & 255]);
    if (route.ifindex !== this.ifindex || !this.interfaceMac())
      return this.failed(slot, Resolve.iface, this.m.routeIface);
    let src = route.src;
    if (reqSrc !== 0) {
      if (!nb.isLocalAddress(reqSrc)) return this.failed(slot, Resolve.badSourceIp, this.m.badSourceIp);
      src = reqSrc;
    } else if (src === 0) return this.failed(slot, Resolve.sourceIp, this.m.sourceIp);
    this.src[slot] = src | 0;
    const nexthop = route.nexthop;
    this.cacheNexthop[slot] = nexthop | 0;
    const n = this.neighbor;
    if (!nb.lookupNeighbor(this.ifindex, nexthop, n) || !n.hasMac)
      return this.failed(slot, Resolve.noNeighbor, this.m.noNeighbor);
    this.mac.set(n.mac, slot * 6);
    return Resolve.ok;
  }

  private failed(slot: number, outcome: number, metric: number): number {
    this.cacheDropMetric[slot] = metric;
    return outcome;
  }

  /** The netbase generation of this pass (startPass). */
  get generation(): number {
    return this.gen;
  }

  /** Our interface's MAC into srcMac, refreshed once per netbase generation (the IPv6 cache
   *  uses it too). */
  interfaceMac(): boolean {
    if (this.ifaceGen !== this.gen) {
      this.ifaceGen = this.gen;
      const i = this.iface;
      this.ifaceKnown = this.netbase.lookupInterface(this.ifindex, i) && i.hasMac;
      if (this.ifaceKnown) this.srcMac.set(i.mac);
    }
    return this.ifaceKnown;
  }

  private solicit(nexthop: number): void {
    const mx = this.metrics;
    const h = (Math.imul(nexthop, 0x9e3779b1) >>> 24) & (SOLICIT_MEMORY_SLOTS - 1);
    if (this.solicitedIp[h] === (nexthop | 0) && this.now - this.solicitedAt[h] < this.resolicitMs) {
      mx.add(this.m.solicitsSuppressed, 1);
      return;
    }
    this.solicitedIp[h] = nexthop | 0;
    this.solicitedAt[h] = this.now;
    const ring = this.solicitRing;
    const at = ring.claim();
    encodeSolicit(ring.i32, at, nexthop | 0, this.ifindex);
    ring.publish();
    mx.add(this.m.solicits, 1);
  }
}
