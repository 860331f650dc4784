// The solicit handler's IPv6 questions, answered from netbase through Netbase6Lookups (which
// NetbaseReader implements). Allocation-free: results go into reused objects.
import { isIp6LinkLocal } from "../../shared/ip6";
import { NeighborResult } from "../../shared/netbase/lookup-results";
import { type Netbase6Lookups, Route6Result } from "../../shared/netbase/v6";
import { RouteType } from "../../shared/netmodel";
import type { SolicitEnvironment6 } from "../../shared/solicit/environment";

/** The object narrowed to Netbase6Lookups when it has all four methods (a NetbaseReader from
 *  before IPv6 does not), else undefined: the tile then refuses IPv6 solicits as not on-link. */
export function asNetbase6Lookups(x: unknown): Netbase6Lookups | undefined {
  if (typeof x !== "object" || x === null) return undefined;
  const o = x as Record<string, unknown>;
  const names = ["lookupRoute6", "lookupNeighbor6", "isLocalAddress6", "linkLocalAddress6"];
  return names.every((n) => typeof o[n] === "function") ? (x as Netbase6Lookups) : undefined;
}

export class Netbase6SolicitEnv implements SolicitEnvironment6 {
  private readonly route = new Route6Result();
  private readonly neigh = new NeighborResult();
  private readonly ll = new Uint32Array(4);

  constructor(private readonly lookups: Netbase6Lookups) {}

  isLocalAddress6(a0: number, a1: number, a2: number, a3: number): boolean {
    return this.lookups.isLocalAddress6(a0 >>> 0, a1 >>> 0, a2 >>> 0, a3 >>> 0);
  }

  onLink6(ifindex: number, a0: number, a1: number, a2: number, a3: number): boolean {
    if (isIp6LinkLocal(a0)) return this.lookups.linkLocalAddress6(ifindex, this.ll);
    const r = this.route;
    if (!this.lookups.lookupRoute6(a0 >>> 0, a1 >>> 0, a2 >>> 0, a3 >>> 0, r)) return false;
    if (r.type !== RouteType.unicast || r.ifindex !== ifindex) return false;
    const n = r.nexthop;
    return n[0] === a0 >>> 0 && n[1] === a1 >>> 0 && n[2] === a2 >>> 0 && n[3] === a3 >>> 0;
  }

  neighborState6(ifindex: number, a0: number, a1: number, a2: number, a3: number): number {
    const n = this.neigh;
    if (!this.lookups.lookupNeighbor6(ifindex, a0 >>> 0, a1 >>> 0, a2 >>> 0, a3 >>> 0, n)) return 0;
    return n.hasMac ? n.state : 0;
  }
}
