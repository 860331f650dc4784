// Counters of the rtnetlink layer: plain numbers with stable snake_case names, so the netlink
// tile can copy them into its metrics as they are.

/** Why a message (or the rest of a datagram) was dropped as malformed. */
export const MALFORMED_REASONS = [
  /** Fewer than 16 bytes left for an nlmsghdr. */
  "short_header",
  /** nlmsg_len below the header size or beyond the datagram. */
  "bad_msg_len",
  /** Payload shorter than the message type's fixed struct (ifinfomsg, rtmsg...). */
  "short_payload",
  /** rtattr length below 4. */
  "bad_attr_len",
  /** rtattr extends past the end of its message (or nest). */
  "attr_past_end",
  /** A fixed-size attribute (an address of the message's family, u32) with the wrong size. */
  "bad_attr_size",
  /** An Ethernet hardware address that is not 6 bytes. */
  "bad_lladdr_size",
  /** IFLA_IFNAME empty, too long or without its terminating NUL. */
  "bad_ifname",
  /** Prefix length above 32 (128 for IPv6), or a route destination with bits set beyond its prefix. */
  "bad_prefix_len",
  /** An interface index below 1 where one is required. */
  "bad_ifindex",
  /** A required attribute (address, destination) is absent. */
  "missing_attr",
  /** RTA_MULTIPATH with a bad rtnexthop. */
  "bad_multipath",
  /** NLMSG_ERROR or NLMSG_DONE too short for its error code. */
  "bad_error_msg",
] as const;
export type MalformedReason = (typeof MALFORMED_REASONS)[number];

/** Why a well-formed message was not turned into a record. */
export const IGNORED_REASONS = [
  /** Address family we do not mirror (bridge FDB, MPLS...). */
  "family",
  /** A route table other than local (255) and main (254). */
  "table",
  /** A message type the decoder does not handle. */
  "type",
  /** A cached route clone (RTM_F_CLONED), not configuration. */
  "cloned_route",
  /** A proxy-ARP / proxy-NDP entry (NTF_PROXY), not a neighbor. */
  "proxy_neigh",
  /** An IPv6 neighbor whose hardware address is not 6 bytes (a tunnel's: sit, ip6gre...). */
  "non_ethernet_lladdr",
  /** An IPv6 source-specific route (rtm_src_len > 0): the net tile routes by destination only. */
  "source_route",
  /** An IPv6 multicast neighbor (ff00::/8, NOARP, MAC derived from the group): never a next hop,
   *  and the kernel makes these without an event (only a dump would see them). */
  "multicast_neigh",
] as const;
export type IgnoredReason = (typeof IGNORED_REASONS)[number];

export type MalformedCounterName = `malformed_${MalformedReason}`;
export type IgnoredCounterName = `ignored_${IgnoredReason}`;

export interface BaseCounters {
  /** Datagrams received (dump replies and events). */
  datagrams: number;
  /** Netlink messages walked in those datagrams. */
  messages: number;
  /** Subscription events decoded, by kind. */
  events_link: number;
  events_addr: number;
  events_route: number;
  events_neigh: number;
  events_addr6: number;
  events_route6: number;
  events_neigh6: number;
  /** Multipath routes mirrored with their first next hop only. */
  multipath_first_hop: number;
  /** Records returned by dumps. */
  dump_records: number;
  /** Dumps completed, and restarted because the kernel flagged them NLM_F_DUMP_INTR. */
  dumps: number;
  dump_retries: number;
  /** Consecutive dumps of dumpConfirmed that disagreed on their entries (then dumped again). */
  dump_unconfirmed: number;
  /** ENOBUFS on receive: the kernel dropped messages for the socket. */
  enobufs: number;
  /** Datagrams larger than the receive buffer (lost; the event reader reports overrun). */
  truncated: number;
  /** NLMSG_ERROR (or NLMSG_DONE) carrying a negative errno. */
  errors: number;
  /** Acks (NLMSG_ERROR with 0) for requests. */
  acks: number;
  /** Waits that ended without the reply they were waiting for. */
  timeouts: number;
  /** Replies with another sequence number or port id (left over from an abandoned request). */
  stale_replies: number;
  /** Datagrams not sent by the kernel (discarded by the native layer). */
  foreign_datagrams: number;
}

export type NetlinkCounters = BaseCounters & Record<MalformedCounterName, number> & Record<IgnoredCounterName, number>;

export function malformedCounter(reason: MalformedReason): MalformedCounterName {
  return `malformed_${reason}`;
}

export function createCounters(): NetlinkCounters {
  const base: BaseCounters = {
    datagrams: 0,
    messages: 0,
    events_link: 0,
    events_addr: 0,
    events_route: 0,
    events_neigh: 0,
    events_addr6: 0,
    events_route6: 0,
    events_neigh6: 0,
    multipath_first_hop: 0,
    dump_records: 0,
    dumps: 0,
    dump_retries: 0,
    dump_unconfirmed: 0,
    enobufs: 0,
    truncated: 0,
    errors: 0,
    acks: 0,
    timeouts: 0,
    stale_replies: 0,
    foreign_datagrams: 0,
  };
  const malformed = Object.fromEntries(MALFORMED_REASONS.map((r) => [`malformed_${r}`, 0])) as Record<
    MalformedCounterName,
    number
  >;
  const ignored = Object.fromEntries(IGNORED_REASONS.map((r) => [`ignored_${r}`, 0])) as Record<
    IgnoredCounterName,
    number
  >;
  return { ...base, ...malformed, ...ignored };
}

/** Sum of all malformed_* counters. */
export function malformedTotal(c: NetlinkCounters): number {
  let total = 0;
  for (const r of MALFORMED_REASONS) total += c[`malformed_${r}`];
  return total;
}
