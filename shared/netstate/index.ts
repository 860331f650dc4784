// tilenet/netstate: the host's network state as a typed, promise-based library over the project's
// own rtnetlink and ethtool generic netlink codec. No daemon, no `ip`, no `ethtool`: every failure
// is an Error; the kernel's refusals are NetlinkError with errno and extended-ack text.
export type { DriverInfo } from "../native";
export { NetbaseClient, type NetbaseInterface, type NetbaseNeighbor, type NetbaseRoute } from "../netbase/client";
export type { Address, IpFamily } from "../netlink/addr-msg";
export { formatIp, parseIp, parsePrefix } from "../netlink/address-text";
export type { Channels, Feature, Rings } from "../netlink/ethtool-msg";
export type { Link, LinkStats } from "../netlink/link-msg";
export type { Neighbor } from "../netlink/neigh-msg";
export type { NextHop, Route, RouteType } from "../netlink/route-msg";
export type { Rule } from "../netlink/rule-msg";
export { NetlinkDumpUnstableError, NetlinkError, NetlinkTimeoutError, NetstateArgumentError } from "./errors";
export { type ChangeOp, type MonitorObject, type MonitorOptions, monitor, type NetstateEvent } from "./monitor";
export { neighStateNames, neighStateNumber, protocols, scopes, tables } from "./names";
export {
  createNetns,
  createNetnsSync,
  deleteNetns,
  deleteNetnsSync,
  listNetns,
  NETNS_RUN_DIR,
  netnsExists,
  netnsPathOf,
} from "./netns";
export type { MetricName, NeighborInput, RouteFilter, RouteInput, RuleInput, TableRef } from "./routing";
export {
  type AddressOptions,
  type LinkSettings,
  MACVLAN_MODES,
  NetState,
  type NetStateOptions,
  TX_CHECKSUM_PREFIX,
  type VethEnd,
} from "./session";
