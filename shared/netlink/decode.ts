// Decoding rtnetlink messages into the records of shared/netmodel.ts. Nothing here throws on bad
// input: a message that cannot be trusted is dropped and counted by reason (malformed_*), a
// well-formed message we do not mirror is counted as ignored_* (IPv6, other route tables...).
import type { AddrRecord, LinkRecord, NeighRecord, NetEvent, RouteRecord } from "../netmodel";
import { prefixMask } from "../netmodel";
import {
  AF_INET,
  AF_UNSPEC,
  ARPHRD_ETHER,
  ETH_ALEN,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_LOCAL,
  IFADDRMSG_SIZE,
  IFF_LOWER_UP,
  IFF_UP,
  IFINFOMSG_SIZE,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_MTU,
  IFNAMSIZ,
  NDA_DST,
  NDA_LLADDR,
  NDMSG_SIZE,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NTF_PROXY,
  RT_TABLE_LOCAL,
  RT_TABLE_MAIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_F_CLONED,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTMSG_SIZE,
  RTNEXTHOP_SIZE,
} from "./constants";
import type { IgnoredReason, MalformedReason, NetlinkCounters } from "./counters";
import { cStringAt } from "./link-msg";
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
  private readonly attrs: AttrCursor;
  private readonly hopAttrs: AttrCursor;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;

  constructor(
    readonly cursor: MessageCursor,
    readonly counters: NetlinkCounters,
  ) {
    this.view = cursor.view;
    this.bytes = cursor.bytes;
    this.attrs = new AttrCursor(this.view);
    this.hopAttrs = new AttrCursor(this.view);
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

  /** ifinfomsg + IFLA_* (any link type; AF_UNSPEC messages only, AF_BRIDGE port info is ignored). */
  link(): LinkRecord | undefined {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    const v = this.view;
    if (end - p < IFINFOMSG_SIZE) return this.drop("short_payload");
    if (v.getUint8(p) !== AF_UNSPEC) return this.ignore("family");
    const type = v.getUint16(p + 2, HOST_LITTLE_ENDIAN);
    const ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    const flags = v.getUint32(p + 8, HOST_LITTLE_ENDIAN);
    if (ifindex < 1) return this.drop("bad_ifindex");
    let name: string | undefined;
    let mac: Uint8Array | null = null;
    let mtu = 0;
    const a = this.attrs;
    a.begin(p + align4(IFINFOMSG_SIZE), end);
    while (a.next()) {
      switch (a.type) {
        case IFLA_IFNAME: {
          name = this.cString(a.dataStart, a.dataLength, IFNAMSIZ);
          if (name === undefined || name.length === 0) return this.drop("bad_ifname");
          break;
        }
        case IFLA_ADDRESS:
          if (a.dataLength === ETH_ALEN) mac = this.bytes.slice(a.dataStart, a.dataStart + ETH_ALEN);
          else if (type === ARPHRD_ETHER) return this.drop("bad_lladdr_size");
          // Other link types (tunnels, InfiniBand) may have other address sizes: no MAC.
          break;
        case IFLA_MTU:
          if (a.dataLength !== 4) return this.drop("bad_attr_size");
          mtu = v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
          break;
      }
    }
    if (a.malformed) return this.drop(a.malformed);
    if (name === undefined) return this.drop("missing_attr");
    return { ifindex, name, mac, mtu, up: (flags & IFF_UP) !== 0, lowerUp: (flags & IFF_LOWER_UP) !== 0, type, flags };
  }

  /** ifaddrmsg + IFA_* (IPv4 only). */
  addr(): AddrRecord | undefined {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    const v = this.view;
    if (end - p < IFADDRMSG_SIZE) return this.drop("short_payload");
    if (v.getUint8(p) !== AF_INET) return this.ignore("family");
    const prefixLen = v.getUint8(p + 1);
    const scope = v.getUint8(p + 3);
    const ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    if (prefixLen > 32) return this.drop("bad_prefix_len");
    if (ifindex < 1) return this.drop("bad_ifindex");
    let local: number | undefined;
    let address: number | undefined;
    let broadcast = 0;
    const a = this.attrs;
    a.begin(p + align4(IFADDRMSG_SIZE), end);
    while (a.next()) {
      switch (a.type) {
        case IFA_ADDRESS:
        case IFA_LOCAL:
        case IFA_BROADCAST: {
          if (a.dataLength !== 4) return this.drop("bad_attr_size");
          const ip = v.getUint32(a.dataStart, false);
          if (a.type === IFA_ADDRESS) address = ip;
          else if (a.type === IFA_LOCAL) local = ip;
          else broadcast = ip;
          break;
        }
      }
    }
    if (a.malformed) return this.drop(a.malformed);
    const own = local ?? address;
    if (own === undefined) return this.drop("missing_attr");
    return { ifindex, address: own, prefixLen, broadcast, scope };
  }

  /** rtmsg + RTA_* (IPv4, tables local and main; RTA_TABLE overrides rtm_table). */
  route(): RouteRecord | undefined {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    const v = this.view;
    if (end - p < RTMSG_SIZE) return this.drop("short_payload");
    if (v.getUint8(p) !== AF_INET) return this.ignore("family");
    const dstLen = v.getUint8(p + 1);
    const tos = v.getUint8(p + 3);
    let table = v.getUint8(p + 4);
    const protocol = v.getUint8(p + 5);
    const scope = v.getUint8(p + 6);
    const type = v.getUint8(p + 7);
    const rtmFlags = v.getUint32(p + 8, HOST_LITTLE_ENDIAN);
    if (dstLen > 32) return this.drop("bad_prefix_len");
    let dst: number | undefined;
    let gateway = 0;
    let oif = 0;
    let prefsrc = 0;
    let priority = 0;
    let multipath = false;
    const a = this.attrs;
    a.begin(p + align4(RTMSG_SIZE), end);
    while (a.next()) {
      switch (a.type) {
        case RTA_DST:
        case RTA_GATEWAY:
        case RTA_PREFSRC: {
          if (a.dataLength !== 4) return this.drop("bad_attr_size");
          const ip = v.getUint32(a.dataStart, false);
          if (a.type === RTA_DST) dst = ip;
          else if (a.type === RTA_GATEWAY) gateway = ip;
          else prefsrc = ip;
          break;
        }
        case RTA_OIF:
        case RTA_PRIORITY:
        case RTA_TABLE: {
          if (a.dataLength !== 4) return this.drop("bad_attr_size");
          const n = v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
          if (a.type === RTA_OIF) oif = n;
          else if (a.type === RTA_PRIORITY) priority = n;
          else table = n;
          break;
        }
        case RTA_MULTIPATH: {
          const hop = this.firstHop(a.dataStart, a.dataStart + a.dataLength);
          if (hop === undefined) return undefined;
          oif = hop.oif;
          gateway = hop.gateway;
          multipath = true;
          break;
        }
      }
    }
    if (a.malformed) return this.drop(a.malformed);
    if (dstLen > 0 && dst === undefined) return this.drop("missing_attr");
    const destination = dst ?? 0;
    // The kernel refuses host bits beyond the prefix; a route that has them cannot be placed.
    if ((destination & ~prefixMask(dstLen)) !== 0) return this.drop("bad_prefix_len");
    if (table !== RT_TABLE_MAIN && table !== RT_TABLE_LOCAL) return this.ignore("table");
    if ((rtmFlags & RTM_F_CLONED) !== 0) return this.ignore("cloned_route");
    if (multipath) this.counters.multipath_first_hop++;
    return { table, type, dst: destination, dstLen, gateway, oif, prefsrc, priority, scope, protocol, tos };
  }

  /** ndmsg + NDA_* (IPv4 only, no proxy entries). */
  neigh(): NeighRecord | undefined {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    const v = this.view;
    if (end - p < NDMSG_SIZE) return this.drop("short_payload");
    if (v.getUint8(p) !== AF_INET) return this.ignore("family");
    const ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    const state = v.getUint16(p + 8, HOST_LITTLE_ENDIAN);
    const flags = v.getUint8(p + 10);
    if ((flags & NTF_PROXY) !== 0) return this.ignore("proxy_neigh");
    if (ifindex < 1) return this.drop("bad_ifindex");
    let ip: number | undefined;
    let mac: Uint8Array | null = null;
    const a = this.attrs;
    a.begin(p + align4(NDMSG_SIZE), end);
    while (a.next()) {
      switch (a.type) {
        case NDA_DST:
          if (a.dataLength !== 4) return this.drop("bad_attr_size");
          ip = v.getUint32(a.dataStart, false);
          break;
        case NDA_LLADDR:
          if (a.dataLength !== ETH_ALEN) return this.drop("bad_lladdr_size");
          mac = this.bytes.slice(a.dataStart, a.dataStart + ETH_ALEN);
          break;
      }
    }
    if (a.malformed) return this.drop(a.malformed);
    if (ip === undefined) return this.drop("missing_attr");
    return { ifindex, ip, mac, state, flags };
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

  /** First next hop of RTA_MULTIPATH: a list of rtnexthop, each followed by its attributes. */
  private firstHop(start: number, end: number): { oif: number; gateway: number } | undefined {
    const v = this.view;
    if (end - start < RTNEXTHOP_SIZE) return this.drop("bad_multipath");
    const hopLength = v.getUint16(start, HOST_LITTLE_ENDIAN);
    if (hopLength < RTNEXTHOP_SIZE || hopLength > end - start) return this.drop("bad_multipath");
    const oif = v.getInt32(start + 4, HOST_LITTLE_ENDIAN);
    if (oif < 0) return this.drop("bad_multipath");
    let gateway = 0;
    const a = this.hopAttrs;
    a.begin(start + RTNEXTHOP_SIZE, start + hopLength);
    while (a.next()) {
      if (a.type === RTA_GATEWAY) {
        if (a.dataLength !== 4) return this.drop("bad_attr_size");
        gateway = v.getUint32(a.dataStart, false);
      }
    }
    if (a.malformed) return this.drop("bad_multipath");
    return { oif, gateway };
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
