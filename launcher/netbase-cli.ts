// `tilenet netbase show|verify`: read the instance's netbase through a read-only mapping
// (no netlink for show); verify compares it with a fresh kernel dump of both families in the
// instance's namespace. IPv6 comes from the region's NetSnapshot (addrs6/routes6/neighs6: absent
// lists read as empty), printed in the shapes of `ip -6 -j`.

import { formatIp6 } from "../shared/ip6";
import { inNetns, native } from "../shared/native";
import { diffNetbase } from "../shared/netbase/diff";
import { NetbaseReader } from "../shared/netbase/reader";
import { NetlinkClient } from "../shared/netlink";
import {
  type Addr6Record,
  type Neigh6Record,
  type NetSnapshot,
  type Route6Record,
  RouteType,
} from "../shared/netmodel";
import { protocols } from "../shared/netstate/names";
import { loadManifest, regionPath } from "./health/instances";
import {
  addressText,
  type DeviceNames,
  deviceNames,
  type IpAddress,
  type IpLink,
  type IpNeighbor,
  type IpRoute,
  ipAddress,
  ipLink,
  ipNeighbor,
  ipRoute,
  neighborText,
  neighStateNames,
  routeText,
  routeTypeName,
  scopeName,
  tableName,
} from "./iproute2-shape";
import type { Manifest } from "./manifest";
import { out } from "./output";

function openNetbase(manifest: Manifest): NetbaseReader {
  const entry = manifest.regions.find((r) => r.kind === "netbase");
  if (!entry) throw new Error(`instance ${manifest.instance} has no netbase region`);
  const addon = native();
  const fd = addon.openPath(regionPath(manifest, entry), false);
  try {
    return new NetbaseReader(addon.mapFd(fd, 0, false));
  } finally {
    addon.closeFd(fd);
  }
}

/** What `netbase show --json` prints: ip -j's arrays under one object (links as `ip -j link`,
 *  addresses of both families as `ip -j addr`, IPv4 routes as `ip -4 -j route show table all`,
 *  IPv4 neighbors as `ip -4 -j neigh`, and routes6 / neighbors6 as `ip -6 -j ...` print them). */
export interface NetbaseShowJson {
  links: IpLink[];
  addresses: IpAddressBoth[];
  routes: IpRoute[];
  neighbors: IpNeighbor[];
  routes6: IpRoute[];
  neighbors6: IpNeighbor[];
}

/** An `ip -j addr` entry of either family ("inet6" entries carry iproute2's flag booleans). */
export interface IpAddr6Info {
  family: "inet6";
  local: string;
  prefixlen: number;
  scope: string;
  [flag: string]: string | number | boolean;
}
export type IpAddressBoth = Omit<IpAddress, "addr_info"> & {
  addr_info: (IpAddress["addr_info"][number] | IpAddr6Info)[];
};

const RTPROT_BOOT = 3;
const IFA_F_PERMANENT = 0x80;
/** IFA_F_* as iproute2 names them in `ip addr` (print_ifa_flags); "dynamic" is !permanent. */
const IFA_FLAG_NAMES: readonly [number, string][] = [
  [0x01, "temporary"],
  [0x02, "nodad"],
  [0x04, "optimistic"],
  [0x08, "dadfailed"],
  [0x10, "home"],
  [0x20, "deprecated"],
  [0x40, "tentative"],
  [0x100, "mngtmpaddr"],
  [0x200, "noprefixroute"],
  [0x400, "autojoin"],
  [0x800, "stable-privacy"],
];

const text6 = (w: Uint32Array): string => formatIp6(w[0] ?? 0, w[1] ?? 0, w[2] ?? 0, w[3] ?? 0);
const isZero6 = (w: Uint32Array): boolean => ((w[0] ?? 0) | (w[1] ?? 0) | (w[2] ?? 0) | (w[3] ?? 0)) === 0;

export function ipAddr6Info(a: Addr6Record): IpAddr6Info {
  const info: IpAddr6Info = {
    family: "inet6",
    local: text6(a.address),
    prefixlen: a.prefixLen,
    scope: scopeName(a.scope),
  };
  if ((a.flags & IFA_F_PERMANENT) === 0) info.dynamic = true;
  for (const [bit, name] of IFA_FLAG_NAMES) if (a.flags & bit) info[name] = true;
  return info;
}

/** `ip -6 -j route` entry: the kernel always reports an IPv6 route's metric (0 included) and no scope. */
export function ipRoute6(r: Route6Record, dev: DeviceNames): IpRoute {
  const dst = r.dstLen === 0 ? "default" : r.dstLen === 128 ? text6(r.dst) : `${text6(r.dst)}/${r.dstLen}`;
  return {
    ...(r.type !== RouteType.unicast ? { type: routeTypeName(r.type) } : {}),
    dst,
    ...(!isZero6(r.gateway) ? { gateway: text6(r.gateway) } : {}),
    ...(r.oif !== 0 ? { dev: dev(r.oif) } : {}),
    ...(r.table !== 254 ? { table: tableName(r.table) } : {}),
    ...(r.protocol !== RTPROT_BOOT ? { protocol: protocols.name(r.protocol) } : {}),
    ...(!isZero6(r.prefsrc) ? { prefsrc: text6(r.prefsrc) } : {}),
    metric: r.priority,
  };
}

export function ipNeighbor6(n: Neigh6Record, dev: DeviceNames): IpNeighbor {
  const lladdr = n.mac ? Array.from(n.mac, (b) => b.toString(16).padStart(2, "0")).join(":") : undefined;
  return { dst: text6(n.ip), dev: dev(n.ifindex), ...(lladdr ? { lladdr } : {}), state: neighStateNames(n.state) };
}

/** The region's IPv6 lists (empty when the region's snapshot has none). */
function v6Lists(snap: NetSnapshot): { addrs6: Addr6Record[]; routes6: Route6Record[]; neighs6: Neigh6Record[] } {
  return { addrs6: snap.addrs6 ?? [], routes6: snap.routes6 ?? [], neighs6: snap.neighs6 ?? [] };
}

const mainFirst = <T extends { table: number }>(rs: T[]): T[] =>
  rs.sort((a, b) => (a.table === b.table ? 0 : a.table === 254 ? -1 : 1));

export function netbaseShowJson(reader: NetbaseReader): NetbaseShowJson {
  const interfaces = reader.interfaces();
  const dev = deviceNames(interfaces);
  const { addrs6, routes6, neighs6 } = v6Lists(reader.toNetSnapshot());
  // ip lists table main before table local; each in the kernel's order (by destination).
  const routes = mainFirst(reader.routes());
  return {
    links: interfaces.map(ipLink),
    addresses: interfaces.map((i) => {
      const a = ipAddress(i);
      const own = addrs6.filter((x) => x.ifindex === i.link.ifindex).map(ipAddr6Info);
      return { ...a, addr_info: [...a.addr_info, ...own] };
    }),
    routes: routes.map((r) => ipRoute(r, dev)),
    neighbors: reader.neighbors().map((n) => ipNeighbor(n, dev)),
    routes6: mainFirst(routes6).map((r) => ipRoute6(r, dev)),
    neighbors6: neighs6.map((n) => ipNeighbor6(n, dev)),
  };
}

/** `ip addr` text of one interface, inet6 lines after the inet ones. */
function addressLines(a: IpAddressBoth): string[] {
  const v4 = a.addr_info.filter((i): i is IpAddress["addr_info"][number] => i.family === "inet");
  const lines = addressText({ ...a, addr_info: v4 });
  for (const i of a.addr_info) {
    if (i.family !== "inet6") continue;
    const flags = Object.keys(i).filter((k) => i[k] === true);
    lines.push(`    inet6 ${i.local}/${i.prefixlen} scope ${i.scope}${flags.map((f) => ` ${f}`).join("")}`);
  }
  return lines;
}

export function netbaseShow(instance: string | undefined, json: boolean): number {
  const reader = openNetbase(loadManifest(instance));
  const show = netbaseShowJson(reader);
  // How full each structure is: what fills first bounds the routes netbase can hold.
  const usage = reader.usage();
  if (json) {
    out(`${JSON.stringify({ ...show, usage })}\n`);
    return 0;
  }
  const lines: string[] = ["capacity:"];
  for (const u of usage) lines.push(`  ${u.name} ${u.used} of ${u.capacity} (${u.pct.toFixed(1)}%)`);
  lines.push("addresses:");
  for (const a of show.addresses) lines.push(...addressLines(a).map((l) => `  ${l}`));
  lines.push("routes:");
  for (const r of show.routes) lines.push(`  ${routeText(r)}`);
  lines.push("neighbors:");
  for (const n of show.neighbors) lines.push(`  ${neighborText(n)}`);
  lines.push("routes6:");
  for (const r of show.routes6) lines.push(`  ${routeText(r)}`);
  lines.push("neighbors6:");
  for (const n of show.neighbors6) lines.push(`  ${neighborText(n)}`);
  out(`${lines.join("\n")}\n`);
  return 0;
}

/** Differences that persist over a few attempts (a change in flight is not a divergence). The
 *  kernel side is fullSnapshot(): both families; diffNetbase compares what each side holds. */
export async function netbaseVerify(instance: string | undefined): Promise<number> {
  const manifest = loadManifest(instance);
  const reader = openNetbase(manifest);
  const addon = native();
  const fd = inNetns(manifest.netnsPath, () => addon.netlinkOpen(0, 0));
  try {
    const client = new NetlinkClient(fd);
    let diffs: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      diffs = diffNetbase(reader, client.fullSnapshot());
      if (diffs.length === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const d of diffs) out(`${d}\n`);
    out(diffs.length === 0 ? "netbase matches the kernel\n" : `${diffs.length} difference(s)\n`);
    return diffs.length === 0 ? 0 : 1;
  } finally {
    addon.closeFd(fd);
  }
}
