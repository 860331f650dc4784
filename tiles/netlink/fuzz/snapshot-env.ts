// A reference SolicitEnvironment over plain kernel-state records (a NetSnapshot): linear scans,
// written for clarity rather than speed. It is the executable statement of what the netbase-backed
// environment must answer, the fuzzer's model world, and a fixture for tests.
import {
  type AddrRecord,
  type NeighRecord,
  type NetSnapshot,
  prefixMask,
  type RouteRecord,
  RouteTable,
  RouteType,
} from "../../../shared/netmodel";
import type { SolicitEnvironment } from "../../../shared/solicit/environment";

function matches(route: RouteRecord, ip: number): boolean {
  const mask = prefixMask(route.dstLen);
  return (ip & mask) >>> 0 === (route.dst & mask) >>> 0;
}

/** Longest-prefix match in one table; equal prefixes: lowest metric wins, then the first one. */
export function lookupTable(routes: readonly RouteRecord[], table: number, ip: number): RouteRecord | undefined {
  let best: RouteRecord | undefined;
  for (const r of routes) {
    if (r.table !== table || !matches(r, ip)) continue;
    if (!best || r.dstLen > best.dstLen || (r.dstLen === best.dstLen && r.priority < best.priority)) best = r;
  }
  return best;
}

/** The kernel's default policy rules for the tables we mirror: local, then main. */
export function lookupRoute(routes: readonly RouteRecord[], ip: number): RouteRecord | undefined {
  for (const table of [RouteTable.local, RouteTable.main]) {
    const r = lookupTable(routes, table, ip);
    if (r && r.type !== RouteType.throw) return r;
  }
  return undefined;
}

function neighKey(ifindex: number, ip: number): string {
  return `${ifindex >>> 0}/${ip >>> 0}`;
}

export class SnapshotSolicitEnv implements SolicitEnvironment {
  private readonly addrs: AddrRecord[];
  private readonly routes: RouteRecord[];
  private readonly neighs = new Map<string, NeighRecord>();

  constructor(snapshot: Pick<NetSnapshot, "addrs" | "routes" | "neighs">) {
    this.addrs = [...snapshot.addrs];
    this.routes = [...snapshot.routes];
    for (const n of snapshot.neighs) this.neighs.set(neighKey(n.ifindex, n.ip), n);
  }

  isLocalAddress(ip: number): boolean {
    ip >>>= 0;
    if (this.addrs.some((a) => a.address >>> 0 === ip)) return true;
    const r = lookupTable(this.routes, RouteTable.local, ip);
    return r !== undefined && r.type === RouteType.local;
  }

  isSubnetBroadcast(ifindex: number, ip: number): boolean {
    ip >>>= 0;
    return this.addrs.some(
      (a) =>
        a.ifindex === ifindex &&
        ((a.broadcast !== 0 && a.broadcast >>> 0 === ip) ||
          (a.prefixLen < 31 && (a.address | ~prefixMask(a.prefixLen)) >>> 0 === ip)),
    );
  }

  onLink(ifindex: number, ip: number): boolean {
    const r = lookupRoute(this.routes, ip >>> 0);
    return r !== undefined && r.type === RouteType.unicast && r.gateway === 0 && r.oif === ifindex;
  }

  neighborState(ifindex: number, ip: number): number {
    const n = this.neighs.get(neighKey(ifindex, ip));
    return n?.mac ? n.state : 0;
  }

  /** Applies a kernel neighbor event (RTM_NEWNEIGH / RTM_DELNEIGH) to the model. */
  applyNeighbor(neigh: NeighRecord, deleted: boolean): void {
    const key = neighKey(neigh.ifindex, neigh.ip);
    if (deleted) this.neighs.delete(key);
    else this.neighs.set(key, neigh);
  }
}

/**
 * The records the kernel creates for an address (fib_add_ifaddr): the address as a `local` route,
 * the subnet broadcast as a `broadcast` route (prefixes shorter than /31) and the subnet itself as
 * an on-link unicast route in main.
 */
export function routesForAddress(addr: AddrRecord): RouteRecord[] {
  const base = { gateway: 0, prefsrc: addr.address, priority: 0, protocol: 2, tos: 0 };
  const mask = prefixMask(addr.prefixLen);
  const out: RouteRecord[] = [
    {
      ...base,
      table: RouteTable.local,
      type: RouteType.local,
      dst: addr.address,
      dstLen: 32,
      oif: addr.ifindex,
      scope: 254,
    },
  ];
  if (addr.prefixLen < 31) {
    out.push({
      ...base,
      table: RouteTable.local,
      type: RouteType.broadcast,
      dst: (addr.address | ~mask) >>> 0,
      dstLen: 32,
      oif: addr.ifindex,
      scope: 253,
    });
  }
  if (addr.prefixLen < 32) {
    out.push({
      ...base,
      table: RouteTable.main,
      type: RouteType.unicast,
      dst: (addr.address & mask) >>> 0,
      dstLen: addr.prefixLen,
      oif: addr.ifindex,
      scope: 253,
    });
  }
  return out;
}
