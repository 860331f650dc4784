// Builders of kernel-style rtnetlink messages for decoder tests (what the kernel would send), and a
// scripted stand-in for the netlink socket.
import {
  AF_INET,
  AF_UNSPEC,
  ARPHRD_ETHER,
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
  NDA_DST,
  NDA_LLADDR,
  NDMSG_SIZE,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NUD_REACHABLE,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTMSG_SIZE,
  RTNEXTHOP_SIZE,
} from "../../shared/netlink/constants";
import {
  BATCH_FOREIGN_SENDER,
  BATCH_OVERRUN,
  BATCH_TRUNCATED,
  type NetlinkIo,
  RECV_OVERRUN,
} from "../../shared/netlink/io";
import { HOST_LITTLE_ENDIAN, RequestBuilder, viewOf } from "../../shared/netlink/wire";

const encoder = new TextEncoder();

export interface LinkOptions {
  msgType?: number;
  family?: number;
  ifindex?: number;
  arphrd?: number;
  flags?: number;
  /** A string gets its NUL; raw bytes are used as they are. */
  name?: string | Uint8Array;
  mac?: Uint8Array;
  mtu?: number;
}

export function linkMessage(o: LinkOptions = {}): Uint8Array {
  const b = new RequestBuilder(o.msgType ?? RTM_NEWLINK, 0, 0);
  const at = b.struct(IFINFOMSG_SIZE);
  b.u8(at, o.family ?? AF_UNSPEC)
    .u16(at + 2, o.arphrd ?? ARPHRD_ETHER)
    .u32(at + 4, o.ifindex ?? 2)
    .u32(at + 8, o.flags ?? IFF_UP | IFF_LOWER_UP);
  const name = o.name ?? "eth0";
  b.attrBytes(IFLA_IFNAME, typeof name === "string" ? encoder.encode(`${name}\0`) : name);
  b.attrBytes(IFLA_ADDRESS, o.mac ?? Uint8Array.of(2, 0, 0, 0, 0, 1));
  b.attrU32(IFLA_MTU, o.mtu ?? 1500);
  return b.finish();
}

export interface AddrOptions {
  msgType?: number;
  family?: number;
  ifindex?: number;
  prefixLen?: number;
  local?: number;
  address?: number;
  broadcast?: number;
  scope?: number;
}

export function addrMessage(o: AddrOptions = {}): Uint8Array {
  const b = new RequestBuilder(o.msgType ?? RTM_NEWADDR, 0, 0);
  const at = b.struct(IFADDRMSG_SIZE);
  b.u8(at, o.family ?? AF_INET)
    .u8(at + 1, o.prefixLen ?? 24)
    .u8(at + 3, o.scope ?? 0)
    .u32(at + 4, o.ifindex ?? 2);
  if (o.address !== undefined) b.attrIpv4(IFA_ADDRESS, o.address);
  if (o.local !== undefined) b.attrIpv4(IFA_LOCAL, o.local);
  if (o.broadcast !== undefined) b.attrIpv4(IFA_BROADCAST, o.broadcast);
  return b.finish();
}

export interface RouteOptions {
  msgType?: number;
  family?: number;
  dst?: number;
  dstLen?: number;
  rtmTable?: number;
  rtaTable?: number;
  type?: number;
  scope?: number;
  protocol?: number;
  rtmFlags?: number;
  gateway?: number;
  oif?: number;
  prefsrc?: number;
  priority?: number;
  /** RTA_MULTIPATH next hops. */
  hops?: { oif: number; gateway?: number }[];
}

export function routeMessage(o: RouteOptions = {}): Uint8Array {
  const b = new RequestBuilder(o.msgType ?? RTM_NEWROUTE, 0, 0);
  const at = b.struct(RTMSG_SIZE);
  b.u8(at, o.family ?? AF_INET)
    .u8(at + 1, o.dstLen ?? 24)
    .u8(at + 4, o.rtmTable ?? 254)
    .u8(at + 5, o.protocol ?? 4)
    .u8(at + 6, o.scope ?? 0)
    .u8(at + 7, o.type ?? 1)
    .u32(at + 8, o.rtmFlags ?? 0);
  if (o.rtaTable !== undefined) b.attrU32(RTA_TABLE, o.rtaTable);
  if (o.dst !== undefined) b.attrIpv4(RTA_DST, o.dst);
  if (o.gateway !== undefined) b.attrIpv4(RTA_GATEWAY, o.gateway);
  if (o.oif !== undefined) b.attrU32(RTA_OIF, o.oif);
  if (o.prefsrc !== undefined) b.attrIpv4(RTA_PREFSRC, o.prefsrc);
  if (o.priority !== undefined) b.attrU32(RTA_PRIORITY, o.priority);
  if (o.hops) b.attrBytes(RTA_MULTIPATH, nexthops(o.hops));
  return b.finish();
}

function nexthops(hops: { oif: number; gateway?: number }[]): Uint8Array {
  const parts = hops.map((h) => {
    const size = RTNEXTHOP_SIZE + (h.gateway === undefined ? 0 : 8);
    const bytes = new Uint8Array(size);
    const v = viewOf(bytes);
    v.setUint16(0, size, HOST_LITTLE_ENDIAN);
    v.setInt32(4, h.oif, HOST_LITTLE_ENDIAN);
    if (h.gateway !== undefined) {
      v.setUint16(8, 8, HOST_LITTLE_ENDIAN);
      v.setUint16(10, RTA_GATEWAY, HOST_LITTLE_ENDIAN);
      v.setUint32(12, h.gateway, false);
    }
    return bytes;
  });
  return concat(...parts);
}

export interface NeighOptions {
  msgType?: number;
  family?: number;
  ifindex?: number;
  state?: number;
  flags?: number;
  ip?: number;
  mac?: Uint8Array;
}

export function neighMessage(o: NeighOptions = {}): Uint8Array {
  const b = new RequestBuilder(o.msgType ?? RTM_NEWNEIGH, 0, 0);
  const at = b.struct(NDMSG_SIZE);
  b.u8(at, o.family ?? AF_INET)
    .u32(at + 4, o.ifindex ?? 2)
    .u16(at + 8, o.state ?? NUD_REACHABLE)
    .u8(at + 10, o.flags ?? 0);
  if (o.ip !== undefined) b.attrIpv4(NDA_DST, o.ip);
  if (o.mac !== undefined) b.attrBytes(NDA_LLADDR, o.mac);
  return b.finish();
}

/** NLMSG_ERROR as a socket with NETLINK_CAP_ACK + NETLINK_EXT_ACK receives it. */
export function errorMessage(errno: number, extAck?: string, attrOffset?: number): Uint8Array {
  const flags = NLM_F_CAPPED | (extAck !== undefined || attrOffset !== undefined ? NLM_F_ACK_TLVS : 0);
  const b = new RequestBuilder(NLMSG_ERROR, flags, 0);
  const at = b.struct(4 + NLMSG_HDRLEN);
  b.u32(at, -errno);
  b.u32(at + 4, NLMSG_HDRLEN + 12); // the request's header, capped
  if (extAck !== undefined) b.attrBytes(NLMSGERR_ATTR_MSG, encoder.encode(`${extAck}\0`));
  if (attrOffset !== undefined) b.attrU32(NLMSGERR_ATTR_OFFS, attrOffset);
  return b.finish();
}

export function doneMessage(flags = NLM_F_MULTI, errno = 0): Uint8Array {
  const b = new RequestBuilder(NLMSG_DONE, flags, 0);
  b.u32(b.struct(4), -errno);
  return b.finish();
}

/** Sets seq, pid and extra flags of a message (replies carry the requester's seq and port id). */
export function addressed(msg: Uint8Array, seq: number, pid: number, extraFlags = 0): Uint8Array {
  const out = msg.slice();
  const v = viewOf(out);
  v.setUint16(6, v.getUint16(6, HOST_LITTLE_ENDIAN) | extraFlags, HOST_LITTLE_ENDIAN);
  v.setUint32(8, seq, HOST_LITTLE_ENDIAN);
  v.setUint32(12, pid, HOST_LITTLE_ENDIAN);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export function ipv4(text: string): number {
  const [a, b, c, d] = text.split(".").map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** A scripted netlink socket: `reply` answers each sent request with datagrams (or special
 *  netlinkRecv results such as -1 for ENOBUFS). */
export class ScriptedSocket implements NetlinkIo {
  readonly sent: Uint8Array[] = [];
  private queue: (Uint8Array | number)[] = [];
  private head = 0;

  constructor(
    private readonly reply: (request: Uint8Array, seq: number) => (Uint8Array | number)[] = () => [],
    readonly portId = 4242,
  ) {}

  push(...datagrams: (Uint8Array | number)[]): void {
    this.queue.push(...datagrams);
  }

  netlinkSend(_fd: number, data: Uint8Array): void {
    const copy = data.slice();
    this.sent.push(copy);
    this.queue.push(...this.reply(copy, viewOf(copy).getUint32(8, HOST_LITTLE_ENDIAN)));
  }

  netlinkRecv(_fd: number, buf: Uint8Array, _timeoutMs: number): number {
    if (this.head === this.queue.length) return 0;
    const next = this.queue[this.head++];
    if (typeof next === "number") return next;
    buf.set(next);
    return next.byteLength;
  }

  /** Packs queued datagrams like the native batch receive (RECV_* numbers become markers). */
  netlinkRecvBatch(_fd: number, buf: Uint8Array, _timeoutMs: number, maxDatagrams: number): number {
    const view = viewOf(buf);
    let used = 0;
    for (let count = 0; count < maxDatagrams && this.head < this.queue.length; count++) {
      const next = this.queue[this.head];
      if (typeof next === "number") {
        if (used + 4 > buf.byteLength) break;
        view.setUint32(used, next === RECV_OVERRUN ? BATCH_OVERRUN : BATCH_FOREIGN_SENDER, HOST_LITTLE_ENDIAN);
        used += 4;
      } else {
        if (used + 4 + next.byteLength > buf.byteLength) {
          if (used > 0) break;
          view.setUint32(0, BATCH_TRUNCATED, HOST_LITTLE_ENDIAN);
          used = 4;
        } else {
          view.setUint32(used, next.byteLength, HOST_LITTLE_ENDIAN);
          buf.set(next, used + 4);
          used += 4 + ((next.byteLength + 3) & ~3);
        }
      }
      this.head++;
    }
    return used;
  }

  netlinkPortId(_fd: number): number {
    return this.portId;
  }
}
