// Routes (RTM_*ROUTE), IPv4 and IPv6, every table and type, metrics and multipath, for the
// netstate library. Decoding never throws: a message that cannot be trusted is dropped
// (undefined) and counted in `malformed`.
import { afOf, type IpFamily } from "./addr-msg";
import { formatIp } from "./address-text";
import {
  AF_INET,
  AF_INET6,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTMSG_SIZE,
  RTNEXTHOP_SIZE,
} from "./constants";
import type { MalformedReason } from "./counters";
import { cStringAt } from "./link-msg";
import { AttrCursor, type AttrVisitor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

export const RTA_SRC = 2;
export const RTA_IIF = 3;
export const RTA_METRICS = 8;
export const RTA_FLOW = 11;
export const RTA_CACHEINFO = 12;
export const RTA_MARK = 16;
export const RTA_VIA = 18;
export const RTA_PREF = 20;
export const RTA_EXPIRES = 23;
export const RTA_UID = 25;
export const RTA_NH_ID = 30;
export const RTM_F_CLONED = 0x200;
export const RTM_F_LOOKUP_TABLE = 0x1000;
export const RTM_F_FIB_MATCH = 0x2000;
export const RT_TABLE_UNSPEC = 0;

/** RTN_* route types by number (index), named as iproute2 names them. */
export const ROUTE_TYPES = [
  "unspec",
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
  "xresolve",
] as const;
export type RouteType = (typeof ROUTE_TYPES)[number];

/** RTAX_* metrics by number (index), named as iproute2 names them; 16 (congctl) is a string. */
export const ROUTE_METRICS = [
  "",
  "lock",
  "mtu",
  "window",
  "rtt",
  "rttvar",
  "ssthresh",
  "cwnd",
  "advmss",
  "reordering",
  "hoplimit",
  "initcwnd",
  "features",
  "rto_min",
  "initrwnd",
  "quickack",
  "congctl",
  "fastopen_no_cookie",
] as const;
const RTAX_CC_ALGO = 16;

export interface NextHop {
  gateway?: string;
  /** RTA_VIA: a gateway of the other family (IPv4 route via IPv6). */
  via?: string;
  oif: number;
  /** rtnh_hops + 1, as iproute2 shows it. */
  weight: number;
  /** RTNH_F_* (1 dead, 4 onlink, 16 linkdown). */
  flags: number;
}

export interface Route {
  family: IpFamily;
  table: number;
  type: RouteType;
  /** Destination prefix address; undefined for the default route (dstLen 0). */
  dst?: string;
  dstLen: number;
  src?: string;
  srcLen: number;
  tos: number;
  /** RTPROT_* (2 kernel, 3 boot, 4 static...). */
  protocol: number;
  /** RT_SCOPE_* (0 universe, 253 link, 254 host, 255 nowhere). */
  scope: number;
  /** rtm_flags (RTNH_F_* in the low byte, RTM_F_* above). */
  flags: number;
  gateway?: string;
  via?: string;
  oif?: number;
  iif?: number;
  prefsrc?: string;
  /** RTA_PRIORITY. */
  metric?: number;
  /** RTA_METRICS by iproute2 name (mtu, advmss, hoplimit, initcwnd, congctl...). */
  metrics?: Record<string, number | string>;
  nexthops?: NextHop[];
  /** IPv6 router preference (RTA_PREF: 0 medium, 1 high, 3 low). */
  pref?: number;
  /** RTA_EXPIRES, seconds. */
  expires?: number;
  mark?: number;
  nhid?: number;
}

/** Where the rtnexthop the reader is on, and its attributes, lie; validated by readHop. */
export class NexthopReader {
  reason: MalformedReason | undefined;
  /** rtnh_len: bytes of this hop, its attributes included. */
  length = 0;
  flags = 0;
  hops = 0;
  oif = 0;
  /** Data offset of the hop's RTA_GATEWAY (-1: none), and of its RTA_VIA with that one's length. */
  gatewayAt = -1;
  viaAt = -1;
  viaLength = 0;
  private readonly attrs: AttrCursor;

  constructor(private readonly view: DataView) {
    this.attrs = new AttrCursor(view);
  }

  /** The rtnexthop at `at` (inside an RTA_MULTIPATH ending at `end`), gateways of addrSize bytes.
   *  False with `reason` when its frame, ifindex or gateway cannot be trusted. RTA_VIA is only
   *  located: the library, its only reader, validates it. */
  read(at: number, end: number, addrSize: number): boolean {
    const v = this.view;
    this.reason = undefined;
    if (end - at < RTNEXTHOP_SIZE) return this.fail("bad_multipath");
    const length = v.getUint16(at, HOST_LITTLE_ENDIAN);
    if (length < RTNEXTHOP_SIZE || length > end - at) return this.fail("bad_multipath");
    this.length = length;
    this.flags = v.getUint8(at + 2);
    this.hops = v.getUint8(at + 3);
    this.oif = v.getInt32(at + 4, HOST_LITTLE_ENDIAN);
    if (this.oif < 0) return this.fail("bad_multipath");
    this.gatewayAt = -1;
    this.viaAt = -1;
    const a = this.attrs;
    a.begin(at + RTNEXTHOP_SIZE, at + length);
    while (a.next()) {
      if (a.type === RTA_GATEWAY) {
        if (a.dataLength !== addrSize) return this.fail("bad_attr_size");
        this.gatewayAt = a.dataStart;
      } else if (a.type === RTA_VIA) {
        this.viaAt = a.dataStart;
        this.viaLength = a.dataLength;
      }
    }
    return a.malformed ? this.fail("bad_multipath") : true;
  }

  private fail(reason: MalformedReason): false {
    this.reason = reason;
    return false;
  }
}

/**
 * The one attribute walk of a route message (rtmsg + RTA_*), shared by the library's RouteDecoder
 * and the netlink tile's record builder (decode.ts). It reads the fixed struct and the attributes
 * both of them use, checking every length, and leaves numbers and byte offsets: addresses stay
 * on the wire (addrSize bytes at *At, -1 when absent), u32 attributes are -1 when absent.
 * Attributes only the library reads go to the AttrVisitor it passes. Allocates nothing.
 */
export class RouteScan {
  /** Why walk() failed (the tile counts it; the library only counts that it failed). */
  reason: MalformedReason | undefined;
  af = 0;
  /** 4 for AF_INET, else 16. */
  addrSize = 4;
  dstLen = 0;
  srcLen = 0;
  tos = 0;
  /** rtm_table, overridden by RTA_TABLE. */
  table = 0;
  protocol = 0;
  scope = 0;
  type = 0;
  flags = 0;
  dstAt = -1;
  gatewayAt = -1;
  prefsrcAt = -1;
  oif = -1;
  /** Data offsets of RTA_OIF and RTA_MULTIPATH, to know which of them came last. */
  oifAt = -1;
  priority = -1;
  multipathAt = -1;
  multipathEnd = -1;
  /** The first next hop of the last RTA_MULTIPATH, validated by the walk. */
  readonly firstHop: NexthopReader;
  private readonly attrs: AttrCursor;

  constructor(readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
    this.firstHop = new NexthopReader(cursor.view);
  }

  /** The rtmsg of the cursor's current message; false (short_payload) when it does not fit. */
  fixed(): boolean {
    const { payloadStart: p, payloadEnd: end, view: v } = this.cursor;
    if (end - p < RTMSG_SIZE) return this.fail("short_payload");
    this.af = v.getUint8(p);
    this.addrSize = this.af === AF_INET ? 4 : 16;
    this.dstLen = v.getUint8(p + 1);
    this.srcLen = v.getUint8(p + 2);
    this.tos = v.getUint8(p + 3);
    this.table = v.getUint8(p + 4);
    this.protocol = v.getUint8(p + 5);
    this.scope = v.getUint8(p + 6);
    this.type = v.getUint8(p + 7);
    this.flags = v.getUint32(p + 8, HOST_LITTLE_ENDIAN);
    return true;
  }

  /** The attributes, after fixed(). The first fault ends the walk (false, `reason`). */
  walk(extra?: AttrVisitor): boolean {
    const { payloadStart: p, payloadEnd: end, view: v } = this.cursor;
    const size = this.addrSize;
    if (this.dstLen > size * 8) return this.fail("bad_prefix_len");
    // Locals in the loop, fields at the end: this is the netlink tile's hot path (dumps of 100k routes).
    let dstAt = -1;
    let gatewayAt = -1;
    let prefsrcAt = -1;
    let oif = -1;
    let oifAt = -1;
    let priority = -1;
    let multipathAt = -1;
    let multipathEnd = -1;
    const a = this.attrs;
    a.begin(p + align4(RTMSG_SIZE), end);
    while (a.next()) {
      const type = a.type;
      const at = a.dataStart;
      switch (type) {
        case RTA_DST:
        case RTA_GATEWAY:
        case RTA_PREFSRC:
          if (a.dataLength !== size) return this.fail("bad_attr_size");
          if (type === RTA_DST) dstAt = at;
          else if (type === RTA_GATEWAY) gatewayAt = at;
          else prefsrcAt = at;
          break;
        case RTA_OIF:
        case RTA_PRIORITY:
        case RTA_TABLE: {
          if (a.dataLength !== 4) return this.fail("bad_attr_size");
          const n = v.getUint32(at, HOST_LITTLE_ENDIAN);
          if (type === RTA_OIF) {
            oif = n;
            oifAt = at;
          } else if (type === RTA_PRIORITY) priority = n;
          else this.table = n;
          break;
        }
        case RTA_MULTIPATH:
          if (!this.firstHop.read(at, at + a.dataLength, size))
            return this.fail(this.firstHop.reason ?? "bad_multipath");
          multipathAt = at;
          multipathEnd = at + a.dataLength;
          break;
        default:
          if (extra !== undefined && !extra.attr(type, at, a.dataLength)) return this.fail("bad_attr_size");
      }
    }
    if (a.malformed) return this.fail(a.malformed);
    if (this.dstLen > 0 && dstAt < 0) return this.fail("missing_attr");
    this.dstAt = dstAt;
    this.gatewayAt = gatewayAt;
    this.prefsrcAt = prefsrcAt;
    this.oif = oif;
    this.oifAt = oifAt;
    this.priority = priority;
    this.multipathAt = multipathAt;
    this.multipathEnd = multipathEnd;
    return true;
  }

  private fail(reason: MalformedReason): false {
    this.reason = reason;
    return false;
  }
}

/** Decodes route messages into Route: a projection of RouteScan, with address strings. */
export class RouteDecoder implements AttrVisitor {
  malformed = 0;
  private readonly scan: RouteScan;
  private readonly hop: NexthopReader;
  private readonly inner: AttrCursor;
  /** The route being decoded, for attr() (the attributes only the library reads). */
  private current: Route | undefined;

  constructor(private readonly cursor: MessageCursor) {
    this.scan = new RouteScan(cursor);
    this.hop = new NexthopReader(cursor.view);
    this.inner = new AttrCursor(cursor.view);
  }

  route(): Route | undefined {
    const s = this.scan;
    if (!s.fixed() || (s.af !== AF_INET && s.af !== AF_INET6) || s.srcLen > s.addrSize * 8) return this.drop();
    const route: Route = {
      family: s.af === AF_INET ? 4 : 6,
      dstLen: s.dstLen,
      srcLen: s.srcLen,
      tos: s.tos,
      table: 0,
      protocol: s.protocol,
      scope: s.scope,
      type: ROUTE_TYPES[s.type] ?? "unspec",
      flags: s.flags,
    };
    this.current = route;
    const walked = s.walk(this);
    this.current = undefined;
    if (!walked) return this.drop();
    route.table = s.table;
    if (s.dstAt >= 0) route.dst = this.ip(s.dstAt);
    if (s.gatewayAt >= 0) route.gateway = this.ip(s.gatewayAt);
    if (s.prefsrcAt >= 0) route.prefsrc = this.ip(s.prefsrcAt);
    if (s.oif >= 0) route.oif = s.oif;
    if (s.priority >= 0) route.metric = s.priority;
    if (s.multipathAt >= 0) {
      route.nexthops = this.nexthops(s.multipathAt, s.multipathEnd, s.addrSize);
      if (route.nexthops === undefined) return this.drop();
    }
    return route;
  }

  /** The attributes RouteScan leaves to the library; false when one is malformed. */
  attr(type: number, start: number, length: number): boolean {
    const route = this.current as Route;
    const v = this.cursor.view;
    const size = this.scan.addrSize;
    const u32 = length === 4 ? v.getUint32(start, HOST_LITTLE_ENDIAN) : undefined;
    switch (type) {
      case RTA_SRC:
        if (length !== size) return false;
        route.src = this.ip(start);
        return true;
      case RTA_VIA:
        route.via = this.via(start, length);
        return route.via !== undefined;
      case RTA_IIF:
        route.iif = u32;
        return u32 !== undefined;
      case RTA_MARK:
        route.mark = u32;
        return u32 !== undefined;
      case RTA_NH_ID:
        route.nhid = u32;
        return u32 !== undefined;
      case RTA_EXPIRES:
        if (length !== 8) return false;
        route.expires = Math.round(Number(v.getBigUint64(start, HOST_LITTLE_ENDIAN)) / 100);
        return true;
      case RTA_PREF:
        if (length !== 1) return false;
        route.pref = v.getUint8(start);
        return true;
      case RTA_METRICS:
        route.metrics = this.metrics(start, start + length);
        return route.metrics !== undefined;
      default:
        return true;
    }
  }

  private ip(at: number): string {
    return formatIp(this.cursor.bytes.subarray(at, at + this.scan.addrSize));
  }

  /** struct rtvia: u16 family, then the address. */
  private via(start: number, length: number): string | undefined {
    if (length < 2) return undefined;
    const af = this.cursor.view.getUint16(start, HOST_LITTLE_ENDIAN);
    const size = af === AF_INET ? 4 : af === AF_INET6 ? 16 : -1;
    if (length - 2 !== size) return undefined;
    return formatIp(this.cursor.bytes.subarray(start + 2, start + 2 + size));
  }

  private metrics(start: number, end: number): Record<string, number | string> | undefined {
    const a = this.inner;
    a.begin(start, end);
    const out: Record<string, number | string> = {};
    while (a.next()) {
      const name = ROUTE_METRICS[a.type] || `metric_${a.type}`;
      if (a.type === RTAX_CC_ALGO) {
        const algo = cStringAt(this.cursor.bytes, a.dataStart, a.dataLength, 16);
        if (algo === undefined) return undefined;
        out[name] = algo;
      } else {
        if (a.dataLength !== 4) return undefined;
        out[name] = this.cursor.view.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
      }
    }
    return a.malformed ? undefined : out;
  }

  /** Every next hop of RTA_MULTIPATH, read by the walk's NexthopReader (the first one again). */
  private nexthops(start: number, end: number, size: number): NextHop[] | undefined {
    const hops: NextHop[] = [];
    const r = this.hop;
    for (let at = start; at < end; at += align4(r.length)) {
      if (hops.length >= 1024 || !r.read(at, end, size)) return undefined;
      const hop: NextHop = { flags: r.flags, weight: r.hops + 1, oif: r.oif };
      if (r.gatewayAt >= 0) hop.gateway = this.ip(r.gatewayAt);
      if (r.viaAt >= 0) {
        hop.via = this.via(r.viaAt, r.viaLength);
        if (hop.via === undefined) return undefined;
      }
      hops.push(hop);
    }
    return hops;
  }

  private drop(): undefined {
    this.malformed++;
    return undefined;
  }
}

export function routeDumpRequest(seq: number, family: IpFamily | undefined): Uint8Array {
  const b = new RequestBuilder(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  b.u8(b.struct(RTMSG_SIZE), afOf(family));
  return b.finish();
}

/** Everything a route request carries, already validated (addresses as bytes of one family). */
export interface RouteSpec {
  family: IpFamily;
  dst?: Uint8Array;
  dstLen: number;
  src?: Uint8Array;
  srcLen?: number;
  tos?: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags?: number;
  gateway?: Uint8Array;
  oif?: number;
  iif?: number;
  prefsrc?: Uint8Array;
  metric?: number;
  metrics?: Map<number, number>;
  nexthops?: { gateway?: Uint8Array; oif?: number; weight: number; flags: number }[];
  pref?: number;
}

export type RouteOp = "add" | "replace" | "append" | "delete" | "get";

const OP_FLAGS: Record<RouteOp, number> = {
  add: NLM_F_CREATE | NLM_F_EXCL,
  replace: NLM_F_CREATE | NLM_F_REPLACE,
  append: NLM_F_CREATE,
  delete: 0,
  get: 0,
};

/** RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE (acked). */
export function routeRequest(seq: number, op: RouteOp, spec: RouteSpec): Uint8Array {
  const type = op === "delete" ? RTM_DELROUTE : op === "get" ? RTM_GETROUTE : RTM_NEWROUTE;
  const b = new RequestBuilder(type, NLM_F_REQUEST | NLM_F_ACK | OP_FLAGS[op], seq);
  const at = b.struct(RTMSG_SIZE);
  b.u8(at, spec.family === 4 ? AF_INET : AF_INET6)
    .u8(at + 1, spec.dstLen)
    .u8(at + 2, spec.srcLen ?? 0)
    .u8(at + 3, spec.tos ?? 0)
    .u8(at + 4, spec.table < 256 ? spec.table : RT_TABLE_UNSPEC)
    .u8(at + 5, spec.protocol)
    .u8(at + 6, spec.scope)
    .u8(at + 7, spec.type)
    .u32(at + 8, spec.flags ?? 0);
  if (spec.dst !== undefined) b.attrBytes(RTA_DST, spec.dst);
  if (spec.src !== undefined) b.attrBytes(RTA_SRC, spec.src);
  if (spec.table >= 256) b.attrU32(RTA_TABLE, spec.table);
  if (spec.gateway !== undefined) b.attrBytes(RTA_GATEWAY, spec.gateway);
  if (spec.oif !== undefined) b.attrU32(RTA_OIF, spec.oif);
  if (spec.iif !== undefined) b.attrU32(RTA_IIF, spec.iif);
  if (spec.prefsrc !== undefined) b.attrBytes(RTA_PREFSRC, spec.prefsrc);
  if (spec.metric !== undefined) b.attrU32(RTA_PRIORITY, spec.metric);
  if (spec.pref !== undefined) b.attrU8(RTA_PREF, spec.pref);
  if (spec.metrics !== undefined && spec.metrics.size > 0) {
    const m = b.nestStart(RTA_METRICS);
    for (const [key, value] of spec.metrics) b.attrU32(key, value);
    b.nestEnd(m);
  }
  if (spec.nexthops !== undefined) putNexthops(b, spec.nexthops);
  return b.finish();
}

function putNexthops(b: RequestBuilder, hops: NonNullable<RouteSpec["nexthops"]>): void {
  const mp = b.nestStart(RTA_MULTIPATH);
  for (const hop of hops) {
    const at = b.struct(RTNEXTHOP_SIZE);
    b.u8(at + 2, hop.flags)
      .u8(at + 3, hop.weight - 1)
      .u32(at + 4, hop.oif ?? 0);
    if (hop.gateway !== undefined) b.attrBytes(RTA_GATEWAY, hop.gateway);
    b.u16(at, b.size() - at);
  }
  b.nestEnd(mp);
}
