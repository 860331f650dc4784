// rtnetlink numbers and fixed struct sizes, as the kernel's uapi headers define them
// (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/neighbour.h).
// Only what tilenet reads or sends is listed.

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

/** Netlink protocols (socket(AF_NETLINK, SOCK_RAW, protocol)). */
export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

/** nlmsghdr: u32 len, u16 type, u16 flags, u32 seq, u32 pid. */
export const NLMSG_HDRLEN = 16;
export const NLMSG_ALIGNTO = 4;

// Control message types.
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

// nlmsg_flags.
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
// For new requests.
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
// In acks (NLMSG_ERROR).
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** nlmsgerr: i32 error then the original nlmsghdr (and its payload unless capped). */
export const NLMSGERR_SIZE = 4 + NLMSG_HDRLEN;
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

// Message types.
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;

// Legacy multicast group bit masks for bind(nl_groups).
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;
/** What the netlink tile's event socket subscribes to: links, neighbors of both families (one
 *  group), IPv4 and IPv6 addresses and routes. */
export const RTMGRP_TILENET =
  RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE;

/** rtattr: u16 len (header included), u16 type. */
export const RTA_HDRLEN = 4;
/** The top two bits of an attribute type are flags (nested, network byte order). */
export const NLA_TYPE_MASK = 0x3fff;
export const NLA_F_NESTED = 0x8000;

/** ifinfomsg: u8 family, u8 pad, u16 type, i32 index, u32 flags, u32 change. */
export const IFINFOMSG_SIZE = 16;
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_QDISC = 6;
export const IFLA_MASTER = 10;
export const IFLA_TXQLEN = 13;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKMODE = 17;
export const IFLA_LINKINFO = 18;
export const IFLA_STATS64 = 23;
export const IFLA_GROUP = 27;
export const IFLA_NET_NS_FD = 28;
export const IFLA_EXT_MASK = 29;
export const IFLA_PROMISCUITY = 30;
export const IFLA_NUM_TX_QUEUES = 31;
export const IFLA_NUM_RX_QUEUES = 32;
export const IFLA_CARRIER = 33;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_MIN_MTU = 50;
export const IFLA_MAX_MTU = 51;
export const IFLA_PERM_ADDRESS = 54;
/** Inside IFLA_LINKINFO. */
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
/** Inside IFLA_INFO_DATA of a veth: an ifinfomsg then the peer's IFLA_* attributes. */
export const VETH_INFO_PEER = 1;
/** Inside IFLA_INFO_DATA of a macvlan. */
export const IFLA_MACVLAN_MODE = 1;
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;
export const IFNAMSIZ = 16;
export const IFF_UP = 0x1;
export const IFF_LOWER_UP = 0x10000;
export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;

/** ifaddrmsg: u8 family, u8 prefixlen, u8 flags, u8 scope, u32 index. */
export const IFADDRMSG_SIZE = 8;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_CACHEINFO = 6;
export const IFA_FLAGS = 8;
/** struct ifa_cacheinfo: u32 preferred, valid, cstamp, tstamp. */
export const IFA_CACHEINFO_SIZE = 16;
/** ifa_prefered / ifa_valid meaning "forever". */
export const INFINITY_LIFETIME = 0xffffffff;

/** rtmsg: u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags. */
export const RTMSG_SIZE = 12;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
/** rtm_flags: a cached clone (exception), not a configured route. */
export const RTM_F_CLONED = 0x200;
/** rtnexthop: u16 len, u8 flags, u8 hops, i32 ifindex; then its own attributes. */
export const RTNEXTHOP_SIZE = 8;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

/** ndmsg: u8 family, u8 pad, u16 pad, i32 ifindex, u16 state, u8 flags, u8 type. */
export const NDMSG_SIZE = 12;
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NTF_USE = 0x01;
export const NTF_PROXY = 0x08;

// Neighbor states (a bit mask).
export const NUD_NONE = 0x00;
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;

/** Ethernet hardware address length. */
export const ETH_ALEN = 6;
