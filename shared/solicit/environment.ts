// What the solicit handler asks about the kernel's network state. The netlink tile answers from
// netbase (its own mirror); tests and the fuzzer answer from a model (tiles/netlink/fuzz/snapshot-env.ts).
// Every method is called on the hot path: implementations must not allocate.
//
// Addresses arrive as int32 bit patterns (`ip | 0`: 198.18.0.1 arrives as -971898879), not as the
// u32 numbers used elsewhere: a u32 above 2^31 passed to a function V8 does not inline is boxed
// into a new HeapNumber on every call (measured 16 bytes per message), an int32 never is. Use
// `ip >>> 0` inside the method where a u32 is needed, or compare against Int32Array contents.
// ifindex values are always positive int32s here.
import { NeighState } from "../netmodel";

export interface SolicitEnvironment {
  /** True when ip (int32 bits) is an address of this host (any interface), or inside a `local` route. */
  isLocalAddress(ip: number): boolean;
  /** True when ip is the broadcast address of a subnet configured on ifindex. */
  isSubnetBroadcast(ifindex: number, ip: number): boolean;
  /**
   * True when the route lookup for ip (table local, then main) yields a unicast route with no
   * gateway whose output interface is ifindex: ip is a neighbor reachable through ifindex.
   */
  onLink(ifindex: number, ip: number): boolean;
  /** NUD state bits of the kernel's neighbor entry when it has a link-layer address, else 0. */
  neighborState(ifindex: number, ip: number): number;
}

/** Neighbor states whose MAC the kernel uses for sending: no need to solicit. */
export const NEIGH_USABLE_MASK =
  NeighState.reachable | NeighState.stale | NeighState.delay | NeighState.probe | NeighState.permanent;

export function isUsableNeighState(state: number): boolean {
  return (state & NEIGH_USABLE_MASK) !== 0;
}

/**
 * The IPv6 questions (addresses as the four words of shared/ip6.ts, int32 bits or u32; ifindex a
 * positive int32). Allocation-free, like SolicitEnvironment.
 */
export interface SolicitEnvironment6 {
  /** True when the address is one of this host's IPv6 addresses (any interface). */
  isLocalAddress6(a0: number, a1: number, a2: number, a3: number): boolean;
  /**
   * True when the address is a neighbor reachable through ifindex: a link-local address and the
   * interface has a link-local address of its own (fe80::/64 exists on every IPv6 link, so the
   * route lookup cannot tell interfaces apart), or the route lookup (local, then main) yields a
   * unicast route out of ifindex whose next hop is the address itself (no gateway).
   */
  onLink6(ifindex: number, a0: number, a1: number, a2: number, a3: number): boolean;
  /** NUD state bits of the kernel's neighbor entry when it has a link-layer address, else 0. */
  neighborState6(ifindex: number, a0: number, a1: number, a2: number, a3: number): number;
}
