// Links (RTM_*LINK) for the netstate library: the complete decoded link and every request it
// sends. Decoding never throws: a message that cannot be trusted is dropped (undefined) and
// counted in `malformed`.
import {
  AF_UNSPEC,
  ARPHRD_ETHER,
  ETH_ALEN,
  IFINFOMSG_SIZE,
  IFLA_ADDRESS,
  IFLA_BROADCAST,
  IFLA_CARRIER,
  IFLA_EXT_MASK,
  IFLA_GROUP,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINK,
  IFLA_LINK_NETNSID,
  IFLA_LINKINFO,
  IFLA_LINKMODE,
  IFLA_MACVLAN_MODE,
  IFLA_MASTER,
  IFLA_MAX_MTU,
  IFLA_MIN_MTU,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_NUM_RX_QUEUES,
  IFLA_NUM_TX_QUEUES,
  IFLA_OPERSTATE,
  IFLA_PERM_ADDRESS,
  IFLA_PROMISCUITY,
  IFLA_QDISC,
  IFLA_STATS64,
  IFLA_TXQLEN,
  IFNAMSIZ,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
  VETH_INFO_PEER,
} from "./constants";
import type { MalformedReason } from "./counters";
import { AttrCursor, type AttrVisitor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

/** RFC 2863 operational states (IF_OPER_*), named as iproute2 prints them. */
export const OPER_STATES = ["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"] as const;

/** struct rtnl_link_stats64, first 24 counters (u64 each), the ones iproute2 prints. */
export const LINK_STATS_FIELDS = [
  "rxPackets",
  "txPackets",
  "rxBytes",
  "txBytes",
  "rxErrors",
  "txErrors",
  "rxDropped",
  "txDropped",
  "multicast",
  "collisions",
  "rxLengthErrors",
  "rxOverErrors",
  "rxCrcErrors",
  "rxFrameErrors",
  "rxFifoErrors",
  "rxMissedErrors",
  "txAbortedErrors",
  "txCarrierErrors",
  "txFifoErrors",
  "txHeartbeatErrors",
  "txWindowErrors",
  "rxCompressed",
  "txCompressed",
  "rxNohandler",
] as const;
export type LinkStats = Record<(typeof LINK_STATS_FIELDS)[number], number>;

export interface Link {
  ifindex: number;
  name: string;
  /** IFF_* bits (IFF_UP 0x1, IFF_BROADCAST 0x2, IFF_LOOPBACK 0x8, IFF_LOWER_UP 0x10000...). */
  flags: number;
  up: boolean;
  lowerUp: boolean;
  /** ARPHRD_* (1 Ethernet, 772 loopback). */
  linkType: number;
  mtu: number;
  minMtu?: number;
  maxMtu?: number;
  txqlen?: number;
  qdisc?: string;
  operState: string;
  linkMode?: number;
  group?: number;
  promiscuity?: number;
  numTxQueues?: number;
  numRxQueues?: number;
  carrier?: boolean;
  /** Hardware address as "aa:bb:cc:dd:ee:ff". */
  address?: string;
  broadcast?: string;
  permAddress?: string;
  /** IFLA_INFO_KIND: "veth", "macvlan", "tun"... */
  kind?: string;
  /** IFLA_LINK: the peer (veth) or parent (macvlan) ifindex, in linkNetnsId's namespace when set. */
  link?: number;
  linkNetnsId?: number;
  master?: number;
  stats?: LinkStats;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** A NUL-terminated string of at most maxBytes (NUL included); undefined when unterminated. */
export function cStringAt(bytes: Uint8Array, start: number, length: number, maxBytes: number): string | undefined {
  if (length === 0 || length > maxBytes) return undefined;
  const end = start + length;
  let nul = start;
  while (nul < end && bytes[nul] !== 0) nul++;
  if (nul === end) return undefined;
  return utf8.decode(bytes.subarray(start, nul));
}

function hex(bytes: Uint8Array, start: number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += (i ? ":" : "") + (bytes[start + i] as number).toString(16).padStart(2, "0");
  return s;
}

/**
 * The one attribute walk of a link message (ifinfomsg + IFLA_*), shared by the library's
 * LinkDecoder and the netlink tile's record builder (decode.ts): numbers, the name, and byte
 * offsets, every length checked. Attributes only the library reads go to its visitor.
 */
export class LinkScan {
  reason: MalformedReason | undefined;
  af = 0;
  /** ARPHRD_*. */
  linkType = 0;
  ifindex = 0;
  /** IFF_*. */
  flags = 0;
  /** IFLA_IFNAME ("" until the walk finds it). */
  name = "";
  /** IFLA_MTU, 0 when absent. */
  mtu = 0;
  /** IFLA_ADDRESS's data offset (-1 when absent) and length: 6 bytes on Ethernet, any on others. */
  addressAt = -1;
  addressLength = 0;
  /** The last IFLA_ADDRESS of 6 bytes (-1: none): the MAC the netlink tile keeps. */
  macAt = -1;
  private readonly attrs: AttrCursor;

  constructor(readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
  }

  /** The ifinfomsg of the cursor's current message; false (short_payload) when it does not fit. */
  fixed(): boolean {
    const { payloadStart: p, payloadEnd: end, view: v } = this.cursor;
    if (end - p < IFINFOMSG_SIZE) return this.fail("short_payload");
    this.af = v.getUint8(p);
    this.linkType = v.getUint16(p + 2, HOST_LITTLE_ENDIAN);
    this.ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    this.flags = v.getUint32(p + 8, HOST_LITTLE_ENDIAN);
    return true;
  }

  /** The ifindex, then the attributes, after fixed(). The first fault ends the walk (false,
   *  `reason`); a link needs its name. */
  walk(extra?: AttrVisitor): boolean {
    const { payloadStart: p, payloadEnd: end, view: v, bytes } = this.cursor;
    if (this.ifindex < 1) return this.fail("bad_ifindex");
    this.name = "";
    this.mtu = 0;
    this.addressAt = this.macAt = -1;
    const a = this.attrs;
    a.begin(p + align4(IFINFOMSG_SIZE), end);
    while (a.next()) {
      switch (a.type) {
        case IFLA_IFNAME: {
          const name = cStringAt(bytes, a.dataStart, a.dataLength, IFNAMSIZ);
          if (!name) return this.fail("bad_ifname");
          this.name = name;
          break;
        }
        case IFLA_ADDRESS:
          // Other link types (tunnels, InfiniBand) may have other address sizes.
          if (a.dataLength !== ETH_ALEN && this.linkType === ARPHRD_ETHER) return this.fail("bad_lladdr_size");
          this.addressAt = a.dataStart;
          this.addressLength = a.dataLength;
          if (a.dataLength === ETH_ALEN) this.macAt = a.dataStart;
          break;
        case IFLA_MTU:
          if (a.dataLength !== 4) return this.fail("bad_attr_size");
          this.mtu = v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
          break;
        default:
          if (extra !== undefined && !extra.attr(a.type, a.dataStart, a.dataLength)) return this.fail("bad_attr_size");
      }
    }
    if (a.malformed) return this.fail(a.malformed);
    if (this.name === "") return this.fail("missing_attr");
    return true;
  }

  private fail(reason: MalformedReason): false {
    this.reason = reason;
    return false;
  }
}

/** Hardware addresses the library shows: 1 to MAX_ADDR_LEN (32) bytes. */
function hardwareAddress(bytes: Uint8Array, start: number, length: number): string | undefined {
  return length === 0 || length > 32 ? undefined : hex(bytes, start, length);
}

/** Decodes RTM_NEWLINK / RTM_DELLINK messages into Link: a projection of LinkScan. */
export class LinkDecoder implements AttrVisitor {
  malformed = 0;
  private readonly scan: LinkScan;
  private readonly inner: AttrCursor;
  /** The link being decoded, for attr(). */
  private current: Link | undefined;

  constructor(private readonly cursor: MessageCursor) {
    this.scan = new LinkScan(cursor);
    this.inner = new AttrCursor(cursor.view);
  }

  link(): Link | undefined {
    const s = this.scan;
    if (!s.fixed() || s.af !== AF_UNSPEC) return this.drop();
    const link: Link = {
      ifindex: s.ifindex,
      name: "",
      flags: s.flags,
      up: (s.flags & 0x1) !== 0,
      lowerUp: (s.flags & 0x10000) !== 0,
      linkType: s.linkType,
      mtu: 0,
      operState: "UNKNOWN",
    };
    this.current = link;
    const walked = s.walk(this);
    this.current = undefined;
    if (!walked) return this.drop();
    link.name = s.name;
    link.mtu = s.mtu;
    if (s.addressAt >= 0) {
      link.address = hardwareAddress(this.cursor.bytes, s.addressAt, s.addressLength);
      if (link.address === undefined) return this.drop();
    }
    return link;
  }

  /** One IFLA_* attribute LinkScan leaves to the library; false when it is malformed. */
  attr(type: number, start: number, length: number): boolean {
    const link = this.current as Link;
    const v = this.cursor.view;
    const bytes = this.cursor.bytes;
    const u32 = length === 4 ? v.getUint32(start, HOST_LITTLE_ENDIAN) : -1;
    const needU32 = (set: (n: number) => void): boolean => {
      if (u32 < 0) return false;
      set(u32);
      return true;
    };
    switch (type) {
      case IFLA_QDISC:
        link.qdisc = cStringAt(bytes, start, length, 64);
        return link.qdisc !== undefined;
      case IFLA_BROADCAST:
        link.broadcast = hardwareAddress(bytes, start, length);
        return link.broadcast !== undefined;
      case IFLA_PERM_ADDRESS:
        link.permAddress = hardwareAddress(bytes, start, length);
        return link.permAddress !== undefined;
      case IFLA_MIN_MTU:
        return needU32((n) => (link.minMtu = n));
      case IFLA_MAX_MTU:
        return needU32((n) => (link.maxMtu = n));
      case IFLA_TXQLEN:
        return needU32((n) => (link.txqlen = n));
      case IFLA_GROUP:
        return needU32((n) => (link.group = n));
      case IFLA_PROMISCUITY:
        return needU32((n) => (link.promiscuity = n));
      case IFLA_NUM_TX_QUEUES:
        return needU32((n) => (link.numTxQueues = n));
      case IFLA_NUM_RX_QUEUES:
        return needU32((n) => (link.numRxQueues = n));
      case IFLA_LINK:
        return needU32((n) => (link.link = n));
      case IFLA_MASTER:
        return needU32((n) => (link.master = n));
      case IFLA_LINK_NETNSID:
        return needU32((n) => (link.linkNetnsId = n | 0));
      case IFLA_OPERSTATE:
      case IFLA_LINKMODE:
      case IFLA_CARRIER: {
        if (length !== 1) return false;
        const n = v.getUint8(start);
        if (type === IFLA_OPERSTATE) link.operState = OPER_STATES[n] ?? "UNKNOWN";
        else if (type === IFLA_LINKMODE) link.linkMode = n;
        else link.carrier = n !== 0;
        return true;
      }
      case IFLA_LINKINFO:
        return this.linkInfo(link, start, start + length);
      case IFLA_STATS64:
        return this.stats(link, start, length);
      default:
        return true;
    }
  }

  private linkInfo(link: Link, start: number, end: number): boolean {
    const a = this.inner;
    a.begin(start, end);
    while (a.next()) {
      if (a.type === IFLA_INFO_KIND) {
        const kind = cStringAt(this.cursor.bytes, a.dataStart, a.dataLength, 64);
        if (kind === undefined) return false;
        link.kind = kind;
      }
    }
    return a.malformed === undefined;
  }

  private stats(link: Link, start: number, length: number): boolean {
    if (length < LINK_STATS_FIELDS.length * 8) return false;
    const v = this.cursor.view;
    const stats = {} as LinkStats;
    LINK_STATS_FIELDS.forEach((field, i) => {
      stats[field] = Number(v.getBigUint64(start + 8 * i, HOST_LITTLE_ENDIAN));
    });
    link.stats = stats;
    return true;
  }

  private drop(): undefined {
    this.malformed++;
    return undefined;
  }
}

/** RTM_GETLINK dump of every link (statistics only when asked: they are most of the bytes). */
export function linkDumpRequest(seq: number, withStats: boolean): Uint8Array {
  const b = new RequestBuilder(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq);
  b.struct(IFINFOMSG_SIZE);
  if (!withStats) b.attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return b.finish();
}

/** RTM_GETLINK of one link by ifindex or name (acked, so that the exchange has an end). */
export function linkGetRequest(seq: number, link: number | string, withStats: boolean): Uint8Array {
  const b = new RequestBuilder(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  const at = b.struct(IFINFOMSG_SIZE);
  if (typeof link === "number") b.u32(at + 4, link);
  else b.attrString(IFLA_IFNAME, link);
  if (!withStats) b.attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return b.finish();
}

/** Attributes of a link being created (also used for a veth's peer). */
export interface NewLinkAttrs {
  name: string;
  mtu?: number;
  /** Hardware address bytes. */
  address?: Uint8Array;
  numTxQueues?: number;
  numRxQueues?: number;
  /** An open fd of the namespace the link is created in. */
  netnsFd?: number;
  txqlen?: number;
}

function putNewLinkAttrs(b: RequestBuilder, attrs: NewLinkAttrs): void {
  b.attrString(IFLA_IFNAME, attrs.name);
  if (attrs.mtu !== undefined) b.attrU32(IFLA_MTU, attrs.mtu);
  if (attrs.address !== undefined) b.attrBytes(IFLA_ADDRESS, attrs.address);
  if (attrs.txqlen !== undefined) b.attrU32(IFLA_TXQLEN, attrs.txqlen);
  if (attrs.numTxQueues !== undefined) b.attrU32(IFLA_NUM_TX_QUEUES, attrs.numTxQueues);
  if (attrs.numRxQueues !== undefined) b.attrU32(IFLA_NUM_RX_QUEUES, attrs.numRxQueues);
  if (attrs.netnsFd !== undefined) b.attrU32(IFLA_NET_NS_FD, attrs.netnsFd);
}

/** What IFLA_INFO_DATA carries for the kinds the library creates. */
export type LinkKindData =
  | { kind: "veth"; peer: NewLinkAttrs }
  | { kind: "macvlan"; parent: number; mode: number }
  | { kind: string };

/** RTM_NEWLINK creating a link (NLM_F_EXCL: an existing name is EEXIST). */
export function linkAddRequest(seq: number, attrs: NewLinkAttrs, data: LinkKindData): Uint8Array {
  const b = new RequestBuilder(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
  b.struct(IFINFOMSG_SIZE);
  putNewLinkAttrs(b, attrs);
  if ("parent" in data) b.attrU32(IFLA_LINK, data.parent);
  const info = b.nestStart(IFLA_LINKINFO);
  b.attrString(IFLA_INFO_KIND, data.kind);
  if ("peer" in data) {
    const infoData = b.nestStart(IFLA_INFO_DATA);
    const peer = b.nestStart(VETH_INFO_PEER);
    b.struct(IFINFOMSG_SIZE);
    putNewLinkAttrs(b, data.peer);
    b.nestEnd(peer).nestEnd(infoData);
  } else if ("mode" in data) {
    const infoData = b.nestStart(IFLA_INFO_DATA);
    b.attrU32(IFLA_MACVLAN_MODE, data.mode);
    b.nestEnd(infoData);
  }
  b.nestEnd(info);
  return b.finish();
}

/** Changes to an existing link. */
export interface LinkChange {
  up?: boolean;
  mtu?: number;
  address?: Uint8Array;
  name?: string;
  netnsFd?: number;
  txqlen?: number;
}

/** RTM_NEWLINK (no create) changing one link by ifindex. */
export function linkSetRequest(seq: number, ifindex: number, change: LinkChange): Uint8Array {
  const b = new RequestBuilder(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  const at = b.struct(IFINFOMSG_SIZE);
  b.u32(at + 4, ifindex);
  if (change.up !== undefined) b.u32(at + 8, change.up ? 1 : 0).u32(at + 12, 1);
  if (change.name !== undefined) b.attrString(IFLA_IFNAME, change.name);
  if (change.mtu !== undefined) b.attrU32(IFLA_MTU, change.mtu);
  if (change.address !== undefined) b.attrBytes(IFLA_ADDRESS, change.address);
  if (change.txqlen !== undefined) b.attrU32(IFLA_TXQLEN, change.txqlen);
  if (change.netnsFd !== undefined) b.attrU32(IFLA_NET_NS_FD, change.netnsFd);
  return b.finish();
}

export function linkDeleteRequest(seq: number, ifindex: number): Uint8Array {
  const b = new RequestBuilder(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  b.u32(b.struct(IFINFOMSG_SIZE) + 4, ifindex);
  return b.finish();
}
