// The solicit handler's questions, answered from netbase (the tile's own mirror of the kernel).
// Allocation-free: results go into reused objects; addresses arrive as int32 bit patterns.
import { InterfaceResult, NeighborResult, type NetbaseReader, RouteResult } from "../../shared/netbase/reader";
import { RouteType } from "../../shared/netmodel";
import type { SolicitEnvironment } from "../../shared/solicit/environment";

export class NetbaseSolicitEnv implements SolicitEnvironment {
  private readonly route = new RouteResult();
  private readonly neigh = new NeighborResult();
  private readonly iface = new InterfaceResult(256);

  constructor(private readonly reader: NetbaseReader) {}

  isLocalAddress(ip: number): boolean {
    return this.reader.isLocalAddress(ip >>> 0);
  }

  isSubnetBroadcast(ifindex: number, ip: number): boolean {
    if (!this.reader.lookupInterface(ifindex, this.iface)) return false;
    const u = ip >>> 0;
    for (let i = 0; i < this.iface.addrCount; i++) {
      const len = this.iface.prefixLens[i];
      if (len >= 31) continue; // /31 and /32 have no broadcast address
      const hostMask = (0xffffffff >>> len) >>> 0;
      const net = (this.iface.addrs[i] & ~hostMask) >>> 0;
      if ((u & ~hostMask) >>> 0 === net && (u & hostMask) >>> 0 === hostMask) return true;
    }
    return false;
  }

  onLink(ifindex: number, ip: number): boolean {
    const r = this.route;
    if (!this.reader.lookupRoute(ip >>> 0, r)) return false;
    return r.type === RouteType.unicast && r.gateway === 0 && r.ifindex === ifindex;
  }

  neighborState(ifindex: number, ip: number): number {
    const n = this.neigh;
    if (!this.reader.lookupNeighbor(ifindex, ip >>> 0, n)) return 0;
    return n.hasMac ? n.state : 0;
  }
}
