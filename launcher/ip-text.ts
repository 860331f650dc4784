// `tilenet ip` text output, rendered from the `ip -j` objects: close to iproute2's own text.
import type { Json, JsonObject } from "../shared/netstate/iproute-json";

const str = (v: Json | undefined): string => (v === undefined || v === null ? "" : String(v));

export function linkText(l: JsonObject): string {
  const peer = l.link !== undefined ? `@${str(l.link)}` : l.link_index !== undefined ? `@if${str(l.link_index)}` : "";
  const parts = [`${str(l.ifindex)}: ${str(l.ifname)}${peer}: <${(l.flags as string[]).join(",")}> mtu ${str(l.mtu)}`];
  if (l.qdisc !== undefined) parts.push(`qdisc ${str(l.qdisc)}`);
  if (l.master !== undefined) parts.push(`master ${str(l.master)}`);
  parts.push(`state ${str(l.operstate)}`);
  if (l.linkmode !== undefined) parts.push(`mode ${str(l.linkmode)}`);
  parts.push(`group ${str(l.group)}`);
  if (l.txqlen !== undefined) parts.push(`qlen ${str(l.txqlen)}`);
  let second = `    link/${str(l.link_type)}`;
  if (l.address !== undefined) second += ` ${str(l.address)}`;
  if (l.broadcast !== undefined) second += ` brd ${str(l.broadcast)}`;
  if (l.link_netnsid !== undefined) second += ` link-netnsid ${str(l.link_netnsid)}`;
  return `${parts.join(" ")}\n${second}\n`;
}

const life = (n: Json | undefined): string => (n === 4294967295 ? "forever" : `${str(n)}sec`);

export function addrText(entry: JsonObject): string {
  let out = linkText(entry);
  for (const a of (entry.addr_info as JsonObject[]) ?? []) {
    let line = `    ${str(a.family)} ${str(a.local)}`;
    if (a.address !== undefined) line += ` peer ${str(a.address)}`;
    line += `/${str(a.prefixlen)}`;
    if (a.broadcast !== undefined) line += ` brd ${str(a.broadcast)}`;
    line += ` scope ${str(a.scope)}`;
    for (const flag of [
      "dynamic",
      "secondary",
      "temporary",
      "tentative",
      "nodad",
      "noprefixroute",
      "mngtmpaddr",
      "deprecated",
    ])
      if (a[flag] === true) line += ` ${flag}`;
    if (a.label !== undefined) line += ` ${str(a.label)}`;
    out += `${line}\n       valid_lft ${life(a.valid_life_time)} preferred_lft ${life(a.preferred_life_time)}\n`;
  }
  return out;
}

export function routeText(r: JsonObject): string {
  const parts: string[] = [];
  if (r.type !== undefined) parts.push(str(r.type));
  parts.push(str(r.dst));
  if (r.from !== undefined) parts.push(`from ${str(r.from)}`);
  if (r.gateway !== undefined) parts.push(`via ${str(r.gateway)}`);
  if (r.dev !== undefined) parts.push(`dev ${str(r.dev)}`);
  if (r.table !== undefined) parts.push(`table ${str(r.table)}`);
  if (r.protocol !== undefined) parts.push(`proto ${str(r.protocol)}`);
  if (r.scope !== undefined) parts.push(`scope ${str(r.scope)}`);
  if (r.prefsrc !== undefined) parts.push(`src ${str(r.prefsrc)}`);
  if (r.metric !== undefined) parts.push(`metric ${str(r.metric)}`);
  parts.push(...(r.flags as string[]));
  for (const m of (r.metrics as JsonObject[]) ?? [])
    for (const [k, v] of Object.entries(m)) parts.push(`${k} ${str(v)}`);
  if (r.pref !== undefined) parts.push(`pref ${str(r.pref)}`);
  let out = `${parts.join(" ")}\n`;
  for (const h of (r.nexthops as JsonObject[]) ?? []) {
    const via = h.gateway !== undefined ? ` via ${str(h.gateway)}` : "";
    out += `\tnexthop${via} dev ${str(h.dev)} weight ${str(h.weight)}${(h.flags as string[]).map((f) => ` ${f}`).join("")}\n`;
  }
  return out;
}

export function ruleText(r: JsonObject): string {
  let line = `${str(r.priority)}:\t${r.not === null ? "not " : ""}from ${str(r.src)}`;
  if (r.srclen !== undefined) line += `/${str(r.srclen)}`;
  if (r.dst !== undefined) line += ` to ${str(r.dst)}${r.dstlen !== undefined ? `/${str(r.dstlen)}` : ""}`;
  if (r.fwmark !== undefined) line += ` fwmark ${str(r.fwmark)}${r.fwmask !== undefined ? `/${str(r.fwmask)}` : ""}`;
  if (r.iif !== undefined) line += ` iif ${str(r.iif)}`;
  if (r.oif !== undefined) line += ` oif ${str(r.oif)}`;
  if (r.table !== undefined) line += ` lookup ${str(r.table)}`;
  if (r.action !== undefined) line += ` ${str(r.action)}`;
  return `${line}\n`;
}

export function neighText(n: JsonObject): string {
  let line = str(n.dst);
  if (n.dev !== undefined) line += ` dev ${str(n.dev)}`;
  if (n.lladdr !== undefined) line += ` lladdr ${str(n.lladdr)}`;
  if (n.router === null) line += " router";
  if (n.proxy === null) line += " proxy";
  if (n.state !== undefined) line += ` ${(n.state as string[]).join(" ")}`;
  return `${line}\n`;
}
