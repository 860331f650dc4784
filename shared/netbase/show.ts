// A netbase region as a whole: in the shape of a kernel dump (diff, verify) and as the JSON of
// `tilenet netbase show`, with the names it uses for route types and neighbor states.
import { ipToString, macToString, NeighState, type NetSnapshot, type RouteRecord, RouteType } from "../netmodel";
import type { RegionListing } from "./listing";

/** JSON of `tilenet netbase show`. */
export interface NetbaseShow {
  interfaces: { ifindex: number; name: string; mac: string; mtu: number; up: boolean; addrs: string[] }[];
  routes: { local: ShowRoute[]; main: ShowRoute[] };
  neighbors: { ifindex: number; ip: string; mac: string; state: string }[];
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

/** JSON of `tilenet netbase show`. */
export function netbaseShowOf(region: RegionListing): NetbaseShow {
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
  };
}
