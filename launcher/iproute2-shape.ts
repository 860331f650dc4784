// netbase's records shaped the way iproute2 prints them, so operators read `tilenet netbase show`
// like `ip route` / `ip neigh` / `ip link`, and one jq filter works on `ip -j` and on
// `tilenet netbase show --json` alike. The rules follow iproute2's print functions: a route's
// type only when not unicast, its table only when not main, its scope only when not global, a
// metric only when set; "default" for 0.0.0.0/0 and no "/32" on host routes.
// netbase does not store a route's next-hop flags: that field is left out.
import type { StoredInterface } from "../shared/netbase/reader";
import { ipToString, type NeighRecord, NeighState, type RouteRecord, RouteType } from "../shared/netmodel";
import { protocols } from "../shared/netstate/names";

/** RTPROT_BOOT: what `ip route add` sets; iproute2 prints no protocol for it. */
const RTPROT_BOOT = 3;

const SCOPES: Record<number, string> = { 0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere" };
const TABLES: Record<number, string> = { 253: "default", 254: "main", 255: "local" };
const ROUTE_TYPES: Record<number, string> = Object.fromEntries(Object.entries(RouteType).map(([n, v]) => [v, n]));
const LINK_TYPES: Record<number, string> = { 1: "ether", 772: "loopback", 776: "sit", 778: "gre", 65534: "none" };
/** IFF_* bits in the order iproute2 prints them (print_link_flags). */
const LINK_FLAGS: readonly [string, number][] = [
  ["LOOPBACK", 0x8],
  ["BROADCAST", 0x2],
  ["POINTOPOINT", 0x10],
  ["MULTICAST", 0x1000],
  ["NOARP", 0x80],
  ["ALLMULTI", 0x200],
  ["PROMISC", 0x100],
  ["MASTER", 0x400],
  ["SLAVE", 0x800],
  ["DEBUG", 0x4],
  ["DYNAMIC", 0x8000],
  ["AUTOMEDIA", 0x4000],
  ["PORTSEL", 0x2000],
  ["NOTRAILERS", 0x20],
  ["UP", 0x1],
  ["LOWER_UP", 0x10000],
  ["DORMANT", 0x20000],
  ["ECHO", 0x40000],
];
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;

export const scopeName = (scope: number): string => SCOPES[scope] ?? String(scope);
export const tableName = (table: number): string => TABLES[table] ?? String(table);
export const routeTypeName = (type: number): string => ROUTE_TYPES[type] ?? String(type);

function mac(bytes: Uint8Array | null): string | undefined {
  return bytes ? Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":") : undefined;
}

export function linkFlagNames(flags: number): string[] {
  const names = flags & IFF_UP && !(flags & IFF_RUNNING) ? ["NO-CARRIER"] : [];
  for (const [name, bit] of LINK_FLAGS) if (flags & bit) names.push(name);
  return names;
}

export function neighStateNames(state: number): string[] {
  const names = Object.entries(NeighState)
    .filter(([, bit]) => state & bit)
    .map(([n]) => n.toUpperCase());
  return names.length > 0 ? names : ["NONE"];
}

/** ifindex -> name, for `dev`. */
export type DeviceNames = (ifindex: number) => string;

export function deviceNames(interfaces: readonly StoredInterface[]): DeviceNames {
  const names = new Map(interfaces.map((i) => [i.link.ifindex, i.link.name]));
  return (ifindex) => names.get(ifindex) ?? `if${ifindex}`;
}

export interface IpRoute {
  type?: string;
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
}

export function ipRoute(r: RouteRecord, dev: DeviceNames): IpRoute {
  const dst = r.dstLen === 0 ? "default" : r.dstLen === 32 ? ipToString(r.dst) : `${ipToString(r.dst)}/${r.dstLen}`;
  return {
    ...(r.type !== RouteType.unicast ? { type: routeTypeName(r.type) } : {}),
    dst,
    ...(r.gateway !== 0 ? { gateway: ipToString(r.gateway) } : {}),
    ...(r.oif !== 0 ? { dev: dev(r.oif) } : {}),
    ...(r.table !== 254 ? { table: tableName(r.table) } : {}),
    // As iproute2: the protocol unless it is "boot" (3), what `ip route add` sets by default.
    ...(r.protocol !== RTPROT_BOOT ? { protocol: protocols.name(r.protocol) } : {}),
    ...(r.scope !== 0 ? { scope: scopeName(r.scope) } : {}),
    ...(r.prefsrc !== 0 ? { prefsrc: ipToString(r.prefsrc) } : {}),
    ...(r.priority !== 0 ? { metric: r.priority } : {}),
  };
}

export interface IpNeighbor {
  dst: string;
  dev: string;
  lladdr?: string;
  state: string[];
}

export function ipNeighbor(n: NeighRecord, dev: DeviceNames): IpNeighbor {
  const lladdr = mac(n.mac);
  return { dst: ipToString(n.ip), dev: dev(n.ifindex), ...(lladdr ? { lladdr } : {}), state: neighStateNames(n.state) };
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  link_type: string;
  address?: string;
}

export function ipLink(i: StoredInterface): IpLink {
  const address = mac(i.link.mac);
  return {
    ifindex: i.link.ifindex,
    ifname: i.link.name,
    flags: linkFlagNames(i.link.flags),
    mtu: i.link.mtu,
    link_type: LINK_TYPES[i.link.type] ?? String(i.link.type),
    ...(address ? { address } : {}),
  };
}

export interface IpAddress extends IpLink {
  addr_info: { family: "inet"; local: string; prefixlen: number; broadcast?: string; scope: string }[];
}

export function ipAddress(i: StoredInterface): IpAddress {
  return {
    ...ipLink(i),
    addr_info: i.addrs.map((a) => ({
      family: "inet" as const,
      local: ipToString(a.address),
      prefixlen: a.prefixLen,
      ...(a.broadcast !== 0 ? { broadcast: ipToString(a.broadcast) } : {}),
      scope: scopeName(a.scope),
    })),
  };
}

/** `ip route` text: [type] dst [via gw] [dev d] [table t] [proto p] [scope s] [src a] [metric m]. */
export function routeText(r: IpRoute): string {
  const words = [r.type, r.dst];
  if (r.gateway) words.push("via", r.gateway);
  if (r.dev) words.push("dev", r.dev);
  if (r.table) words.push("table", r.table);
  if (r.protocol) words.push("proto", r.protocol);
  if (r.scope) words.push("scope", r.scope);
  if (r.prefsrc) words.push("src", r.prefsrc);
  if (r.metric !== undefined) words.push("metric", String(r.metric));
  return words.filter((w) => w !== undefined).join(" ");
}

/** `ip neigh` text: dst dev d [lladdr m] STATE. */
export function neighborText(n: IpNeighbor): string {
  return `${n.dst} dev ${n.dev}${n.lladdr ? ` lladdr ${n.lladdr}` : ""} ${n.state.join(" ")}`;
}

/** `ip addr` text: the link line, its link/ line, one inet line per address. */
export function addressText(a: IpAddress): string[] {
  const lines = [
    `${a.ifindex}: ${a.ifname}: <${a.flags.join(",")}> mtu ${a.mtu}`,
    `    link/${a.link_type}${a.address ? ` ${a.address}` : ""}`,
  ];
  for (const i of a.addr_info)
    lines.push(`    inet ${i.local}/${i.prefixlen}${i.broadcast ? ` brd ${i.broadcast}` : ""} scope ${i.scope}`);
  return lines;
}
