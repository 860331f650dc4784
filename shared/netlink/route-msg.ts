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
import { cStringAt } from "./link-msg";
import { AttrCursor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

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

export class RouteDecoder {
  malformed = 0;
  private readonly attrs: AttrCursor;
  private readonly inner: AttrCursor;

  constructor(private readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
    this.inner = new AttrCursor(cursor.view);
  }

  route(): Route | undefined {
    const { payloadStart: p, payloadEnd: end, view: v } = this.cursor;
    if (end - p < RTMSG_SIZE) return this.drop();
    const af = v.getUint8(p);
    if (af !== AF_INET && af !== AF_INET6) return this.drop();
    const size = af === AF_INET ? 4 : 16;
    const route: Route = {
      family: af === AF_INET ? 4 : 6,
      dstLen: v.getUint8(p + 1),
      srcLen: v.getUint8(p + 2),
      tos: v.getUint8(p + 3),
      table: v.getUint8(p + 4),
      protocol: v.getUint8(p + 5),
      scope: v.getUint8(p + 6),
      type: ROUTE_TYPES[v.getUint8(p + 7)] ?? "unspec",
      flags: v.getUint32(p + 8, HOST_LITTLE_ENDIAN),
    };
    if (route.dstLen > size * 8 || route.srcLen > size * 8) return this.drop();
    const a = this.attrs;
    a.begin(p + align4(RTMSG_SIZE), end);
    while (a.next()) if (!this.routeAttr(route, a, size)) return this.drop();
    if (a.malformed) return this.drop();
    if (route.dstLen > 0 && route.dst === undefined) return this.drop();
    return route;
  }

  private routeAttr(route: Route, a: AttrCursor, size: number): boolean {
    const { view: v, bytes } = this.cursor;
    const ip = (): string | undefined =>
      a.dataLength === size ? formatIp(bytes.subarray(a.dataStart, a.dataStart + size)) : undefined;
    const u32 = a.dataLength === 4 ? v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN) : undefined;
    switch (a.type) {
      case RTA_DST:
        route.dst = ip();
        return route.dst !== undefined;
      case RTA_SRC:
        route.src = ip();
        return route.src !== undefined;
      case RTA_GATEWAY:
        route.gateway = ip();
        return route.gateway !== undefined;
      case RTA_PREFSRC:
        route.prefsrc = ip();
        return route.prefsrc !== undefined;
      case RTA_VIA:
        route.via = this.via(a.dataStart, a.dataLength);
        return route.via !== undefined;
      case RTA_OIF:
        route.oif = u32;
        return route.oif !== undefined;
      case RTA_IIF:
        route.iif = u32;
        return route.iif !== undefined;
      case RTA_PRIORITY:
        route.metric = u32;
        return route.metric !== undefined;
      case RTA_TABLE:
        if (u32 === undefined) return false;
        route.table = u32;
        return true;
      case RTA_MARK:
        route.mark = u32;
        return route.mark !== undefined;
      case RTA_NH_ID:
        route.nhid = u32;
        return route.nhid !== undefined;
      case RTA_EXPIRES:
        if (a.dataLength !== 8) return false;
        route.expires = Math.round(Number(v.getBigUint64(a.dataStart, HOST_LITTLE_ENDIAN)) / 100);
        return true;
      case RTA_PREF:
        if (a.dataLength !== 1) return false;
        route.pref = v.getUint8(a.dataStart);
        return true;
      case RTA_METRICS:
        route.metrics = this.metrics(a.dataStart, a.dataStart + a.dataLength);
        return route.metrics !== undefined;
      case RTA_MULTIPATH:
        route.nexthops = this.nexthops(a.dataStart, a.dataStart + a.dataLength, size);
        return route.nexthops !== undefined;
      default:
        return true;
    }
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

  /** RTA_MULTIPATH: rtnexthop {u16 len, u8 flags, u8 hops, i32 ifindex} each followed by attributes. */
  private nexthops(start: number, end: number, size: number): NextHop[] | undefined {
    const { view: v, bytes } = this.cursor;
    const hops: NextHop[] = [];
    for (let at = start; at < end; ) {
      if (end - at < RTNEXTHOP_SIZE || hops.length >= 1024) return undefined;
      const length = v.getUint16(at, HOST_LITTLE_ENDIAN);
      if (length < RTNEXTHOP_SIZE || length > end - at) return undefined;
      const hop: NextHop = {
        flags: v.getUint8(at + 2),
        weight: v.getUint8(at + 3) + 1,
        oif: v.getInt32(at + 4, HOST_LITTLE_ENDIAN),
      };
      const a = this.inner;
      a.begin(at + RTNEXTHOP_SIZE, at + length);
      while (a.next()) {
        if (a.type === RTA_GATEWAY) {
          if (a.dataLength !== size) return undefined;
          hop.gateway = formatIp(bytes.subarray(a.dataStart, a.dataStart + size));
        } else if (a.type === RTA_VIA) {
          hop.via = this.via(a.dataStart, a.dataLength);
          if (hop.via === undefined) return undefined;
        }
      }
      if (a.malformed) return undefined;
      hops.push(hop);
      at += align4(length);
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
