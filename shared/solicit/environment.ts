// What the solicit handler asks about the kernel's network state. The netlink tile answers from
// netbase (its own mirror); tests and the fuzzer answer from a model (snapshot-env.ts).
// Every method is called on the hot path: implementations must not allocate.
import { NeighState } from "../netmodel";

export interface SolicitEnvironment {
  /** True when ip is an address of this host (any interface), or inside a `local` route. */
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
