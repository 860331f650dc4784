// Links (RTM_*LINK) for the netstate library: the complete decoded link and every request it
// sends. Decoding never throws: a message that cannot be trusted is dropped (undefined) and
// counted in `malformed`.
import {
  AF_UNSPEC,
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
import { AttrCursor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

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

/** Decodes RTM_NEWLINK / RTM_DELLINK messages into Link. One instance per receive buffer. */
export class LinkDecoder {
  malformed = 0;
  private readonly attrs: AttrCursor;
  private readonly inner: AttrCursor;

  constructor(private readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
    this.inner = new AttrCursor(cursor.view);
  }

  link(): Link | undefined {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    const v = this.cursor.view;
    if (end - p < IFINFOMSG_SIZE || v.getUint8(p) !== AF_UNSPEC) return this.drop();
    const ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    const flags = v.getUint32(p + 8, HOST_LITTLE_ENDIAN);
    if (ifindex < 1) return this.drop();
    const link: Link = {
      ifindex,
      name: "",
      flags,
      up: (flags & 0x1) !== 0,
      lowerUp: (flags & 0x10000) !== 0,
      linkType: v.getUint16(p + 2, HOST_LITTLE_ENDIAN),
      mtu: 0,
      operState: "UNKNOWN",
    };
    const a = this.attrs;
    a.begin(p + align4(IFINFOMSG_SIZE), end);
    while (a.next()) if (!this.linkAttr(link, a)) return this.drop();
    if (a.malformed || link.name === "") return this.drop();
    return link;
  }

  /** One IFLA_* attribute into link; false when it is malformed. */
  private linkAttr(link: Link, a: AttrCursor): boolean {
    const v = this.cursor.view;
    const bytes = this.cursor.bytes;
    const u32 = a.dataLength === 4 ? v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN) : -1;
    const needU32 = (set: (n: number) => void): boolean => {
      if (u32 < 0) return false;
      set(u32);
      return true;
    };
    switch (a.type) {
      case IFLA_IFNAME: {
        const name = cStringAt(bytes, a.dataStart, a.dataLength, IFNAMSIZ);
        if (!name) return false;
        link.name = name;
        return true;
      }
      case IFLA_QDISC:
        link.qdisc = cStringAt(bytes, a.dataStart, a.dataLength, 64);
        return link.qdisc !== undefined;
      case IFLA_ADDRESS:
      case IFLA_BROADCAST:
      case IFLA_PERM_ADDRESS: {
        if (a.dataLength === 0 || a.dataLength > 32) return false;
        const text = hex(bytes, a.dataStart, a.dataLength);
        if (a.type === IFLA_ADDRESS) link.address = text;
        else if (a.type === IFLA_BROADCAST) link.broadcast = text;
        else link.permAddress = text;
        return true;
      }
      case IFLA_MTU:
        return needU32((n) => (link.mtu = n));
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
        if (a.dataLength !== 1) return false;
        const n = v.getUint8(a.dataStart);
        if (a.type === IFLA_OPERSTATE) link.operState = OPER_STATES[n] ?? "UNKNOWN";
        else if (a.type === IFLA_LINKMODE) link.linkMode = n;
        else link.carrier = n !== 0;
        return true;
      }
      case IFLA_LINKINFO:
        return this.linkInfo(link, a.dataStart, a.dataStart + a.dataLength);
      case IFLA_STATS64:
        return this.stats(link, a.dataStart, a.dataLength);
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
