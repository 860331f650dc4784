// Where the net tile sends an IPv6 datagram (the twin of next-hop.ts): route, source address and
// neighbor from netbase's Netbase6Lookups, cached per (destination, requested source, interface)
// for one netbase generation, failures included with the drop they count.
//
// Link-local destinations (fe80::/10) take no route: they leave through the interface the app
// names (a reply: the one the request arrived on; 0: this tile's), which must be this tile's,
// from our link-local address on it (or the app's own source, which must be local). Other
// destinations: the longest-prefix route (unicast, leaving through this tile's interface), from
// the app's source (local) or the route's src. The neighbor comes from NDP (lookupNeighbor6); a
// miss drops the datagram and publishes a solicit, at most once per next hop per resolicitMs.
// Multicast destinations are not sent (they would need 33:33 MACs and a multicast route).
import { isIp6LinkLocal, isIp6Multicast, isIp6Unspecified } from "../../shared/ip6";
import type { MetricIndexes } from "../../shared/metrics/keys";
import type { MetricsWriter } from "../../shared/metrics/writer";
import { NeighborResult } from "../../shared/netbase/lookup-results";
import { type Netbase6Lookups, Route6Result } from "../../shared/netbase/v6";
import { RouteType } from "../../shared/netmodel";
import type { RingProducer } from "../../shared/ring/producer";
import { type netMetrics, TX_ROUTE_FAIL_TYPES } from "./definition";
import { type EncodeSolicit6, encodeSolicit6 } from "./solicit6";

const SLOTS = 256;
const SOLICIT_SLOTS = 256;
const OK = 0;
const NO_NEIGHBOR = 1;
const FAILED = 2;

export interface NextHop6Options {
  /** Absent (a netbase without IPv6 tables): every IPv6 message counts as tx6_route_fail_no_route. */
  netbase: Netbase6Lookups | undefined;
  ifindex: number;
  metrics: MetricsWriter;
  ix: MetricIndexes<typeof netMetrics>;
  solicitRing: RingProducer;
  resolicitMs: number;
  /** Refreshes the interface's MAC into the frame fields (the IPv4 cache's, shared); false when unknown. */
  interfaceMac: () => boolean;
  /** Tests replace the encoder (default: the adapter's, solicit6.ts). */
  encode?: EncodeSolicit6;
}

export class NextHop6Cache {
  /** Per slot of an ok answer: the source address (4 words at slot * 4) and next hop MAC (slot * 6). */
  readonly src = new Uint32Array(SLOTS * 4);
  readonly mac = new Uint8Array(SLOTS * 6);
  private readonly nb: Netbase6Lookups | undefined;
  private readonly ifindex: number;
  private readonly metrics: MetricsWriter;
  private readonly ring: RingProducer;
  private readonly resolicitMs: number;
  private readonly encode: EncodeSolicit6 | undefined;
  private readonly interfaceMac: () => boolean;
  private readonly route = new Route6Result();
  private readonly neighbor = new NeighborResult();
  private gen = 0;
  private now = 0;
  /** Per slot: key (dst 4, reqSrc 4, ifindex 1 words), generation, outcome, drop metric, next hop. */
  private readonly key = new Uint32Array(SLOTS * 9);
  private readonly keyGen = new Float64Array(SLOTS).fill(-1);
  private readonly outcome = new Uint8Array(SLOTS);
  private readonly dropMetric = new Int32Array(SLOTS);
  private readonly nexthop = new Uint32Array(SLOTS * 4);
  private readonly solicited = new Uint32Array(SOLICIT_SLOTS * 4);
  private readonly solicitedAt = new Float64Array(SOLICIT_SLOTS).fill(Number.NEGATIVE_INFINITY);
  private readonly m: Record<"noRoute" | "iface" | "sourceIp" | "badSourceIp" | "noNeighbor" | "multicast", number> &
    Record<"solicits" | "suppressed" | "unsupported", number>;
  private readonly routeTypeDrop = new Int32Array(256);

  constructor(o: NextHop6Options) {
    this.nb = o.netbase;
    this.ifindex = o.ifindex;
    this.metrics = o.metrics;
    this.ring = o.solicitRing;
    this.resolicitMs = o.resolicitMs;
    this.encode = o.encode ?? encodeSolicit6;
    this.interfaceMac = o.interfaceMac;
    const ix = o.ix;
    this.m = {
      noRoute: ix.tx6_route_fail_no_route,
      iface: ix.tx6_route_fail_interface,
      sourceIp: ix.tx6_route_fail_source_ip,
      badSourceIp: ix.tx6_bad_source_ip,
      noNeighbor: ix.tx6_no_neighbor,
      multicast: ix.tx6_route_fail_multicast,
      solicits: ix.solicits6_published,
      suppressed: ix.solicits6_suppressed,
      unsupported: ix.solicits6_unsupported,
    };
    this.routeTypeDrop.fill(ix.tx6_route_fail_other);
    for (const t of TX_ROUTE_FAIL_TYPES) {
      const code = (RouteType as Record<string, number>)[t];
      if (code !== undefined) this.routeTypeDrop[code] = ix[`tx6_route_fail_${t}`];
    }
  }

  /** Before a transmit pass, with the netbase generation the IPv4 cache synced. */
  startPass(nowMs: number, generation: number): void {
    this.now = nowMs;
    this.gen = generation;
  }

  /** The slot of a usable answer for dst (words d[di..di+3]) from reqSrc (s[si..si+3], all 0 =
   *  any) via ifindex (0 = any), or -1 after counting the drop (and soliciting on a miss). */
  resolve(d: Uint32Array, di: number, s: Uint32Array, si: number, ifindex: number): number {
    const h =
      Math.imul(d[di] ^ d[di + 1] ^ d[di + 2] ^ d[di + 3] ^ ((s[si + 3] ^ s[si]) >>> 7) ^ ifindex, 0x9e3779b1) >>> 24;
    const slot = h & (SLOTS - 1);
    const k = this.key;
    const b = slot * 9;
    if (
      this.keyGen[slot] !== this.gen ||
      k[b] !== d[di] ||
      k[b + 1] !== d[di + 1] ||
      k[b + 2] !== d[di + 2] ||
      k[b + 3] !== d[di + 3] ||
      k[b + 4] !== s[si] ||
      k[b + 5] !== s[si + 1] ||
      k[b + 6] !== s[si + 2] ||
      k[b + 7] !== s[si + 3] ||
      k[b + 8] !== ifindex >>> 0
    ) {
      for (let i = 0; i < 4; i++) {
        k[b + i] = d[di + i];
        k[b + 4 + i] = s[si + i];
      }
      k[b + 8] = ifindex >>> 0;
      this.keyGen[slot] = this.gen;
      this.outcome[slot] = this.lookup(slot, d, di, s, si, ifindex);
    }
    const outcome = this.outcome[slot];
    if (outcome === OK) return slot;
    this.metrics.add(this.dropMetric[slot], 1);
    if (outcome === NO_NEIGHBOR) this.solicit(slot);
    return -1;
  }

  private lookup(slot: number, d: Uint32Array, di: number, s: Uint32Array, si: number, ifindex: number): number {
    const nb = this.nb;
    if (nb === undefined) return this.failed(slot, this.m.noRoute);
    const d0 = d[di];
    if (isIp6Multicast(d0)) return this.failed(slot, this.m.multicast);
    const src = this.src;
    const hop = this.nexthop;
    const at = slot * 4;
    if (isIp6LinkLocal(d0)) {
      // No route: the interface it arrived on (or ours), our link-local address there.
      if (ifindex !== 0 && ifindex !== this.ifindex) return this.failed(slot, this.m.iface);
      if (!nb.linkLocalAddress6(this.ifindex, this.route.src)) this.route.src.fill(0);
      for (let i = 0; i < 4; i++) hop[at + i] = d[di + i];
    } else {
      const r = this.route;
      if (!nb.lookupRoute6(d0, d[di + 1], d[di + 2], d[di + 3], r)) return this.failed(slot, this.m.noRoute);
      if (r.type !== RouteType.unicast) return this.failed(slot, this.routeTypeDrop[r.type & 255]);
      if (r.ifindex !== this.ifindex) return this.failed(slot, this.m.iface);
      for (let i = 0; i < 4; i++) hop[at + i] = r.nexthop[i];
    }
    if (!this.interfaceMac()) return this.failed(slot, this.m.iface);
    const rs = this.route.src;
    if (!isIp6Unspecified(s[si], s[si + 1], s[si + 2], s[si + 3])) {
      if (!nb.isLocalAddress6(s[si], s[si + 1], s[si + 2], s[si + 3])) return this.failed(slot, this.m.badSourceIp);
      for (let i = 0; i < 4; i++) src[at + i] = s[si + i];
    } else if (isIp6Unspecified(rs[0], rs[1], rs[2], rs[3])) return this.failed(slot, this.m.sourceIp);
    else for (let i = 0; i < 4; i++) src[at + i] = rs[i];
    const n = this.neighbor;
    if (!nb.lookupNeighbor6(this.ifindex, hop[at], hop[at + 1], hop[at + 2], hop[at + 3], n) || !n.hasMac) {
      this.dropMetric[slot] = this.m.noNeighbor;
      return NO_NEIGHBOR;
    }
    this.mac.set(n.mac, slot * 6);
    return OK;
  }

  private failed(slot: number, metric: number): number {
    this.dropMetric[slot] = metric;
    return FAILED;
  }

  private solicit(slot: number): void {
    const mx = this.metrics;
    const hop = this.nexthop;
    const at = slot * 4;
    const a0 = hop[at];
    const a1 = hop[at + 1];
    const a2 = hop[at + 2];
    const a3 = hop[at + 3];
    const h = (Math.imul(a0 ^ a1 ^ a2 ^ a3, 0x9e3779b1) >>> 24) & (SOLICIT_SLOTS - 1);
    const mem = this.solicited;
    const b = h * 4;
    if (mem[b] === a0 && mem[b + 1] === a1 && mem[b + 2] === a2 && mem[b + 3] === a3) {
      if (this.now - this.solicitedAt[h] < this.resolicitMs) {
        mx.add(this.m.suppressed, 1);
        return;
      }
    }
    const encode = this.encode;
    if (encode === undefined) {
      mx.add(this.m.unsupported, 1);
      return;
    }
    mem[b] = a0;
    mem[b + 1] = a1;
    mem[b + 2] = a2;
    mem[b + 3] = a3;
    this.solicitedAt[h] = this.now;
    const ring = this.ring;
    const off = ring.claim();
    if (encode(ring.i32, off, this.ifindex, a0 | 0, a1 | 0, a2 | 0, a3 | 0) !== 0) {
      // A slot too small for the IPv6 message (a solicit ring sized for IPv4): publish a zeroed
      // slot, which the netlink tile refuses (bad check), rather than a stale message.
      ring.i32.fill(0, off >> 2, (off + ring.spec.slotSize) >> 2);
      ring.publish();
      mx.add(this.m.unsupported, 1);
      return;
    }
    ring.publish();
    mx.add(this.m.solicits, 1);
  }
}
