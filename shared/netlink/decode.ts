// Decoding rtnetlink messages into the records of shared/netmodel.ts. Nothing here throws on bad
// input: a message that cannot be trusted is dropped and counted by reason (malformed_*), a
// well-formed message we do not mirror is counted as ignored_* (IPv6, other route tables...).
import type { AddrRecord, LinkRecord, NeighRecord, NetEvent, RouteRecord } from "../netmodel";
import { prefixMask } from "../netmodel";
import { AddrScan } from "./addr-msg";
import {
  AF_INET,
  AF_UNSPEC,
  ETH_ALEN,
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
import { AttrCursor, align4, HOST_LITTLE_ENDIAN, type MessageCursor } from "./wire";

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
  }

  /** The current message as an event, or undefined when it was dropped (and counted). */
  event(): NetEvent | undefined {
    switch (this.cursor.type) {
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        const link = this.link();
        return link && { kind: "link", op: this.cursor.type === RTM_NEWLINK ? "new" : "del", link };
      }
      case RTM_NEWADDR:
      case RTM_DELADDR: {
        const addr = this.addr();
        return addr && { kind: "addr", op: this.cursor.type === RTM_NEWADDR ? "new" : "del", addr };
      }
      case RTM_NEWROUTE:
      case RTM_DELROUTE: {
        const route = this.route();
        return route && { kind: "route", op: this.cursor.type === RTM_NEWROUTE ? "new" : "del", route };
      }
      case RTM_NEWNEIGH:
      case RTM_DELNEIGH: {
        const neigh = this.neigh();
        return neigh && { kind: "neigh", op: this.cursor.type === RTM_NEWNEIGH ? "new" : "del", neigh };
      }
      default:
        return this.ignore("type");
    }
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
