// A reference SolicitEnvironment over plain kernel-state records (a NetSnapshot): linear scans,
// written for clarity rather than speed. It is the executable statement of what the netbase-backed
// environment must answer, the fuzzer's model world, and a fixture for tests.
import { isIp6LinkLocal } from "../../../shared/ip6";
import {
  type Addr6Record,
  type AddrRecord,
  type Neigh6Record,
  type NeighRecord,
  type NetSnapshot,
  prefixMask,
  type Route6Record,
  type RouteRecord,
  RouteTable,
  RouteType,
} from "../../../shared/netmodel";
import type { SolicitEnvironment, SolicitEnvironment6 } from "../../../shared/solicit/environment";

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

// ---------------------------------------------------------------------------------------------
// IPv6: the same plain-record restatement (linear scans), for the model world and tests.

function prefix6Matches(dst: Uint32Array, dstLen: number, a: Uint32Array): boolean {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, dstLen - i * 32));
    if (bits === 0) return true;
    const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (((dst[i] ?? 0) & mask) >>> 0 !== ((a[i] ?? 0) & mask) >>> 0) return false;
  }
  return true;
}

function sameWords(x: Uint32Array, y: Uint32Array): boolean {
  return x[0] === y[0] && x[1] === y[1] && x[2] === y[2] && x[3] === y[3];
}

/** Longest-prefix match in one table; equal prefixes: lowest metric wins, then the first one. */
export function lookupTable6(routes: readonly Route6Record[], table: number, a: Uint32Array): Route6Record | undefined {
  let best: Route6Record | undefined;
  for (const r of routes) {
    if (r.table !== table || !prefix6Matches(r.dst, r.dstLen, a)) continue;
    if (!best || r.dstLen > best.dstLen || (r.dstLen === best.dstLen && r.priority < best.priority)) best = r;
  }
  return best;
}

export function lookupRoute6Records(routes: readonly Route6Record[], a: Uint32Array): Route6Record | undefined {
  for (const table of [RouteTable.local, RouteTable.main]) {
    const r = lookupTable6(routes, table, a);
    if (r && r.type !== RouteType.throw) return r;
  }
  return undefined;
}

function words(a0: number, a1: number, a2: number, a3: number): Uint32Array {
  return Uint32Array.of(a0 >>> 0, a1 >>> 0, a2 >>> 0, a3 >>> 0);
}

function neigh6Key(ifindex: number, a: Uint32Array): string {
  return `${ifindex >>> 0}/${a.join(":")}`;
}

/** The IPv6 answers over records (allocates: the reference, not the hot path). */
export class Snapshot6SolicitEnv implements SolicitEnvironment6 {
  private readonly addrs6: Addr6Record[];
  private readonly routes6: Route6Record[];
  private readonly neighs6 = new Map<string, Neigh6Record>();

  constructor(snapshot: {
    addrs6: readonly Addr6Record[];
    routes6: readonly Route6Record[];
    neighs6: readonly Neigh6Record[];
  }) {
    this.addrs6 = [...snapshot.addrs6];
    this.routes6 = [...snapshot.routes6];
    for (const n of snapshot.neighs6) this.neighs6.set(neigh6Key(n.ifindex, n.ip), n);
  }

  isLocalAddress6(a0: number, a1: number, a2: number, a3: number): boolean {
    const a = words(a0, a1, a2, a3);
    return this.addrs6.some((x) => sameWords(x.address, a));
  }

  onLink6(ifindex: number, a0: number, a1: number, a2: number, a3: number): boolean {
    if (isIp6LinkLocal(a0 >>> 0)) return this.addrs6.some((x) => x.ifindex === ifindex && isIp6LinkLocal(x.address[0]));
    const r = lookupRoute6Records(this.routes6, words(a0, a1, a2, a3));
    return r !== undefined && r.type === RouteType.unicast && r.oif === ifindex && r.gateway.every((w) => w === 0);
  }

  neighborState6(ifindex: number, a0: number, a1: number, a2: number, a3: number): number {
    const n = this.neighs6.get(neigh6Key(ifindex, words(a0, a1, a2, a3)));
    return n?.mac ? n.state : 0;
  }

  applyNeighbor6(neigh: Neigh6Record, deleted: boolean): void {
    const key = neigh6Key(neigh.ifindex, neigh.ip);
    if (deleted) this.neighs6.delete(key);
    else this.neighs6.set(key, neigh);
  }
}

/** What the kernel creates for an IPv6 address (addrconf): the address as a `local` /128 in
 *  table local, its prefix as an on-link unicast route in main (metric 256). */
export function routesForAddress6(addr: Addr6Record): Route6Record[] {
  const zero = new Uint32Array(4);
  const out: Route6Record[] = [
    {
      table: RouteTable.local,
      type: RouteType.local,
      dst: addr.address,
      dstLen: 128,
      gateway: zero,
      oif: addr.ifindex,
      prefsrc: zero,
      priority: 0,
      protocol: 2,
    },
  ];
  if (addr.prefixLen < 128) {
    const dst = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      const bits = Math.max(0, Math.min(32, addr.prefixLen - i * 32));
      const mask = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
      dst[i] = ((addr.address[i] ?? 0) & mask) >>> 0;
    }
    out.push({
      table: RouteTable.main,
      type: RouteType.unicast,
      dst,
      dstLen: addr.prefixLen,
      gateway: zero,
      oif: addr.ifindex,
      prefsrc: zero,
      priority: 256,
      protocol: 2,
    });
  }
  return out;
}
