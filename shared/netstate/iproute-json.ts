// The library's objects in iproute2's JSON shapes (`ip -j`, iproute2 6.x, without -d or -s):
// same field names, values, order and omissions, so that a jq filter works on either output.
import type { Address } from "../netlink/addr-msg";
import type { Link } from "../netlink/link-msg";
import type { Neighbor } from "../netlink/neigh-msg";
import type { Route } from "../netlink/route-msg";
import type { Rule } from "../netlink/rule-msg";
import { neighStateNames, protocols, scopes, tables } from "./names";

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** ifindex -> name, for "dev" and "link" fields. */
export type NameOf = (ifindex: number) => string | undefined;

const LINK_FLAGS: [number, string][] = [
  [0x8, "LOOPBACK"],
  [0x2, "BROADCAST"],
  [0x10, "POINTOPOINT"],
  [0x1000, "MULTICAST"],
  [0x80, "NOARP"],
  [0x200, "ALLMULTI"],
  [0x100, "PROMISC"],
  [0x400, "MASTER"],
  [0x800, "SLAVE"],
  [0x4, "DEBUG"],
  [0x8000, "DYNAMIC"],
  [0x4000, "AUTOMEDIA"],
  [0x2000, "PORTSEL"],
  [0x20, "NOTRAILERS"],
  [0x1, "UP"],
  [0x10000, "LOWER_UP"],
  [0x20000, "DORMANT"],
  [0x40000, "ECHO"],
];
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;

const LINK_TYPES: Record<number, string> = {
  1: "ether",
  24: "ieee1394",
  32: "infiniband",
  768: "ipip",
  769: "tunnel6",
  772: "loopback",
  776: "sit",
  778: "gre",
  823: "ip6gre",
  65534: "none",
  65535: "void",
};
const LINK_MODES = ["DEFAULT", "DORMANT", "TESTING"];

export function linkFlagNames(flags: number): string[] {
  const out: string[] = [];
  if ((flags & IFF_UP) !== 0 && (flags & IFF_RUNNING) === 0) out.push("NO-CARRIER");
  let rest = flags & ~IFF_RUNNING;
  for (const [bit, name] of LINK_FLAGS) {
    if ((rest & bit) !== 0) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) out.push(`0x${rest.toString(16)}`);
  return out;
}

/** One link as `ip -j link show` prints it (withLinkMode false: as inside `ip -j addr show`). */
export function linkJson(link: Link, nameOf: NameOf, withLinkMode = true): JsonObject {
  const o: JsonObject = { ifindex: link.ifindex };
  if (link.link !== undefined && link.link !== 0) {
    const peer = link.linkNetnsId === undefined ? nameOf(link.link) : undefined;
    if (peer !== undefined) o.link = peer;
    else o.link_index = link.link;
  }
  o.ifname = link.name;
  o.flags = linkFlagNames(link.flags);
  o.mtu = link.mtu;
  if (link.qdisc !== undefined) o.qdisc = link.qdisc;
  if (link.master !== undefined) o.master = nameOf(link.master) ?? link.master;
  o.operstate = link.operState;
  if (withLinkMode) o.linkmode = LINK_MODES[link.linkMode ?? 0] ?? "DEFAULT";
  o.group = link.group === undefined || link.group === 0 ? "default" : String(link.group);
  if (link.txqlen !== undefined) o.txqlen = link.txqlen;
  o.link_type = LINK_TYPES[link.linkType] ?? `[${link.linkType}]`;
  if (link.address !== undefined) o.address = link.address;
  if (link.broadcast !== undefined) o.broadcast = link.broadcast;
  if (link.permAddress !== undefined && link.permAddress !== link.address) o.permaddr = link.permAddress;
  if (link.linkNetnsId !== undefined) o.link_netnsid = link.linkNetnsId;
  return o;
}

const SCOPE_JSON: Record<number, string> = { 0: "global" };
const IFA_FLAGS: [number, string][] = [
  [0x01, "secondary"],
  [0x10, "deprecated"],
  [0x40, "tentative"],
  [0x08, "optimistic"],
  [0x04, "home"],
  [0x02, "nodad"],
  [0x100, "mngtmpaddr"],
  [0x200, "noprefixroute"],
  [0x400, "autojoin"],
  [0x20, "dadfailed"],
  [0x800, "stable-privacy"],
];
const IFA_F_PERMANENT = 0x80;
const FOREVER = 0xffffffff;

/** One address as an element of `addr_info`. */
export function addressJson(a: Address): JsonObject {
  const o: JsonObject = { family: a.family === 4 ? "inet" : "inet6", local: a.local };
  if (a.peer !== undefined) o.address = a.peer;
  o.prefixlen = a.prefixLen;
  if (a.broadcast !== undefined) o.broadcast = a.broadcast;
  o.scope = SCOPE_JSON[a.scope] ?? scopes.name(a.scope);
  // iproute2 names "temporary" for IPv6 and "secondary" for IPv4 on the same bit.
  if ((a.flags & IFA_F_PERMANENT) === 0) o.dynamic = true;
  for (const [bit, name] of IFA_FLAGS) {
    if ((a.flags & bit) === 0) continue;
    o[bit === 0x01 && a.family === 6 ? "temporary" : name] = true;
  }
  if (a.label !== undefined && a.family === 4) o.label = a.label;
  o.valid_life_time = a.validLifetime ?? FOREVER;
  o.preferred_life_time = a.preferredLifetime ?? FOREVER;
  return o;
}

/** Prefix text as iproute2 prints it: "default", an address alone at full length, else a/len. */
function prefixText(family: 4 | 6, address: string | undefined, length: number): string {
  if (length === 0) return "default";
  const full = family === 4 ? 32 : 128;
  return length === full ? (address as string) : `${address}/${length}`;
}

const RT_FLAGS: [number, string][] = [
  [0x1, "dead"],
  [0x4, "onlink"],
  [0x2, "pervasive"],
  [0x8, "offload"],
  [0x100, "notify"],
  [0x10, "linkdown"],
  [0x20, "unresolved"],
  [0x4000, "rt_offload"],
  [0x8000, "rt_trap"],
  [0x20000, "rt_offload_failed"],
];
const PREF_NAMES: Record<number, string> = { 0: "medium", 1: "high", 3: "low" };

function routeFlags(flags: number): string[] {
  return RT_FLAGS.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);
}

export interface RouteJsonContext {
  nameOf: NameOf;
  /** The `table` selector was given (and was not "all"): no table field, as iproute2. */
  tableSelected: boolean;
  /** The `dev` selector was given: no dev field, as iproute2. */
  devSelected: boolean;
}

/** One route as `ip -j route show` prints it. */
export function routeJson(r: Route, ctx: RouteJsonContext): JsonObject {
  const o: JsonObject = {};
  if (r.type !== "unicast") o.type = r.type;
  o.dst = prefixText(r.family, r.dst, r.dstLen);
  if (r.srcLen > 0) o.from = prefixText(r.family, r.src, r.srcLen);
  if (r.tos !== 0) o.tos = `0x${r.tos.toString(16).padStart(2, "0")}`;
  if (r.gateway !== undefined) o.gateway = r.gateway;
  if (r.via !== undefined) o.via = { family: r.via.includes(":") ? "inet6" : "inet", host: r.via };
  if (r.oif !== undefined && !ctx.devSelected) o.dev = ctx.nameOf(r.oif) ?? `if${r.oif}`;
  if (r.table !== 254 && !ctx.tableSelected) o.table = tables.name(r.table);
  if (r.protocol !== 3) o.protocol = protocols.name(r.protocol);
  if (r.scope !== 0) o.scope = scopes.name(r.scope);
  if (r.prefsrc !== undefined) o.prefsrc = r.prefsrc;
  if (r.metric !== undefined) o.metric = r.metric;
  o.flags = routeFlags(r.flags);
  if (r.metrics !== undefined && Object.keys(r.metrics).length > 0) {
    const m: JsonObject = {};
    for (const [k, v] of Object.entries(r.metrics)) if (k !== "lock" && !(k === "hoplimit" && v === FOREVER)) m[k] = v;
    o.metrics = [m];
  }
  if (r.pref !== undefined) o.pref = PREF_NAMES[r.pref] ?? String(r.pref);
  if (r.nexthops !== undefined) {
    o.nexthops = r.nexthops.map((h) => {
      const hop: JsonObject = {};
      if (h.gateway !== undefined) hop.gateway = h.gateway;
      if (h.via !== undefined) hop.via = { family: h.via.includes(":") ? "inet6" : "inet", host: h.via };
      hop.dev = ctx.nameOf(h.oif) ?? `if${h.oif}`;
      hop.weight = h.weight;
      hop.flags = routeFlags(h.flags);
      return hop;
    });
  }
  return o;
}

/** One neighbor as `ip -j neigh show` prints it. */
export function neighborJson(n: Neighbor, nameOf: NameOf, devSelected: boolean): JsonObject {
  const o: JsonObject = { dst: n.dst };
  if (!devSelected) o.dev = nameOf(n.ifindex) ?? `if${n.ifindex}`;
  if (n.lladdr !== undefined) o.lladdr = n.lladdr;
  if ((n.flags & 0x80) !== 0) o.router = null;
  if ((n.flags & 0x08) !== 0) o.proxy = null;
  if ((n.flags & 0x10) !== 0) o.extern_learn = null;
  if ((n.flags & 0x20) !== 0) o.offload = null;
  if ((n.flags & 0x08) === 0) o.state = neighStateNames(n.state);
  return o;
}

const RULE_ACTION_JSON: Record<string, string> = {
  blackhole: "blackhole",
  unreachable: "unreachable",
  prohibit: "prohibit",
  nop: "nop",
};

/** One policy rule as `ip -j rule show` prints it. */
export function ruleJson(r: Rule): JsonObject {
  const o: JsonObject = { priority: r.priority };
  if ((r.flags & 2) !== 0) o.not = null;
  const full = r.family === 4 ? 32 : 128;
  if (r.srcLen > 0) {
    o.src = r.src ?? "";
    if (r.srcLen !== full) o.srclen = r.srcLen;
  } else o.src = "all";
  if (r.dstLen > 0) {
    o.dst = r.dst ?? "";
    if (r.dstLen !== full) o.dstlen = r.dstLen;
  }
  if (r.tos !== 0) o.tos = `0x${r.tos.toString(16)}`;
  if (r.fwmark !== undefined || r.fwmask !== undefined) {
    o.fwmark = `0x${(r.fwmark ?? 0).toString(16)}`;
    if (r.fwmask !== undefined && r.fwmask !== 0xffffffff) o.fwmask = `0x${r.fwmask.toString(16)}`;
  }
  if (r.iifname !== undefined) o.iif = r.iifname;
  if (r.oifname !== undefined) o.oif = r.oifname;
  if (r.action === "to_tbl" && r.table !== 0) o.table = tables.name(r.table);
  if (r.action === "goto") o.goto = r.goto ?? 0;
  const action = RULE_ACTION_JSON[r.action];
  if (action !== undefined) o.action = action;
  return o;
}
