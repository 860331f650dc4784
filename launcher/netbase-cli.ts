// `tilenet netbase show|verify`: read the instance's netbase through a read-only mapping
// (no netlink for show); verify compares it with a fresh kernel dump in the instance's namespace.

import type { Manifest } from "../shared/manifest";
import { inNetns, native } from "../shared/native";
import { diffNetbase } from "../shared/netbase/diff";
import { NetbaseReader } from "../shared/netbase/reader";
import { NetlinkClient } from "../shared/netlink";
import { loadManifest, regionPath } from "./health/instances";

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

export function netbaseShow(instance: string | undefined, json: boolean): number {
  const reader = openNetbase(loadManifest(instance));
  const show = reader.snapshot();
  const usage = reader.usage();
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...show, usage }, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = ["capacity:"];
  for (const u of usage) lines.push(`  ${u.name} ${u.used} of ${u.capacity} (${u.pct.toFixed(1)}%)`);
  lines.push("interfaces:");
  for (const i of show.interfaces)
    lines.push(`  ${i.ifindex} ${i.name} ${i.mac || "-"} mtu ${i.mtu} ${i.up ? "UP" : "DOWN"} ${i.addrs.join(" ")}`);
  for (const table of ["local", "main"] as const) {
    lines.push(`routes (${table}):`);
    for (const r of show.routes[table])
      lines.push(
        `  ${r.type} ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} dev ${r.ifindex}${r.src ? ` src ${r.src}` : ""} metric ${r.metric} scope ${r.scope}`,
      );
  }
  lines.push("neighbors:");
  for (const n of show.neighbors) lines.push(`  ${n.ip} dev ${n.ifindex} lladdr ${n.mac || "-"} ${n.state}`);
  process.stdout.write(`${lines.join("\n")}\n`);
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
    for (const d of diffs) process.stdout.write(`${d}\n`);
    process.stdout.write(diffs.length === 0 ? "netbase matches the kernel\n" : `${diffs.length} difference(s)\n`);
    return diffs.length === 0 ? 0 : 1;
  } finally {
    addon.closeFd(fd);
  }
}
