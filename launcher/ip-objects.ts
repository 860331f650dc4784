// The objects of `tilenet ip`: iproute2's grammar for each, parsed into netstate calls, and the
// results as `ip -j` JSON (and as text close to iproute2's).
import type { Link } from "../shared/netlink/link-msg";
import type { NetState, RouteInput } from "../shared/netstate";
import {
  addressJson,
  type JsonObject,
  linkJson,
  type NameOf,
  neighborJson,
  routeJson,
  ruleJson,
} from "../shared/netstate/iproute-json";
import type { AddressOptions, VethEnd } from "../shared/netstate/session";
import { type IpOptions, type IpResult, IpUsageError, type Tokens } from "./ip-command";
import { addrText, linkText, neighText, routeText, ruleText } from "./ip-text";

const SHOW = ["show", "list", "lst", "ls", "sh", "s", "l"];
const DELETE = ["delete", "del", "d"];

function command(t: Tokens): string {
  const word = t.done() ? "show" : t.next("a command");
  if (SHOW.includes(word)) return "show";
  if (DELETE.includes(word)) return "delete";
  if (["add", "a", "replace", "change", "set", "get", "append"].includes(word)) return word === "a" ? "add" : word;
  throw new IpUsageError(`${t.command}: command "${word}" is unknown`);
}

function names(links: Link[]): NameOf {
  const byIndex = new Map(links.map((l) => [l.ifindex, l.name]));
  return (i) => byIndex.get(i);
}

// ---- link ----

export async function ipLink(ns: NetState, t: Tokens, _o: IpOptions): Promise<IpResult> {
  const cmd = command(t);
  if (cmd === "show") {
    let name: string | undefined;
    while (!t.done()) {
      const w = t.next("an argument");
      name = w === "dev" ? t.value("dev") : w;
    }
    const all = await ns.listLinks();
    const nameOf = names(all);
    const shown = name === undefined ? all : [await ns.getLink(name)];
    const json = shown.map((l) => linkJson(l, nameOf));
    return { json, text: json.map(linkText).join("") };
  }
  if (cmd === "add") return linkAdd(ns, t).then(() => undefined);
  if (cmd === "delete") {
    const w = t.next("a device");
    await ns.deleteLink(w === "dev" ? t.value("dev") : w);
    return undefined;
  }
  if (cmd === "set" || cmd === "change") return linkSet(ns, t).then(() => undefined);
  throw new IpUsageError(`${t.command}: "${cmd}" is not supported for links`);
}

/** Attributes shared by a new link and a veth peer; returns false on a word it does not know. */
function linkAttr(t: Tokens, word: string, end: VethEnd): boolean {
  if (word === "numtxqueues") end.numTxQueues = t.int(word, 1, 4096);
  else if (word === "numrxqueues") end.numRxQueues = t.int(word, 1, 4096);
  else if (word === "mtu") end.mtu = t.int(word, 1, 0x7fffffff);
  else if (word === "address") end.address = t.value(word);
  else if (word === "netns") end.netns = t.value(word);
  else return false;
  return true;
}

async function linkAdd(ns: NetState, t: Tokens): Promise<void> {
  const self: VethEnd = { name: "" };
  let type: string | undefined;
  let parent: string | undefined;
  let mode: string | undefined;
  const peer: VethEnd = { name: "" };
  while (!t.done()) {
    const w = t.next("an argument");
    if (w === "name" || w === "dev") self.name = t.value(w);
    else if (w === "link") parent = t.value(w);
    else if (w === "type") type = t.value(w);
    else if (type === "veth" && w === "peer") {
      if (t.peek() === "name") t.next("name");
      peer.name = t.value("peer name");
      while (!t.done() && linkAttr(t, t.next("an argument"), peer)) {}
    } else if (type === "macvlan" && w === "mode") mode = t.value(w);
    else if (!linkAttr(t, w, self)) {
      if (self.name !== "" || type !== undefined) t.unknown(w);
      self.name = w;
    }
  }
  if (type === "veth") await ns.addVeth(self, peer.name === "" ? { ...peer, name: `veth${Date.now() % 10000}` } : peer);
  else if (type === "macvlan") {
    if (parent === undefined) throw new IpUsageError(`${t.command}: macvlan needs "link PARENT"`);
    await ns.addMacvlan({ name: self.name, parent, mode: mode as "bridge", mtu: self.mtu, address: self.address });
  } else throw new IpUsageError(`${t.command}: "type veth" or "type macvlan" expected`);
}

async function linkSet(ns: NetState, t: Tokens): Promise<void> {
  let dev = t.next("a device");
  if (dev === "dev") dev = t.value("dev");
  const settings: Parameters<NetState["setLink"]>[1] = {};
  while (!t.done()) {
    const w = t.next("an argument");
    if (w === "up" || w === "down") settings.up = w === "up";
    else if (w === "mtu") settings.mtu = t.int(w, 1, 0x7fffffff);
    else if (w === "address") settings.address = t.value(w);
    else if (w === "name") settings.name = t.value(w);
    else if (w === "netns") settings.netns = t.value(w);
    else if (w === "txqueuelen" || w === "txqlen" || w === "qlen") settings.txqlen = t.int(w, 0, 0x7fffffff);
    else t.unknown(w);
  }
  await ns.setLink(dev, settings);
}

// ---- address ----

export async function ipAddr(ns: NetState, t: Tokens, o: IpOptions): Promise<IpResult> {
  const cmd = command(t);
  if (cmd === "show") {
    let dev: string | undefined;
    while (!t.done()) {
      const w = t.next("an argument");
      dev = w === "dev" ? t.value("dev") : w;
    }
    const links = await ns.listLinks();
    const addrs = await ns.listAddresses({ family: o.family });
    const nameOf = names(links);
    const json: JsonObject[] = [];
    for (const link of links) {
      if (dev !== undefined && link.name !== dev) continue;
      const mine = addrs.filter((a) => a.ifindex === link.ifindex);
      if (o.family !== undefined && mine.length === 0) continue;
      json.push({ ...familyLinkJson(linkJson(link, nameOf, false), o.family), addr_info: mine.map(addressJson) });
    }
    if (dev !== undefined && json.length === 0 && o.family === undefined) await ns.getLink(dev);
    return { json, text: json.map(addrText).join("") };
  }
  if (cmd === "add" || cmd === "replace" || cmd === "delete" || cmd === "change") {
    const prefix = t.next("an address");
    let dev: string | undefined;
    const options: AddressOptions = { replace: cmd !== "add" };
    const flags = { nodad: 0x02, noprefixroute: 0x200, home: 0x10, mngtmpaddr: 0x100 } as Record<string, number>;
    while (!t.done()) {
      const w = t.next("an argument");
      if (w === "dev") dev = t.value(w);
      else if (w === "peer") options.peer = t.value(w).split("/")[0];
      else if (w === "broadcast" || w === "brd") options.broadcast = t.value(w);
      else if (w === "label") options.label = t.value(w);
      else if (w === "scope") options.scope = scopeNumber(t, t.value(w));
      else if (w === "valid_lft" || w === "preferred_lft") {
        const v = t.value(w);
        const n = v === "forever" ? 0xffffffff : Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new IpUsageError(`${t.command}: bad ${w} "${v}"`);
        if (w === "valid_lft") options.validLifetime = n;
        else options.preferredLifetime = n;
      } else if (flags[w] !== undefined) options.flags = (options.flags ?? 0) | (flags[w] as number);
      else t.unknown(w);
    }
    if (dev === undefined) throw new IpUsageError(`${t.command}: "dev NAME" is required`);
    if (cmd === "delete") await ns.deleteAddress(dev, prefix);
    else await ns.addAddress(dev, prefix, options);
    return undefined;
  }
  throw new IpUsageError(`${t.command}: "${cmd}" is not supported for addresses`);
}

/** With -4 or -6, iproute2 prints fewer link fields beside the addresses (with -6 it asks the
 *  kernel's IPv6 link dump, which has no qdisc or group). */
function familyLinkJson(link: JsonObject, family: 4 | 6 | undefined): JsonObject {
  if (family === undefined) return link;
  const omitted = ["link_type", "address", "broadcast", "permaddr"];
  if (family === 6) omitted.push("qdisc", "group", "link_netnsid");
  for (const key of omitted) delete link[key];
  return link;
}

function scopeNumber(t: Tokens, text: string): number {
  const named: Record<string, number> = { global: 0, universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };
  const n = named[text] ?? (/^\d+$/.test(text) ? Number(text) : Number.NaN);
  if (!(n >= 0 && n <= 255)) throw new IpUsageError(`${t.command}: scope "${text}" is unknown`);
  return n;
}

// ---- route ----

const ROUTE_TYPE_WORDS = [
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
];
const METRIC_WORDS = [
  "mtu",
  "advmss",
  "hoplimit",
  "initcwnd",
  "initrwnd",
  "window",
  "rtt",
  "rttvar",
  "ssthresh",
  "cwnd",
  "reordering",
];

export async function ipRoute(ns: NetState, t: Tokens, o: IpOptions): Promise<IpResult> {
  const cmd = command(t);
  if (cmd === "show") return routeShow(ns, t, o);
  if (cmd === "get") {
    const dst = t.next("an address");
    const options: Parameters<NetState["getRoute"]>[1] = {};
    while (!t.done()) {
      const w = t.next("an argument");
      if (w === "from") options.src = t.value(w);
      else if (w === "oif" || w === "dev") options.dev = t.value(w);
      else if (w === "iif") options.iif = t.value(w);
      else if (w === "fibmatch") options.fibMatch = true;
      else t.unknown(w);
    }
    const route = await ns.getRoute(dst, options);
    const nameOf = names(await ns.listLinks());
    const json = [routeJson(route, { nameOf, tableSelected: true, devSelected: false })];
    return { json, text: json.map(routeText).join("") };
  }
  const input = parseRoute(t, o);
  if (cmd === "add" || cmd === "append") await ns.addRoute(input);
  else if (cmd === "replace" || cmd === "change") await ns.replaceRoute(input);
  else if (cmd === "delete") await ns.deleteRoute(input);
  else throw new IpUsageError(`${t.command}: "${cmd}" is not supported for routes`);
  return undefined;
}

async function routeShow(ns: NetState, t: Tokens, o: IpOptions): Promise<IpResult> {
  let table: string | undefined;
  let dev: string | undefined;
  while (!t.done()) {
    const w = t.next("an argument");
    if (w === "table" || w === "tab") table = t.value(w);
    else if (w === "dev" || w === "oif") dev = t.value(w);
    else t.unknown(w);
  }
  const links = await ns.listLinks();
  const oif = dev === undefined ? undefined : (await ns.getLink(dev)).ifindex;
  // iproute2 shows IPv4 for a table (main by default), both families for "table all".
  const all = await ns.listRoutes({
    family: o.family ?? (table === "all" ? undefined : 4),
    table: table === "all" ? undefined : (table ?? "main"),
  });
  const routes = oif === undefined ? all : all.filter((r) => r.oif === oif);
  const ctx = {
    nameOf: names(links),
    tableSelected: table !== undefined && table !== "all",
    devSelected: dev !== undefined,
  };
  const json = routes.map((r) => routeJson(r, ctx));
  return { json, text: json.map(routeText).join("") };
}

function parseRoute(t: Tokens, o: IpOptions): RouteInput {
  const route: RouteInput = { dst: "", family: o.family };
  const metrics: Record<string, number> = {};
  while (!t.done()) {
    const w = t.next("an argument");
    if (route.dst === "" && ROUTE_TYPE_WORDS.includes(w)) route.type = w as RouteInput["type"];
    else if (w === "to") route.dst = t.value(w);
    else if (w === "via") route.gateway = t.value(w);
    else if (w === "dev" || w === "oif") route.dev = t.value(w);
    else if (w === "table" || w === "tab") route.table = t.value(w);
    else if (w === "proto" || w === "protocol") route.protocol = t.value(w);
    else if (w === "scope") route.scope = t.value(w);
    else if (w === "metric" || w === "priority" || w === "preference") route.metric = t.int(w, 0, 0xffffffff);
    else if (w === "src") route.prefsrc = t.value(w);
    else if (w === "from") route.src = t.value(w);
    else if (w === "tos" || w === "dsfield") route.tos = t.int(w, 0, 255);
    else if (w === "onlink") route.onlink = true;
    else if (w === "pref") route.pref = t.value(w) as RouteInput["pref"];
    else if (METRIC_WORDS.includes(w)) metrics[w] = t.int(w, 0, 0xffffffff);
    else if (w === "nexthop") route.nexthops = [...(route.nexthops ?? []), parseNexthop(t)];
    else if (route.dst === "") route.dst = w;
    else t.unknown(w);
  }
  if (route.dst === "") throw new IpUsageError(`${t.command}: a destination prefix (or "default") is required`);
  if (route.dst === "default" && route.family === undefined) route.family = route.gateway?.includes(":") ? 6 : 4;
  if (Object.keys(metrics).length > 0) route.metrics = metrics;
  return route;
}

function parseNexthop(t: Tokens): NonNullable<RouteInput["nexthops"]>[number] {
  const hop: NonNullable<RouteInput["nexthops"]>[number] = {};
  while (!t.done() && t.peek() !== "nexthop") {
    const w = t.next("an argument");
    if (w === "via") hop.gateway = t.value(w);
    else if (w === "dev") hop.dev = t.value(w);
    else if (w === "weight") hop.weight = t.int(w, 1, 256);
    else if (w === "onlink") hop.onlink = true;
    else t.unknown(w);
  }
  return hop;
}

// ---- rule ----

export async function ipRule(ns: NetState, t: Tokens, o: IpOptions): Promise<IpResult> {
  const cmd = command(t);
  if (cmd === "show") {
    if (!t.done()) t.unknown(t.next("an argument"));
    const json = (await ns.listRules(o.family ?? 4)).map(ruleJson);
    return { json, text: json.map(ruleText).join("") };
  }
  if (cmd !== "add" && cmd !== "delete") throw new IpUsageError(`${t.command}: "${cmd}" is not supported for rules`);
  const rule: Parameters<NetState["addRule"]>[0] = { family: o.family };
  while (!t.done()) {
    const w = t.next("an argument");
    if (w === "not") rule.not = true;
    else if (w === "from") rule.from = allOr(t.value(w));
    else if (w === "to") rule.to = allOr(t.value(w));
    else if (w === "pref" || w === "priority" || w === "order") rule.priority = t.int(w, 0, 0xffffffff);
    else if (w === "table" || w === "lookup") rule.table = t.value(w);
    else if (w === "iif" || w === "dev") rule.iif = t.value(w);
    else if (w === "oif") rule.oif = t.value(w);
    else if (w === "fwmark") {
      const [mark, mask] = t.value(w).split("/");
      rule.fwmark = Number(mark);
      if (mask !== undefined) rule.fwmask = Number(mask);
    } else if (w === "blackhole" || w === "unreachable" || w === "prohibit" || w === "nop") rule.action = w;
    else t.unknown(w);
  }
  if (cmd === "add") await ns.addRule(rule);
  else await ns.deleteRule(rule);
  return undefined;
}

function allOr(text: string): string | undefined {
  return text === "all" ? undefined : text;
}

// ---- neighbor ----

export async function ipNeigh(ns: NetState, t: Tokens, o: IpOptions): Promise<IpResult> {
  const cmd = command(t);
  if (cmd === "show") {
    let dev: string | undefined;
    let proxy = false;
    while (!t.done()) {
      const w = t.next("an argument");
      if (w === "dev") dev = t.value(w);
      else if (w === "proxy") proxy = true;
      else t.unknown(w);
    }
    const nameOf = names(await ns.listLinks());
    const shown = (await ns.listNeighbors({ family: o.family, dev, proxy })).filter(
      // iproute2 hides NOARP and NONE entries unless asked (nud all).
      (n) => proxy || (n.state & 0xff & ~0x40) !== 0 || (n.flags & 0x10) !== 0,
    );
    const json = shown.map((n) => neighborJson(n, nameOf, dev !== undefined));
    return { json, text: json.map(neighText).join("") };
  }
  const input: Parameters<NetState["addNeighbor"]>[0] = { dst: "", dev: "" };
  while (!t.done()) {
    const w = t.next("an argument");
    if (w === "dev") input.dev = t.value(w);
    else if (w === "lladdr") input.lladdr = t.value(w);
    else if (w === "nud") input.state = t.value(w);
    else if (w === "router") input.router = true;
    else if (w === "proxy") {
      input.dst = t.value(w);
      input.proxy = true;
    } else if (w === "to") input.dst = t.value(w);
    else if (input.dst === "") input.dst = w;
    else t.unknown(w);
  }
  if (input.dev === "") throw new IpUsageError(`${t.command}: "dev NAME" is required`);
  if (cmd === "add") await ns.addNeighbor(input);
  else if (cmd === "replace" || cmd === "change") await ns.replaceNeighbor(input);
  else if (cmd === "delete") await ns.deleteNeighbor(input);
  else throw new IpUsageError(`${t.command}: "${cmd}" is not supported for neighbors`);
  return undefined;
}
