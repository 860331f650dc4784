// Decoding rtnetlink messages into the records of shared/netmodel.ts. Nothing here throws on bad
// input: a message that cannot be trusted is dropped and counted by reason (malformed_*), a
// well-formed message we do not mirror is counted as ignored_* (other families, route tables...).
// IPv4 and IPv6 share each message kind's walk (AddrScan, RouteScan, NeighScan); the family byte
// chooses the record: AF_INET -> AddrRecord..., AF_INET6 -> Addr6Record... (addresses as words).
import { ip6WordsFromBytes, isIp6Multicast } from "../ip6";
import type {
  Addr6Record,
  AddrRecord,
  LinkRecord,
  Neigh6Record,
  NeighRecord,
  NetEvent,
  Route6Record,
  RouteRecord,
} from "../netmodel";
import { prefixMask } from "../netmodel";
import { AddrScan } from "./addr-msg";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  ETH_ALEN,
  IFA_FLAGS,
  IFF_LOWER_UP,
  IFF_UP,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NTF_PROXY,
  RT_TABLE_LOCAL,
  RT_TABLE_MAIN,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_F_CLONED,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
} from "./constants";
import type { IgnoredReason, MalformedReason, NetlinkCounters } from "./counters";
import { cStringAt, LinkScan } from "./link-msg";
import { NeighScan } from "./neigh-msg";
import { RouteScan } from "./route-msg";
import { AttrCursor, type AttrVisitor, align4, HOST_LITTLE_ENDIAN, type MessageCursor } from "./wire";

/** IFA_FLAGS (u32, the full IFA_F_* set) of an address message: AddrScan leaves it to a visitor. */
class IfaFlagsVisitor implements AttrVisitor {
  /** IFA_FLAGS, -1 when absent. */
  flags = -1;

  constructor(private readonly view: DataView) {}

  attr(type: number, start: number, length: number): boolean {
    if (type !== IFA_FLAGS) return true;
    if (length !== 4) return false;
    this.flags = this.view.getUint32(start, HOST_LITTLE_ENDIAN);
    return true;
  }
}

/** The error code and extended-ack details of an NLMSG_ERROR (or NLMSG_DONE) message. */
export interface AckInfo {
  /** 0 for an ack, otherwise the positive errno the kernel reported. */
  errno: number;
  /** NLMSGERR_ATTR_MSG: the kernel's explanation, when it gave one. */
  message: string | undefined;
  /** NLMSGERR_ATTR_OFFS: byte offset of the offending attribute in the request. */
  attrOffset: number | undefined;
}

/** Decodes the current message of a MessageCursor. One instance per receive buffer. */
export class RecordDecoder {
  /** For the TLVs of acks (the message kinds are walked by the library's scans). */
  private readonly attrs: AttrCursor;
  private readonly links: LinkScan;
  private readonly addrs: AddrScan;
  private readonly routes: RouteScan;
  private readonly neighs: NeighScan;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly ifaFlags: IfaFlagsVisitor;

  constructor(
    readonly cursor: MessageCursor,
    readonly counters: NetlinkCounters,
  ) {
    this.view = cursor.view;
    this.bytes = cursor.bytes;
    this.attrs = new AttrCursor(this.view);
    this.links = new LinkScan(cursor);
    this.addrs = new AddrScan(cursor);
    this.routes = new RouteScan(cursor);
    this.neighs = new NeighScan(cursor);
    this.ifaFlags = new IfaFlagsVisitor(this.view);
  }

  /** The current message as an event, or undefined when it was dropped (and counted). */
  event(): NetEvent | undefined {
    const type = this.cursor.type;
    switch (type) {
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        const link = this.link();
        return link && { kind: "link", op: type === RTM_NEWLINK ? "new" : "del", link };
      }
      case RTM_NEWADDR:
      case RTM_DELADDR: {
        const op = type === RTM_NEWADDR ? "new" : "del";
        if (this.family() === AF_INET6) {
          const addr = this.addr6();
          return addr && { kind: "addr6", op, addr };
        }
        const addr = this.addr();
        return addr && { kind: "addr", op, addr };
      }
      case RTM_NEWROUTE:
      case RTM_DELROUTE: {
        const op = type === RTM_NEWROUTE ? "new" : "del";
        if (this.family() === AF_INET6) {
          const route = this.route6();
          return route && { kind: "route6", op, route };
        }
        const route = this.route();
        return route && { kind: "route", op, route };
      }
      case RTM_NEWNEIGH:
      case RTM_DELNEIGH:
        return this.neighEvent(type === RTM_NEWNEIGH ? "new" : "del");
      default:
        return this.ignore("type");
    }
  }

  private neighEvent(op: "new" | "del"): NetEvent | undefined {
    if (this.family() === AF_INET6) {
      const neigh = this.neigh6();
      return neigh && { kind: "neigh6", op, neigh };
    }
    const neigh = this.neigh();
    return neigh && { kind: "neigh", op, neigh };
  }

  /** The first payload byte (every rtnetlink struct starts with its family), -1 when empty. */
  private family(): number {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    return end > p ? this.view.getUint8(p) : -1;
  }

  /** ifinfomsg + IFLA_* (any link type; AF_UNSPEC messages only, AF_BRIDGE port info is ignored).
   *  A projection of LinkScan, the library's walk. */
  link(): LinkRecord | undefined {
    const s = this.links;
    if (!s.fixed()) return this.drop("short_payload");
    if (s.af !== AF_UNSPEC) return this.ignore("family");
    if (!s.walk()) return this.drop(s.reason ?? "short_payload");
    // Only an Ethernet-sized address is a MAC (the walk refused other sizes on Ethernet links).
    const mac = s.macAt >= 0 ? this.bytes.slice(s.macAt, s.macAt + ETH_ALEN) : null;
    const { ifindex, name, mtu, linkType: type, flags } = s;
    return { ifindex, name, mac, mtu, up: (flags & IFF_UP) !== 0, lowerUp: (flags & IFF_LOWER_UP) !== 0, type, flags };
  }

  /** ifaddrmsg + IFA_* (IPv4 only): a projection of AddrScan. */
  addr(): AddrRecord | undefined {
    const s = this.addrs;
    if (!s.fixed()) return this.drop("short_payload");
    if (s.af !== AF_INET) return this.ignore("family");
    if (!s.walk()) return this.drop(s.reason ?? "short_payload");
    const v = this.view;
    const address = v.getUint32(s.localAt >= 0 ? s.localAt : s.addressAt, false);
    const broadcast = s.broadcastAt >= 0 ? v.getUint32(s.broadcastAt, false) : 0;
    return { ifindex: s.ifindex, address, prefixLen: s.prefixLen, broadcast, scope: s.scope };
  }

  /** rtmsg + RTA_* (IPv4, tables local and main; RTA_TABLE overrides rtm_table): a projection of
   *  RouteScan. A multipath route is mirrored with its first next hop. */
  route(): RouteRecord | undefined {
    const s = this.routes;
    if (!s.fixed()) return this.drop("short_payload");
    if (s.af !== AF_INET) return this.ignore("family");
    if (!s.walk()) return this.drop(s.reason ?? "short_payload");
    const v = this.view;
    const dst = s.dstAt >= 0 ? v.getUint32(s.dstAt, false) : 0;
    // The kernel refuses host bits beyond the prefix; a route that has them cannot be placed.
    if ((dst & ~prefixMask(s.dstLen)) !== 0) return this.drop("bad_prefix_len");
    if (s.table !== RT_TABLE_MAIN && s.table !== RT_TABLE_LOCAL) return this.ignore("table");
    if ((s.flags & RTM_F_CLONED) !== 0) return this.ignore("cloned_route");
    // RTA_OIF / RTA_GATEWAY and RTA_MULTIPATH: whichever came last in the message wins.
    const hop = s.firstHop;
    const multipath = s.multipathAt >= 0;
    const oif = multipath && s.multipathAt > s.oifAt ? hop.oif : Math.max(s.oif, 0);
    const gatewayAt = multipath && s.multipathAt > s.gatewayAt ? hop.gatewayAt : s.gatewayAt;
    if (multipath) this.counters.multipath_first_hop++;
    return {
      table: s.table,
      type: s.type,
      dst,
      dstLen: s.dstLen,
      gateway: gatewayAt >= 0 ? v.getUint32(gatewayAt, false) : 0,
      oif,
      prefsrc: s.prefsrcAt >= 0 ? v.getUint32(s.prefsrcAt, false) : 0,
      priority: Math.max(s.priority, 0),
      scope: s.scope,
      protocol: s.protocol,
      tos: s.tos,
    };
  }

  /** ndmsg + NDA_* (IPv4 only, no proxy entries, 6-byte hardware addresses): a projection of
   *  NeighScan. */
  neigh(): NeighRecord | undefined {
    const s = this.neighs;
    if (!s.fixed()) return this.drop("short_payload");
    if (s.af !== AF_INET) return this.ignore("family");
    if ((s.flags & NTF_PROXY) !== 0) return this.ignore("proxy_neigh");
    if (s.ifindex < 1) return this.drop("bad_ifindex");
    if (!s.walk(ETH_ALEN)) return this.drop(s.reason ?? "short_payload");
    const mac = s.lladdrAt >= 0 ? this.bytes.slice(s.lladdrAt, s.lladdrAt + ETH_ALEN) : null;
    return { ifindex: s.ifindex, ip: this.view.getUint32(s.dstAt, false), mac, state: s.state, flags: s.flags };
  }

  /** ifaddrmsg + IFA_* of AF_INET6: a projection of AddrScan (IFA_LOCAL when present, else
   *  IFA_ADDRESS; IFA_FLAGS when present, else the 8-bit ifa_flags). */
  addr6(): Addr6Record | undefined {
    const s = this.addrs;
    if (!s.fixed()) return this.drop("short_payload");
    if (s.af !== AF_INET6) return this.ignore("family");
    const f = this.ifaFlags;
    f.flags = -1;
    if (!s.walk(f)) return this.drop(s.reason ?? "short_payload");
    const address = new Uint32Array(4);
    ip6WordsFromBytes(this.bytes, s.localAt >= 0 ? s.localAt : s.addressAt, address);
    return {
      ifindex: s.ifindex,
      address,
      prefixLen: s.prefixLen,
      scope: s.scope,
      flags: f.flags >= 0 ? f.flags : s.flags,
    };
  }

  /** rtmsg + RTA_* of AF_INET6, tables local and main, destination routes only (a source-specific
   *  route is ignored: the net tile routes by destination). A multipath route is mirrored with its
   *  first next hop, as for IPv4. */
  route6(): Route6Record | undefined {
    const s = this.routes;
    if (!s.fixed()) return this.drop("short_payload");
    if (s.af !== AF_INET6) return this.ignore("family");
    if (s.srcLen > 128) return this.drop("bad_prefix_len");
    if (!s.walk()) return this.drop(s.reason ?? "short_payload");
    const dst = new Uint32Array(4);
    if (s.dstAt >= 0) ip6WordsFromBytes(this.bytes, s.dstAt, dst);
    if (!prefixOnly6(dst, s.dstLen)) return this.drop("bad_prefix_len");
    if (s.table !== RT_TABLE_MAIN && s.table !== RT_TABLE_LOCAL) return this.ignore("table");
    if ((s.flags & RTM_F_CLONED) !== 0) return this.ignore("cloned_route");
    if (s.srcLen !== 0) return this.ignore("source_route");
    const hop = s.firstHop;
    const multipath = s.multipathAt >= 0;
    const oif = multipath && s.multipathAt > s.oifAt ? hop.oif : Math.max(s.oif, 0);
    const gatewayAt = multipath && s.multipathAt > s.gatewayAt ? hop.gatewayAt : s.gatewayAt;
    if (multipath) this.counters.multipath_first_hop++;
    const gateway = new Uint32Array(4);
    if (gatewayAt >= 0) ip6WordsFromBytes(this.bytes, gatewayAt, gateway);
    const prefsrc = new Uint32Array(4);
    if (s.prefsrcAt >= 0) ip6WordsFromBytes(this.bytes, s.prefsrcAt, prefsrc);
    const { table, type, dstLen, protocol } = s;
    return { table, type, dst, dstLen, gateway, oif, prefsrc, priority: Math.max(s.priority, 0), protocol };
  }

  /** ndmsg + NDA_* of AF_INET6 (no proxy entries; entries with a hardware address of another
   *  length than Ethernet's are ignored, e.g. on ip6gre or sit tunnels): a projection of NeighScan. */
  neigh6(): Neigh6Record | undefined {
    const s = this.neighs;
    if (!s.fixed()) return this.drop("short_payload");
    if (s.af !== AF_INET6) return this.ignore("family");
    if ((s.flags & NTF_PROXY) !== 0) return this.ignore("proxy_neigh");
    if (s.ifindex < 1) return this.drop("bad_ifindex");
    // Any hardware address length the kernel allows (a tunnel's is 4 or 16 bytes): not malformed,
    // which would resync the tile after every dump, but not an Ethernet neighbor either.
    if (!s.walk(0)) return this.drop(s.reason ?? "short_payload");
    if (s.lladdrAt >= 0 && s.lladdrLength !== ETH_ALEN) return this.ignore("non_ethernet_lladdr");
    const mac = s.lladdrAt >= 0 ? this.bytes.slice(s.lladdrAt, s.lladdrAt + ETH_ALEN) : null;
    const ip = new Uint32Array(4);
    ip6WordsFromBytes(this.bytes, s.dstAt, ip);
    if (isIp6Multicast(ip[0] ?? 0)) return this.ignore("multicast_neigh");
    return { ifindex: s.ifindex, ip, mac, state: s.state, flags: s.flags };
  }

  /** NLMSG_ERROR: error code (0 = ack) and extended-ack attributes. */
  ack(): AckInfo | undefined {
    const { payloadStart: p, payloadEnd: end, flags } = this.cursor;
    if (end - p < 4 + NLMSG_HDRLEN) return this.drop("bad_error_msg");
    const error = this.view.getInt32(p, HOST_LITTLE_ENDIAN);
    // Without NETLINK_CAP_ACK the request follows in full; its own length says how much.
    let tlvStart = p + 4 + NLMSG_HDRLEN;
    if ((flags & NLM_F_CAPPED) === 0) {
      const requestLength = this.view.getUint32(p + 4, HOST_LITTLE_ENDIAN);
      if (requestLength < NLMSG_HDRLEN || requestLength > end - p - 4) return this.drop("bad_error_msg");
      tlvStart = p + 4 + align4(requestLength);
    }
    return this.ackInfo(error, flags, Math.min(tlvStart, end), end);
  }

  /** NLMSG_DONE: the dump's final error code (0 normally) and extended-ack attributes. */
  done(): AckInfo | undefined {
    const { payloadStart: p, payloadEnd: end, flags } = this.cursor;
    if (end === p) return { errno: 0, message: undefined, attrOffset: undefined };
    if (end - p < 4) return this.drop("bad_error_msg");
    return this.ackInfo(this.view.getInt32(p, HOST_LITTLE_ENDIAN), flags, p + 4, end);
  }

  private ackInfo(error: number, flags: number, tlvStart: number, end: number): AckInfo | undefined {
    if (error > 0) return this.drop("bad_error_msg");
    const info: AckInfo = { errno: -error, message: undefined, attrOffset: undefined };
    if ((flags & NLM_F_ACK_TLVS) === 0) return info;
    const a = this.attrs;
    a.begin(tlvStart, end);
    while (a.next()) {
      if (a.type === NLMSGERR_ATTR_MSG) {
        info.message = this.cString(a.dataStart, a.dataLength, a.dataLength);
      } else if (a.type === NLMSGERR_ATTR_OFFS && a.dataLength === 4) {
        info.attrOffset = this.view.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
      }
    }
    // A damaged TLV area does not hide the error code itself, which was already validated.
    if (a.malformed) this.counters[`malformed_${a.malformed}`]++;
    return info;
  }

  /** The library's C-string decoder (link-msg.ts), over this decoder's buffer. */
  private cString(start: number, length: number, maxBytes: number): string | undefined {
    return cStringAt(this.bytes, start, length, maxBytes);
  }

  private drop(reason: MalformedReason): undefined {
    this.counters[`malformed_${reason}`]++;
    return undefined;
  }

  private ignore(reason: IgnoredReason): undefined {
    this.counters[`ignored_${reason}`]++;
    return undefined;
  }
}

/** No bit of dst set beyond its first dstLen bits (the kernel stores IPv6 prefixes masked). */
function prefixOnly6(dst: Uint32Array, dstLen: number): boolean {
  for (let i = 0; i < 4; i++) {
    const bits = Math.min(32, Math.max(0, dstLen - i * 32));
    if (((dst[i] ?? 0) & ~prefixMask(bits)) !== 0) return false;
  }
  return true;
}
