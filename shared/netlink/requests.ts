// Request messages the netlink tile sends: dumps of the kinds of state we mirror, and
// RTM_NEWNEIGH with NTF_USE (neighbor resolution when the tile keeps CAP_NET_ADMIN).
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFADDRMSG_SIZE,
  IFINFOMSG_SIZE,
  IFLA_EXT_MASK,
  NDA_DST,
  NDMSG_SIZE,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  NTF_USE,
  NUD_NONE,
  RTEXT_FILTER_SKIP_STATS,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTMSG_SIZE,
} from "./constants";
import { RequestBuilder } from "./wire";

export type DumpKind = "links" | "addrs" | "routes" | "neighs" | "addrs6" | "routes6" | "neighs6";

/** The request type of each dump and the message type of its replies. */
export const DUMP_TYPES: Record<DumpKind, { request: number; reply: number }> = {
  links: { request: RTM_GETLINK, reply: RTM_NEWLINK },
  addrs: { request: RTM_GETADDR, reply: RTM_NEWADDR },
  routes: { request: RTM_GETROUTE, reply: RTM_NEWROUTE },
  neighs: { request: RTM_GETNEIGH, reply: RTM_NEWNEIGH },
  addrs6: { request: RTM_GETADDR, reply: RTM_NEWADDR },
  routes6: { request: RTM_GETROUTE, reply: RTM_NEWROUTE },
  neighs6: { request: RTM_GETNEIGH, reply: RTM_NEWNEIGH },
};

/** A dump request: all links (any family), or the addresses / routes (all tables) / neighbors of
 *  one family (IPv4, or IPv6 for the kinds ending in 6). */
export function dumpRequest(kind: DumpKind, seq: number): Uint8Array {
  const b = new RequestBuilder(DUMP_TYPES[kind].request, NLM_F_REQUEST | NLM_F_DUMP, seq);
  switch (kind) {
    case "links": {
      const at = b.struct(IFINFOMSG_SIZE);
      b.u8(at, AF_UNSPEC);
      // Per-link statistics are most of a link dump's bytes and we do not use them.
      b.attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
      break;
    }
    case "addrs":
    case "addrs6":
      b.u8(b.struct(IFADDRMSG_SIZE), kind === "addrs" ? AF_INET : AF_INET6);
      break;
    case "routes":
    case "routes6":
      // Tables are filtered when decoding (local and main only): works with or without strict checking.
      b.u8(b.struct(RTMSG_SIZE), kind === "routes" ? AF_INET : AF_INET6);
      break;
    case "neighs":
    case "neighs6":
      b.u8(b.struct(NDMSG_SIZE), kind === "neighs" ? AF_INET : AF_INET6);
      break;
  }
  return b.finish();
}

/** RTM_NEWNEIGH with NTF_USE: asks the kernel to resolve ip on ifindex (creating the entry if
 *  needed) exactly like a packet would. Needs CAP_NET_ADMIN. Acked. */
export function neighUseRequest(ip: number, ifindex: number, seq: number): Uint8Array {
  const b = new RequestBuilder(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq);
  const at = b.struct(NDMSG_SIZE);
  b.u8(at, AF_INET)
    .u32(at + 4, ifindex)
    .u16(at + 8, NUD_NONE)
    .u8(at + 10, NTF_USE);
  b.attrIpv4(NDA_DST, ip);
  return b.finish();
}
