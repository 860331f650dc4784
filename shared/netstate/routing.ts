// Routes, policy rules and neighbors of one namespace: argument validation into the codec's
// request specs, with iproute2's defaults (protocol boot, table main or local, scope by type).
import type { IpFamily } from "../netlink/addr-msg";
import { type Neighbor, NeighborDecoder, NTF_ROUTER, neighborDumpRequest, neighborRequest } from "../netlink/neigh-msg";
import {
  ROUTE_METRICS,
  ROUTE_TYPES,
  type Route,
  RouteDecoder,
  type RouteOp,
  type RouteSpec,
  type RouteType,
  RTM_F_FIB_MATCH,
  routeDumpRequest,
  routeRequest,
} from "../netlink/route-msg";
import {
  RTM_NEWRULE,
  RULE_ACTIONS,
  type Rule,
  RuleDecoder,
  type RuleSpec,
  ruleDumpRequest,
  ruleRequest,
} from "../netlink/rule-msg";
import type { MessageCursor } from "../netlink/wire";
import { neighStateNumber, protocols, scopes, tables } from "./names";
import { decodeWith, type Validator } from "./validate";

const RTM_NEWROUTE = 24;
const RTM_NEWNEIGH = 28;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_HOST = 254;
const RT_SCOPE_NOWHERE = 255;
const RTNH_F_ONLINK = 4;
const RTPROT_BOOT = 3;
const NUD_PERMANENT = 0x80;

/** What the routing functions need from a session. */
export interface RtnlContext {
  query<T>(
    what: string,
    build: (seq: number) => Uint8Array,
    replyType: number,
    decode: (c: MessageCursor) => T | undefined,
  ): T[];
  transact(what: string, build: (seq: number) => Uint8Array): void;
  ifindexOf(v: Validator, argument: string, link: unknown): Promise<number>;
}

export type TableRef = number | string;
export type MetricName = Exclude<(typeof ROUTE_METRICS)[number], "" | "congctl">;

export interface RouteInput {
  /** "198.18.1.0/24", "2001:2::/64", a host address, or "default" (then give family). */
  dst: string;
  family?: IpFamily;
  /** Number or name ("main", "local", "default", or from /etc/iproute2/rt_tables). Default main
   *  (local for local, broadcast, anycast and nat routes). */
  table?: TableRef;
  /** Default unicast. */
  type?: RouteType;
  gateway?: string;
  dev?: string | number;
  src?: string;
  prefsrc?: string;
  metric?: number;
  /** Number or name ("boot", "static", "kernel"...). Default boot, as iproute2. */
  protocol?: number | string;
  /** Number or name ("global", "link", "host"...). Default from the type, as iproute2. */
  scope?: number | string;
  tos?: number;
  onlink?: boolean;
  metrics?: Partial<Record<MetricName, number>>;
  nexthops?: { gateway?: string; dev?: string | number; weight?: number; onlink?: boolean }[];
  /** IPv6 router preference. */
  pref?: "low" | "medium" | "high";
}

export interface RouteFilter {
  family?: IpFamily;
  /** Only this table (number or name); default every table. */
  table?: TableRef;
  /** Only routes through this link (oif or any next hop). */
  dev?: string | number;
  /** Also cached clones (RTM_F_CLONED). Default false. */
  cloned?: boolean;
}

const PREFS = { medium: 0, high: 1, low: 3 } as const;

export async function listRoutes(ctx: RtnlContext, v: Validator, filter: RouteFilter): Promise<Route[]> {
  const family = checkFamily(v, filter.family);
  const table = filter.table === undefined ? undefined : tableNumber(v, "table", filter.table);
  const oif = filter.dev === undefined ? undefined : await ctx.ifindexOf(v, "dev", filter.dev);
  const all = ctx.query(
    "list routes",
    (seq) => routeDumpRequest(seq, family),
    RTM_NEWROUTE,
    decodeWith(RouteDecoder, "route"),
  );
  return all.filter(
    (r) =>
      (filter.cloned === true || (r.flags & 0x200) === 0) &&
      (table === undefined || r.table === table) &&
      (oif === undefined || r.oif === oif || (r.nexthops?.some((h) => h.oif === oif) ?? false)),
  );
}

export async function changeRoute(ctx: RtnlContext, v: Validator, op: RouteOp, input: RouteInput): Promise<void> {
  const spec = await routeSpec(ctx, v, op, input);
  ctx.transact(`${v.operation} ${input.dst}`, (seq) => routeRequest(seq, op, spec));
}

/** The kernel's own answer for one destination (RTM_GETROUTE), like `ip route get`. */
export async function getRoute(
  ctx: RtnlContext,
  v: Validator,
  dst: string,
  options: { src?: string; dev?: string | number; iif?: string | number; mark?: number; fibMatch?: boolean },
): Promise<Route> {
  const bytes = v.ip("dst", dst);
  const family: IpFamily = bytes.byteLength === 4 ? 4 : 6;
  const spec: RouteSpec = {
    family,
    dst: bytes,
    dstLen: bytes.byteLength * 8,
    table: 0,
    protocol: 0,
    scope: 0,
    type: 0,
    flags: options.fibMatch === true ? RTM_F_FIB_MATCH : 0,
    src: options.src === undefined ? undefined : v.ip("src", options.src, family),
    srcLen: options.src === undefined ? 0 : bytes.byteLength * 8,
    oif: options.dev === undefined ? undefined : await ctx.ifindexOf(v, "dev", options.dev),
    iif: options.iif === undefined ? undefined : await ctx.ifindexOf(v, "iif", options.iif),
  };
  const [route] = ctx.query(
    `getRoute ${dst}`,
    (seq) => routeRequest(seq, "get", spec),
    RTM_NEWROUTE,
    decodeWith(RouteDecoder, "route"),
  );
  if (route === undefined) throw new Error(`getRoute ${dst}: the kernel's reply could not be decoded`);
  return route;
}

async function routeSpec(ctx: RtnlContext, v: Validator, op: RouteOp, input: RouteInput): Promise<RouteSpec> {
  if (typeof input !== "object" || input === null) return v.fail("route", "must be an object");
  const dst = routeDestination(v, input);
  const family = dst.family;
  const type = ROUTE_TYPES.indexOf(v.oneOf("type", input.type ?? "unicast", ROUTE_TYPES.slice(1)));
  const nexthops = input.nexthops === undefined ? undefined : await routeNexthops(ctx, v, input.nexthops, family);
  const gateway = input.gateway === undefined ? undefined : v.ip("gateway", input.gateway, family);
  const hasGateway = gateway !== undefined || (nexthops?.some((h) => h.gateway !== undefined) ?? false);
  const localTable = type === 2 || type === 3 || type === 4 || type === 10;
  return {
    family,
    dst: dst.bytes,
    dstLen: dst.prefixLen,
    tos: v.optionalInt("tos", input.tos, 0, 255),
    table: input.table === undefined ? (localTable ? 255 : 254) : tableNumber(v, "table", input.table),
    protocol:
      input.protocol === undefined
        ? op === "delete"
          ? 0
          : RTPROT_BOOT
        : nameOrNumber(v, "protocol", input.protocol, protocols, 255),
    scope:
      input.scope === undefined
        ? defaultScope(op, family, type, hasGateway)
        : nameOrNumber(v, "scope", input.scope, scopes, 255),
    type: op === "delete" && input.type === undefined ? 0 : type,
    flags: input.onlink === true ? RTNH_F_ONLINK : 0,
    gateway,
    oif: input.dev === undefined ? undefined : await ctx.ifindexOf(v, "dev", input.dev),
    src: input.src === undefined ? undefined : v.ip("src", input.src, family),
    srcLen: input.src === undefined ? 0 : family === 4 ? 32 : 128,
    prefsrc: input.prefsrc === undefined ? undefined : v.ip("prefsrc", input.prefsrc, family),
    metric: v.optionalInt("metric", input.metric, 0, 0xffffffff),
    metrics: routeMetrics(v, input.metrics),
    nexthops,
    pref: input.pref === undefined ? undefined : PREFS[v.oneOf("pref", input.pref, ["low", "medium", "high"] as const)],
  };
}

function routeDestination(
  v: Validator,
  input: RouteInput,
): { family: IpFamily; bytes?: Uint8Array; prefixLen: number } {
  const family = checkFamily(v, input.family);
  if (input.dst === "default") {
    if (family === undefined) return v.fail("family", "must be 4 or 6 for the default route");
    return { family, prefixLen: 0 };
  }
  const p = v.prefix("dst", input.dst);
  const f: IpFamily = p.bytes.byteLength === 4 ? 4 : 6;
  if (family !== undefined && family !== f) v.fail("dst", `'${input.dst}' is not an IPv${family} prefix`);
  for (let bit = p.prefixLen; bit < p.bytes.byteLength * 8; bit++)
    if (((p.bytes[bit >> 3] as number) >> (7 - (bit & 7))) & 1)
      v.fail("dst", `'${input.dst}' has host bits set beyond /${p.prefixLen}`);
  return { family: f, bytes: p.prefixLen === 0 ? undefined : p.bytes, prefixLen: p.prefixLen };
}

function defaultScope(op: RouteOp, family: IpFamily, type: number, hasGateway: boolean): number {
  if (family === 6) return RT_SCOPE_UNIVERSE;
  if (type === 2 || type === 10) return RT_SCOPE_HOST;
  if (type === 3 || type === 4 || type === 5) return RT_SCOPE_LINK;
  if (type === 1) {
    if (op === "delete") return RT_SCOPE_NOWHERE;
    if (!hasGateway) return RT_SCOPE_LINK;
  }
  return RT_SCOPE_UNIVERSE;
}

async function routeNexthops(
  ctx: RtnlContext,
  v: Validator,
  hops: NonNullable<RouteInput["nexthops"]>,
  family: IpFamily,
): Promise<NonNullable<RouteSpec["nexthops"]>> {
  if (!Array.isArray(hops) || hops.length === 0 || hops.length > 256)
    return v.fail("nexthops", "must be a list of 1 to 256 next hops");
  const out: NonNullable<RouteSpec["nexthops"]> = [];
  for (const [i, hop] of hops.entries()) {
    if (hop.gateway === undefined && hop.dev === undefined) v.fail(`nexthops[${i}]`, "needs a gateway or a dev");
    out.push({
      gateway: hop.gateway === undefined ? undefined : v.ip(`nexthops[${i}].gateway`, hop.gateway, family),
      oif: hop.dev === undefined ? undefined : await ctx.ifindexOf(v, `nexthops[${i}].dev`, hop.dev),
      weight: v.optionalInt(`nexthops[${i}].weight`, hop.weight, 1, 256) ?? 1,
      flags: hop.onlink === true ? RTNH_F_ONLINK : 0,
    });
  }
  return out;
}

function routeMetrics(v: Validator, metrics: RouteInput["metrics"]): Map<number, number> | undefined {
  if (metrics === undefined) return undefined;
  const out = new Map<number, number>();
  for (const [name, value] of Object.entries(metrics)) {
    const index = (ROUTE_METRICS as readonly string[]).indexOf(name);
    if (index <= 0 || name === "congctl") v.fail(`metrics.${name}`, "is not a numeric route metric");
    out.set(index, v.int(`metrics.${name}`, value, 0, 0xffffffff));
  }
  return out;
}

export function checkFamily(v: Validator, family: unknown): IpFamily | undefined {
  if (family === undefined) return undefined;
  if (family !== 4 && family !== 6) return v.fail("family", `must be 4 or 6, got ${String(family)}`);
  return family;
}

function tableNumber(v: Validator, argument: string, table: TableRef): number {
  return nameOrNumber(v, argument, table, tables, 0xffffffff);
}

function nameOrNumber(
  v: Validator,
  argument: string,
  value: unknown,
  names: { number(text: string): number | undefined },
  max: number,
): number {
  if (typeof value === "number") return v.int(argument, value, 0, max);
  const n = typeof value === "string" ? names.number(value) : undefined;
  if (n === undefined || n > max)
    return v.fail(argument, `'${String(value)}' is not a known name or a number up to ${max}`);
  return n;
}

// ---- neighbors ----

export interface NeighborInput {
  dst: string;
  dev: string | number;
  lladdr?: string;
  /** Name ("permanent", "reachable", "stale", "noarp"...) or NUD_* bits. Default permanent. */
  state?: string | number;
  router?: boolean;
  proxy?: boolean;
}

export async function listNeighbors(
  ctx: RtnlContext,
  v: Validator,
  filter: { family?: IpFamily; dev?: string | number; proxy?: boolean },
): Promise<Neighbor[]> {
  const family = checkFamily(v, filter.family);
  const ifindex = filter.dev === undefined ? undefined : await ctx.ifindexOf(v, "dev", filter.dev);
  const all = ctx.query(
    "list neighbors",
    (seq) => neighborDumpRequest(seq, family, filter.proxy === true),
    RTM_NEWNEIGH,
    decodeWith(NeighborDecoder, "neighbor"),
  );
  return all.filter(
    (n) => (ifindex === undefined || n.ifindex === ifindex) && ((n.flags & 0x08) !== 0) === (filter.proxy === true),
  );
}

export async function changeNeighbor(
  ctx: RtnlContext,
  v: Validator,
  op: "add" | "replace" | "delete" | "use",
  input: NeighborInput,
): Promise<void> {
  if (typeof input !== "object" || input === null) return v.fail("neighbor", "must be an object");
  const dst = v.ip("dst", input.dst);
  const state =
    input.state === undefined
      ? op === "use"
        ? 0
        : NUD_PERMANENT
      : typeof input.state === "number"
        ? v.int("state", input.state, 0, 0xffff)
        : (neighStateNumber(String(input.state)) ??
          v.fail("state", `'${String(input.state)}' is not a neighbor state`));
  const spec = {
    ifindex: await ctx.ifindexOf(v, "dev", input.dev),
    dst,
    lladdr: input.lladdr === undefined ? undefined : v.mac("lladdr", input.lladdr),
    state,
    flags: (input.router === true ? NTF_ROUTER : 0) | (input.proxy === true ? 0x08 : 0),
  };
  ctx.transact(`${v.operation} ${input.dst}`, (seq) => neighborRequest(seq, op, spec));
}

// ---- rules ----

export interface RuleInput {
  family?: IpFamily;
  priority?: number;
  /** Lookup table (number or name); default main for a to_tbl rule. */
  table?: TableRef;
  /** Default "to_tbl" (lookup), or "blackhole", "unreachable", "prohibit", "nop". */
  action?: "to_tbl" | "blackhole" | "unreachable" | "prohibit" | "nop";
  from?: string;
  to?: string;
  fwmark?: number;
  fwmask?: number;
  iif?: string;
  oif?: string;
  not?: boolean;
}

export async function listRules(ctx: RtnlContext, v: Validator, family: IpFamily | undefined): Promise<Rule[]> {
  const f = checkFamily(v, family);
  return ctx.query("list rules", (seq) => ruleDumpRequest(seq, f), RTM_NEWRULE, decodeWith(RuleDecoder, "rule"));
}

export async function changeRule(
  ctx: RtnlContext,
  v: Validator,
  op: "add" | "delete",
  input: RuleInput,
): Promise<void> {
  if (typeof input !== "object" || input === null) return v.fail("rule", "must be an object");
  const from = input.from === undefined ? undefined : v.prefix("from", input.from);
  const to = input.to === undefined ? undefined : v.prefix("to", input.to);
  const inferred = from ?? to;
  const family = checkFamily(v, input.family) ?? (inferred && inferred.bytes.byteLength === 16 ? 6 : 4);
  for (const [name, p] of [
    ["from", from],
    ["to", to],
  ] as const)
    if (p && p.bytes.byteLength !== (family === 4 ? 4 : 16)) v.fail(name, `is not an IPv${family} prefix`);
  const action = RULE_ACTIONS.indexOf(
    v.oneOf("action", input.action ?? "to_tbl", ["to_tbl", "blackhole", "unreachable", "prohibit", "nop"] as const),
  );
  const spec: RuleSpec = {
    family,
    priority: v.optionalInt("priority", input.priority, 0, 0xffffffff),
    table: input.table === undefined ? (action === 1 && op === "add" ? 254 : 0) : tableNumber(v, "table", input.table),
    action: op === "delete" && input.action === undefined ? 0 : action,
    src: from?.bytes,
    srcLen: from?.prefixLen ?? 0,
    dst: to?.bytes,
    dstLen: to?.prefixLen ?? 0,
    fwmark: v.optionalInt("fwmark", input.fwmark, 0, 0xffffffff),
    fwmask: v.optionalInt("fwmask", input.fwmask, 0, 0xffffffff),
    iifname: input.iif === undefined ? undefined : v.ifname("iif", input.iif),
    oifname: input.oif === undefined ? undefined : v.ifname("oif", input.oif),
    invert: input.not === true,
  };
  ctx.transact(`${v.operation}`, (seq) => ruleRequest(seq, op, spec));
}
