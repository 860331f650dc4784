// `tilenet netbase show|verify`: read the instance's netbase through a read-only mapping
// (no netlink for show); verify compares it with a fresh kernel dump in the instance's namespace.

import { inNetns, native } from "../shared/native";
import { diffNetbase } from "../shared/netbase/diff";
import { NetbaseReader } from "../shared/netbase/reader";
import { NetlinkClient } from "../shared/netlink";
import { loadManifest, regionPath } from "./health/instances";
import {
  addressText,
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
  routeText,
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
 *  addresses as `ip -j addr`, routes as `ip -j route show table all`, neighbors as `ip -j neigh`). */
export interface NetbaseShowJson {
  links: IpLink[];
  addresses: IpAddress[];
  routes: IpRoute[];
  neighbors: IpNeighbor[];
}

export function netbaseShowJson(reader: NetbaseReader): NetbaseShowJson {
  const interfaces = reader.interfaces();
  const dev = deviceNames(interfaces);
  // ip lists table main before table local; each in the kernel's order (by destination).
  const routes = reader.routes().sort((a, b) => (a.table === b.table ? 0 : a.table === 254 ? -1 : 1));
  return {
    links: interfaces.map(ipLink),
    addresses: interfaces.map(ipAddress),
    routes: routes.map((r) => ipRoute(r, dev)),
    neighbors: reader.neighbors().map((n) => ipNeighbor(n, dev)),
  };
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
  for (const a of show.addresses) lines.push(...addressText(a).map((l) => `  ${l}`));
  lines.push("routes:");
  for (const r of show.routes) lines.push(`  ${routeText(r)}`);
  lines.push("neighbors:");
  for (const n of show.neighbors) lines.push(`  ${neighborText(n)}`);
  out(`${lines.join("\n")}\n`);
  return 0;
}

/** Differences that persist over a few attempts (a change in flight is not a divergence). */
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
