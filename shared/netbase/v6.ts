// What netbase answers about IPv6, declared before the tables exist so the net tile, the app
// tiles and the netlink tile's solicit validation can be written against it: NetbaseReader
// implements Netbase6Lookups. Addresses are four 32-bit words (shared/ip6.ts). Allocation-free:
// results go into caller-owned objects.
import type { NeighborResult } from "./lookup-results";

/** Filled by lookupRoute6 (the IPv6 twin of RouteResult). */
export class Route6Result {
  /** type | scope << 8 | table << 16 | protocol << 24 */
  rawMeta = 0;
  /** The route's gateway (all zero when on-link). */
  readonly gateway = new Uint32Array(4);
  /** Where to send: the gateway, or the destination itself when on-link. */
  readonly nexthop = new Uint32Array(4);
  ifindex = 0;
  /** Source address: prefsrc, else a global address of the output interface (the longest
   *  prefix match with the destination, as the kernel's rule 8 prefers), else all zero. For a
   *  link-local destination the interface's link-local address. */
  readonly src = new Uint32Array(4);
  metric = 0;
  get type(): number {
    return this.rawMeta & 255;
  }
  get scope(): number {
    return (this.rawMeta >>> 8) & 255;
  }
  get table(): number {
    return (this.rawMeta >>> 16) & 255;
  }
  get protocol(): number {
    return this.rawMeta >>> 24;
  }
}

export interface Netbase6Lookups {
  /** Longest prefix match over tables local (255) then main (254), lowest metric among equal
   *  prefixes, as the kernel does; false when nothing matches (or after LOOKUP_RETRIES torn reads). */
  lookupRoute6(a0: number, a1: number, a2: number, a3: number, out: Route6Result): boolean;
  /** The neighbor (NDP) entry of address on ifindex: MAC and NUD state; false when absent. */
  lookupNeighbor6(ifindex: number, a0: number, a1: number, a2: number, a3: number, out: NeighborResult): boolean;
  /** True when the address is one of this host's IPv6 addresses (any interface). */
  isLocalAddress6(a0: number, a1: number, a2: number, a3: number): boolean;
  /** The interface's link-local (fe80::/10) address into out[0..3]; false when it has none. */
  linkLocalAddress6(ifindex: number, out: Uint32Array): boolean;
}
