// A netbase region as a whole: in the shape of a kernel dump (diff, verify) and as the JSON of
// `tilenet netbase show`, with the names it uses for route types and neighbor states.
import { formatIp6 } from "../ip6";
import {
  type Addr6Record,
  ipToString,
  macToString,
  type Neigh6Record,
  NeighState,
  type NetSnapshot,
  type Route6Record,
  type RouteRecord,
  RouteType,
} from "../netmodel";
import type { RegionListing } from "./listing";

/** JSON of `tilenet netbase show`. */
export interface NetbaseShow {
  interfaces: { ifindex: number; name: string; mac: string; mtu: number; up: boolean; addrs: string[] }[];
  routes: { local: ShowRoute[]; main: ShowRoute[] };
  neighbors: { ifindex: number; ip: string; mac: string; state: string }[];
  /** IPv6, in the shapes of `ip -6 -j addr|route|neigh` (keys named as iproute2 names them). */
  addrs6: ShowAddr6[];
  routes6: { local: ShowRoute6[]; main: ShowRoute6[] };
  neighbors6: ShowNeighbor6[];
}
export interface ShowAddr6 {
  ifindex: number;
  family: "inet6";
  local: string;
  prefixlen: number;
  /** "global", "link", "host" or the number. */
  scope: string;
  /** IFA_F_* bits. */
  flags: number;
}
export interface ShowRoute6 {
  /** "default" for ::/0, the bare address for a /128, else address/len (as `ip -6 route`). */
  dst: string;
  type: string;
  gateway?: string;
  ifindex: number;
  prefsrc?: string;
  metric: number;
  protocol: number;
}
export interface ShowNeighbor6 {
  ifindex: number;
  dst: string;
  /** "" while unresolved. */
  lladdr: string;
  state: string;
  router: boolean;
}
export interface ShowRoute {
  dst: string;
  type: string;
  gateway?: string;
  ifindex: number;
  src?: string;
  metric: number;
  scope: number;
}

const ROUTE_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(RouteType).map(([name, value]) => [value, name]),
);

export function routeTypeName(type: number): string {
  return ROUTE_TYPE_NAMES[type] ?? `type${type}`;
}

/** NUD state bits as names, e.g. "REACHABLE", "STALE|PROBE"; "NONE" for 0. */
export function neighStateName(state: number): string {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(NeighState)) if (state & bit) names.push(name.toUpperCase());
  return names.length ? names.join("|") : "NONE";
}

/** The region's content in the shape of a kernel dump (for diff and verification). */
export function netSnapshotOf(region: RegionListing): NetSnapshot {
  const ifs = region.interfaces();
  return {
    links: ifs.map((i) => i.link),
    addrs: ifs.flatMap((i) =>
      i.addrs.map((a) => ({
        ifindex: i.link.ifindex,
        address: a.address,
        prefixLen: a.prefixLen,
        broadcast: a.broadcast,
        scope: a.scope,
      })),
    ),
    routes: region.routes(),
    neighs: region.neighbors(),
  };
}

const w6 = (a: Uint32Array): string => formatIp6(a[0], a[1], a[2], a[3]);
const zero6 = (a: Uint32Array): boolean => (a[0] | a[1] | a[2] | a[3]) === 0;

export function scopeName(scope: number): string {
  return scope === 0 ? "global" : scope === 253 ? "link" : scope === 254 ? "host" : String(scope);
}

/** `ip -6 route`'s text of a prefix. */
export function prefix6Text(dst: Uint32Array, len: number): string {
  if (len === 0) return "default";
  return len === 128 ? w6(dst) : `${w6(dst)}/${len}`;
}

function showRoute6(r: Route6Record): ShowRoute6 {
  return {
    dst: prefix6Text(r.dst, r.dstLen),
    type: routeTypeName(r.type),
    ...(zero6(r.gateway) ? {} : { gateway: w6(r.gateway) }),
    ifindex: r.oif,
    ...(zero6(r.prefsrc) ? {} : { prefsrc: w6(r.prefsrc) }),
    metric: r.priority,
    protocol: r.protocol,
  };
}

const NTF_ROUTER = 0x80;

/** The IPv6 part of `tilenet netbase show`. */
export function netbaseShow6Of(
  addrs6: Addr6Record[],
  routes6: Route6Record[],
  neighs6: Neigh6Record[],
): Pick<NetbaseShow, "addrs6" | "routes6" | "neighbors6"> {
  return {
    addrs6: addrs6.map((a) => ({
      ifindex: a.ifindex,
      family: "inet6",
      local: w6(a.address),
      prefixlen: a.prefixLen,
      scope: scopeName(a.scope),
      flags: a.flags,
    })),
    routes6: {
      local: routes6.filter((r) => r.table === 255).map(showRoute6),
      main: routes6.filter((r) => r.table === 254).map(showRoute6),
    },
    neighbors6: neighs6.map((n) => ({
      ifindex: n.ifindex,
      dst: w6(n.ip),
      lladdr: macToString(n.mac),
      state: neighStateName(n.state),
      router: (n.flags & NTF_ROUTER) !== 0,
    })),
  };
}

/** JSON of `tilenet netbase show`. */
export function netbaseShowOf(
  region: RegionListing,
  addrs6: Addr6Record[] = [],
  routes6: Route6Record[] = [],
  neighs6: Neigh6Record[] = [],
): NetbaseShow {
  const routes = region.routes();
  const show = (r: RouteRecord): ShowRoute => {
    // Key order as documented: dst, type, gateway?, ifindex, src?, metric, scope.
    return {
      dst: `${ipToString(r.dst)}/${r.dstLen}`,
      type: routeTypeName(r.type),
      ...(r.gateway !== 0 ? { gateway: ipToString(r.gateway) } : {}),
      ifindex: r.oif,
      ...(r.prefsrc !== 0 ? { src: ipToString(r.prefsrc) } : {}),
      metric: r.priority,
      scope: r.scope,
    };
  };
  return {
    interfaces: region.interfaces().map((i) => ({
      ifindex: i.link.ifindex,
      name: i.link.name,
      mac: macToString(i.link.mac),
      mtu: i.link.mtu,
      up: i.link.up,
      addrs: i.addrs.map((a) => `${ipToString(a.address)}/${a.prefixLen}`),
    })),
    routes: {
      local: routes.filter((r) => r.table === 255).map(show),
      main: routes.filter((r) => r.table === 254).map(show),
    },
    neighbors: region.neighbors().map((n) => ({
      ifindex: n.ifindex,
      ip: ipToString(n.ip),
      mac: macToString(n.mac),
      state: neighStateName(n.state),
    })),
    ...netbaseShow6Of(addrs6, routes6, neighs6),
  };
}
