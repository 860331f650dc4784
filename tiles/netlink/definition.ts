// The netlink tile's declared surface: its settings, metrics and seccomp policy. Kept free of
// side effects so the launcher (to size regions, `tilenet seccomp netlink`) can import it.

import { counter, gauge } from "../../shared/metrics/schema";
import { MSG_DONTWAIT } from "../../shared/native";
import { NETBASE_STRUCTURES } from "../../shared/netbase/reader";
import type { SeccompPolicy } from "../../shared/seccomp/policy";
import { metricsRegionName, type RegionUse } from "../../shared/tile/regions";
import { SOLICIT_METRIC_NAMES, type SolicitConfig } from "./solicit-handler";
import { PROBE6_FD_ROLE, probe6PolicyRules } from "./solicit-probe6";

export interface NetlinkTileConfig {
  solicit: SolicitConfig;
  /** One solicit ring per net tile: region roles `<prefix>.producer` / `<prefix>.consumer`. */
  solicitRings: string[];
  /** Full verification against a fresh dump every this many ms (0 = never). */
  verifyIntervalMs: number;
  /** UDP port the neighbor probes are sent to (the discard port). */
  probePort: number;
  /** How neighbors are resolved: an empty UDP datagram (no privilege), or RTM_NEWNEIGH with
   *  NTF_USE on the request socket (the tile then keeps CAP_NET_ADMIN: see [netlink] keep_net_admin). */
  resolveWith: "udp-probe" | "ntf-use";
}

/** The UDP port neighbor probes go to: the discard port (nothing answers; the kernel ARPs on the way). */
export const PROBE_PORT = 9;

/** What the netlink tile's config is made from (the instance's settings and wiring). */
export interface NetlinkTileInput {
  /** The interfaces the net tiles serve (solicits for others are refused). */
  netIfindexes: number[];
  /** One solicit ring per net tile, in net tile order. */
  solicitRings: string[];
  solicit: Omit<SolicitConfig, "netIfindexes">;
  verifyIntervalS: number;
  keepNetAdmin: boolean;
}

export function netlinkTileConfig(input: NetlinkTileInput): NetlinkTileConfig {
  return {
    solicit: { netIfindexes: input.netIfindexes, ...input.solicit },
    solicitRings: input.solicitRings,
    verifyIntervalMs: input.verifyIntervalS * 1000,
    probePort: PROBE_PORT,
    resolveWith: input.keepNetAdmin ? "ntf-use" : "udp-probe",
  };
}

/**
 * The regions, in grant order: metrics W, netbase W (its only writer), then per solicit ring the
 * producer side R (the net tile writes it) and the consumer side W.
 */
export function netlinkRegions(tile: string, solicitRings: readonly string[]): RegionUse[] {
  const uses: RegionUse[] = [
    { role: "metrics", region: metricsRegionName(tile), access: "write" },
    { role: "netbase", region: "netbase", access: "write" },
  ];
  for (const p of solicitRings) {
    uses.push({ role: `${p}.producer`, region: `${p}.producer`, access: "read" });
    uses.push({ role: `${p}.consumer`, region: `${p}.consumer`, access: "write" });
  }
  return uses;
}

/** Descriptor roles the launcher grants the netlink tile. */
export const NETLINK_FDS = {
  events: "nl.events",
  requests: "nl.requests",
  probe: "probe",
  probe6: PROBE6_FD_ROLE,
} as const;

export const netlinkMetrics = [
  counter("events_link", "Link events applied"),
  counter("events_addr", "IPv4 address events applied"),
  counter("events_route", "IPv4 route events applied (tables local and main)"),
  counter("events_neigh", "IPv4 neighbor events applied"),
  counter("events_addr6", "IPv6 address events applied"),
  counter("events_route6", "IPv6 route events applied (tables local and main)"),
  counter("events_neigh6", "IPv6 neighbor events applied"),
  counter("full_syncs", "Full resynchronisations (start, overrun, interrupted dump, divergence)"),
  counter("enobufs", "Event socket overruns (ENOBUFS): events lost, full resync follows"),
  counter("malformed_messages", "Netlink messages dropped as malformed (all reasons)"),
  counter("dump_retries", "Dumps restarted (NLM_F_DUMP_INTR)"),
  counter("verifications", "Periodic full verifications run"),
  counter("divergences", "Differences found by verification (then repaired)"),
  counter("netbase_full_drops", "Updates dropped because a netbase table was full"),
  gauge(
    "netbase_full",
    "1 while something the kernel holds did not fit in netbase (a drop since the last clean resync)",
  ),
  ...NETBASE_STRUCTURES.map((s) => gauge(`netbase_${s}_used_pct`, `netbase ${s.replace("_", " ")} in use, percent`)),
  gauge("resync_pending", "1 while netbase may differ from the kernel (a resync is being retried)"),
  counter("resync_retries", "Resync attempts that did not converge (state changed or events lost meanwhile)"),
  gauge("interfaces", "Interfaces in netbase"),
  gauge("routes", "Routes in netbase (local + main)"),
  gauge("neighbors", "Neighbors in netbase"),
  gauge(
    "route_capacity_used_pct",
    "Route capacity in use, percent (the fullest of routes, nexthops, tbl8 groups and rows)",
  ),
  gauge("neighbor_capacity_used_pct", "Neighbor capacity in use, percent"),
  counter("solicit_ring_overruns", "Solicit ring overruns (messages lost because the net tile lapped us)"),
  ...SOLICIT_METRIC_NAMES.map((n) =>
    n === "pending" || n === "tracked"
      ? gauge(`solicit_${n}`, `Solicit handler: ${n} entries`)
      : counter(`solicit_${n}`, `Solicit handler: ${n.replaceAll("_", " ")}`),
  ),
];

const MSG_NOSIGNAL = 0x4000;
const SOCKADDR_IN_BYTES = 16;
const SOL_SOCKET = 1;
const SO_BINDTOIFINDEX = 62;

/** Beyond the Node baseline: netlink send/receive on its two sockets, probes on its UDP socket,
 *  poll (its argument is a pointer: it cannot be pinned to fds, and reading is harmless). */
export function netlinkPolicy(fds: Record<string, number>): SeccompPolicy {
  const fd = (role: string): number => {
    const n = fds[role];
    if (n === undefined) throw new Error(`netlink policy: no fd for ${role}`);
    return n;
  };
  return {
    name: "netlink",
    allow: [
      { syscall: "sendto", args: [{ index: 0, op: "eq", value: fd(NETLINK_FDS.requests) }] },
      {
        syscall: "recvmsg",
        args: [
          { index: 0, op: "in", values: [fd(NETLINK_FDS.events), fd(NETLINK_FDS.requests)] },
          { index: 2, op: "eq", value: MSG_DONTWAIT },
        ],
      },
      // A probe: an empty datagram (len 0: no payload to carry anything), fixed flags, an IPv4
      // sockaddr (its bytes cannot be inspected: any on-link host and port). No sendmsg, so no
      // cmsg: TTL 1, SO_DONTROUTE and the bound interface, set before the sandbox, hold.
      {
        syscall: "sendto",
        args: [
          { index: 0, op: "eq", value: fd(NETLINK_FDS.probe) },
          { index: 2, op: "eq", value: 0 },
          { index: 3, op: "eq", value: MSG_DONTWAIT | MSG_NOSIGNAL },
          { index: 5, op: "eq", value: SOCKADDR_IN_BYTES },
        ],
      },
      // probeSend reads which interface the socket is bound to (SO_BINDTOIFINDEX), nothing else.
      {
        syscall: "getsockopt",
        args: [
          { index: 0, op: "eq", value: fd(NETLINK_FDS.probe) },
          { index: 1, op: "eq", value: SOL_SOCKET },
          { index: 2, op: "eq", value: SO_BINDTOIFINDEX },
        ],
      },
      // The IPv6 probe socket's twin rules (a sockaddr_in6), when the launcher granted one.
      ...(fds[PROBE6_FD_ROLE] !== undefined ? probe6PolicyRules(fd(PROBE6_FD_ROLE)) : []),
      "poll",
    ],
  };
}
