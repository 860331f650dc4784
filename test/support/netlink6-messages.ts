// Builders of kernel-style AF_INET6 rtnetlink messages (addresses, routes, neighbors) for the
// IPv6 decoder tests and the netlink fuzz corpus; addresses as text, written as 16 bytes.
import { parseIpv6 } from "../../shared/netlink/address-text";
import {
  AF_INET6,
  IFA_ADDRESS,
  IFA_FLAGS,
  IFA_LOCAL,
  IFADDRMSG_SIZE,
  NDA_DST,
  NDA_LLADDR,
  NDMSG_SIZE,
  NUD_REACHABLE,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_NEWADDR,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTMSG_SIZE,
  RTNEXTHOP_SIZE,
} from "../../shared/netlink/constants";
import { HOST_LITTLE_ENDIAN, RequestBuilder, viewOf } from "../../shared/netlink/wire";
import { concat } from "./netlink-messages";

/** 16 bytes of IPv6 text (throws on a typo: test input). */
export function ip6Bytes(text: string): Uint8Array {
  const b = parseIpv6(text);
  if (b === undefined) throw new Error(`bad IPv6 text ${text}`);
  return b;
}

export interface Addr6Options {
  msgType?: number;
  family?: number;
  ifindex?: number;
  prefixLen?: number;
  /** 8-bit ifa_flags. */
  ifaFlags?: number;
  scope?: number;
  address?: string | Uint8Array;
  local?: string | Uint8Array;
  /** IFA_FLAGS (u32), or raw bytes for a malformed one. */
  flags?: number | Uint8Array;
}

const bytesOf = (a: string | Uint8Array): Uint8Array => (typeof a === "string" ? ip6Bytes(a) : a);

export function addr6Message(o: Addr6Options = {}): Uint8Array {
  const b = new RequestBuilder(o.msgType ?? RTM_NEWADDR, 0, 0);
  const at = b.struct(IFADDRMSG_SIZE);
  b.u8(at, o.family ?? AF_INET6)
    .u8(at + 1, o.prefixLen ?? 64)
    .u8(at + 2, o.ifaFlags ?? 0x80)
    .u8(at + 3, o.scope ?? 0)
    .u32(at + 4, o.ifindex ?? 2);
  if (o.address !== undefined) b.attrBytes(IFA_ADDRESS, bytesOf(o.address));
  if (o.local !== undefined) b.attrBytes(IFA_LOCAL, bytesOf(o.local));
  if (typeof o.flags === "number") b.attrU32(IFA_FLAGS, o.flags);
  else if (o.flags !== undefined) b.attrBytes(IFA_FLAGS, o.flags);
  return b.finish();
}

export interface Route6Options {
  msgType?: number;
  family?: number;
  dst?: string | Uint8Array;
  dstLen?: number;
  srcLen?: number;
  rtmTable?: number;
  rtaTable?: number;
  type?: number;
  protocol?: number;
  rtmFlags?: number;
  gateway?: string | Uint8Array;
  oif?: number;
  prefsrc?: string;
  priority?: number;
  hops?: { oif: number; gateway?: string }[];
}

export function route6Message(o: Route6Options = {}): Uint8Array {
  const b = new RequestBuilder(o.msgType ?? RTM_NEWROUTE, 0, 0);
  const at = b.struct(RTMSG_SIZE);
  b.u8(at, o.family ?? AF_INET6)
    .u8(at + 1, o.dstLen ?? 64)
    .u8(at + 2, o.srcLen ?? 0)
    .u8(at + 4, o.rtmTable ?? 254)
    .u8(at + 5, o.protocol ?? 3)
    .u8(at + 7, o.type ?? 1)
    .u32(at + 8, o.rtmFlags ?? 0);
  if (o.rtaTable !== undefined) b.attrU32(RTA_TABLE, o.rtaTable);
  if (o.dst !== undefined) b.attrBytes(RTA_DST, bytesOf(o.dst));
  if (o.gateway !== undefined) b.attrBytes(RTA_GATEWAY, bytesOf(o.gateway));
  if (o.oif !== undefined) b.attrU32(RTA_OIF, o.oif);
  if (o.prefsrc !== undefined) b.attrBytes(RTA_PREFSRC, ip6Bytes(o.prefsrc));
  b.attrU32(RTA_PRIORITY, o.priority ?? 1024);
  if (o.hops) b.attrBytes(RTA_MULTIPATH, nexthops6(o.hops));
  return b.finish();
}

function nexthops6(hops: { oif: number; gateway?: string }[]): Uint8Array {
  return concat(
    ...hops.map((h) => {
      const size = RTNEXTHOP_SIZE + (h.gateway === undefined ? 0 : 20);
      const bytes = new Uint8Array(size);
      const v = viewOf(bytes);
      v.setUint16(0, size, HOST_LITTLE_ENDIAN);
      v.setInt32(4, h.oif, HOST_LITTLE_ENDIAN);
      if (h.gateway !== undefined) {
        v.setUint16(8, 20, HOST_LITTLE_ENDIAN);
        v.setUint16(10, RTA_GATEWAY, HOST_LITTLE_ENDIAN);
        bytes.set(ip6Bytes(h.gateway), 12);
      }
      return bytes;
    }),
  );
}

export interface Neigh6Options {
  msgType?: number;
  family?: number;
  ifindex?: number;
  state?: number;
  flags?: number;
  ip?: string | Uint8Array;
  mac?: Uint8Array;
}

export function neigh6Message(o: Neigh6Options = {}): Uint8Array {
  const b = new RequestBuilder(o.msgType ?? RTM_NEWNEIGH, 0, 0);
  const at = b.struct(NDMSG_SIZE);
  b.u8(at, o.family ?? AF_INET6)
    .u32(at + 4, o.ifindex ?? 2)
    .u16(at + 8, o.state ?? NUD_REACHABLE)
    .u8(at + 10, o.flags ?? 0);
  if (o.ip !== undefined) b.attrBytes(NDA_DST, bytesOf(o.ip));
  if (o.mac !== undefined) b.attrBytes(NDA_LLADDR, o.mac);
  return b.finish();
}

/** The IPv6 seeds of the netlink fuzz corpus (test/fuzz/corpus/netlink/*6*.bin), by file name. */
export function netlink6CorpusSeeds(): [string, Uint8Array][] {
  const mac = Uint8Array.of(2, 0, 0, 0, 0, 0x61);
  return [
    ["addr6-global.bin", addr6Message({ address: "2001:2::1", flags: 0x82 })],
    ["addr6-link-local.bin", addr6Message({ address: "fe80::1", scope: 253 })],
    ["route6-via-gateway.bin", route6Message({ dst: "2001:2:1::", dstLen: 48, gateway: "fe80::2", oif: 2 })],
    ["route6-local.bin", route6Message({ dst: "2001:2::1", dstLen: 128, rtmTable: 255, type: 2, oif: 2, priority: 0 })],
    [
      "route6-multipath.bin",
      route6Message({ dst: "2001:2:9::", dstLen: 48, hops: [{ oif: 2, gateway: "fe80::2" }, { oif: 3 }] }),
    ],
    ["route6-default.bin", route6Message({ dstLen: 0, gateway: "2001:2::fe", oif: 2, prefsrc: "2001:2::1" })],
    ["neigh6-router.bin", neigh6Message({ ip: "fe80::2", mac, flags: 0x80 })],
    [
      "datagram6-three-messages.bin",
      concat(
        addr6Message({ address: "2001:2::5", prefixLen: 64 }),
        route6Message({ dst: "2001:2::", dstLen: 64, oif: 2, priority: 256 }),
        neigh6Message({ ip: "2001:2::6", state: 0x04, mac }),
      ),
    ],
  ];
}
