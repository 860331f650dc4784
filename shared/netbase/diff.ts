// Comparing netbase with a kernel dump: the normal form both sides are reduced to (what netbase
// mirrors, keyed the way the kernel identifies objects), and human-readable differences. Used by the
// writer's resync (to apply only the differences) and by `tilenet netbase verify` (any mapper).
import { formatIp6 } from "../ip6";
import {
  type Addr6Record,
  type AddrRecord,
  ipToString,
  type LinkRecord,
  macToString,
  type Neigh6Record,
  type NeighRecord,
  NeighState,
  type NetSnapshot,
  prefixMask,
  type Route6Record,
  type RouteRecord,
  RouteTable,
} from "../netmodel";
import { IF_NAME_BYTES } from "./layout";
import type { NetbaseReader } from "./reader";
import { neighStateName, routeTypeName } from "./show";

export interface NormalizedState {
  links: Map<number, LinkRecord>;
  /** Key: addrKey. */
  addrs: Map<string, AddrRecord>;
  /** Key: routeKey. */
  routes: Map<string, RouteRecord>;
  /** Key: neighKey. */
  neighs: Map<string, NeighRecord>;
}

/** The kernel identifies an IPv4 route by table, prefix, TOS and priority (TOS is always 0 here). */
export function routeKey(r: RouteRecord): string {
  return `${r.table} ${r.dst}/${r.dstLen} ${r.priority}`;
}
export function addrKey(a: AddrRecord): string {
  return `${a.ifindex} ${a.address}/${a.prefixLen}`;
}
export function addr6Key(a: Addr6Record): string {
  return `${a.ifindex} ${a.address[0]},${a.address[1]},${a.address[2]},${a.address[3]}/${a.prefixLen}`;
}
export function neighKey(n: NeighRecord): string {
  return `${n.ifindex} ${n.ip}`;
}

/** Routes netbase mirrors: tables local and main, TOS 0 (the TOS the net tile routes with). */
export function isMirroredRoute(r: RouteRecord): boolean {
  return (r.table === RouteTable.main || r.table === RouteTable.local) && r.tos === 0;
}

/** A MAC netbase can store (6 bytes), else null. */
export function normalMac(mac: Uint8Array | null): Uint8Array | null {
  return mac && mac.length === 6 ? mac : null;
}

/** The kernel does not announce every move between its unresolved states (a FAILED entry that is
 *  probed again turns INCOMPLETE silently), and to a net tile they mean the same: no MAC yet.
 *  Entries without a link-layer address compare as INCOMPLETE when in either of those states. */
export function unresolvedState(state: number): number {
  return state & (NeighState.incomplete | NeighState.failed) ? NeighState.incomplete : state;
}

/** Interface names are stored in IFNAMSIZ bytes, NUL terminated. */
export function normalName(name: string): string {
  const bytes = new TextEncoder().encode(name);
  return bytes.length < IF_NAME_BYTES ? name : new TextDecoder().decode(bytes.subarray(0, IF_NAME_BYTES - 1));
}

export function normalizeSnapshot(snap: NetSnapshot): NormalizedState {
  const state: NormalizedState = { links: new Map(), addrs: new Map(), routes: new Map(), neighs: new Map() };
  for (const l of snap.links)
    state.links.set(l.ifindex >>> 0, { ...l, name: normalName(l.name), mac: normalMac(l.mac) });
  for (const a of snap.addrs) state.addrs.set(addrKey(a), a);
  for (const r of snap.routes) {
    if (!isMirroredRoute(r)) continue;
    const n = { ...r, dst: (r.dst & prefixMask(r.dstLen)) >>> 0 };
    state.routes.set(routeKey(n), n);
  }
  for (const n of snap.neighs) {
    const mac = normalMac(n.mac);
    state.neighs.set(neighKey(n), { ...n, mac, state: mac ? n.state : unresolvedState(n.state) });
  }
  return state;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

type Field<T> = [string, (x: T) => unknown, (v: unknown) => string];
const plain = (v: unknown): string => String(v);
const ip = (v: unknown): string => ipToString(v as number);
const mac = (v: unknown): string => macToString(v as Uint8Array | null) || "none";

const LINK_FIELDS: Field<LinkRecord>[] = [
  ["name", (l) => l.name, plain],
  ["mac", (l) => l.mac, mac],
  ["mtu", (l) => l.mtu, plain],
  ["up", (l) => l.up, plain],
  ["lowerUp", (l) => l.lowerUp, plain],
  ["type", (l) => l.type, plain],
  ["flags", (l) => l.flags >>> 0, (v) => `0x${(v as number).toString(16)}`],
];
const ADDR_FIELDS: Field<AddrRecord>[] = [
  ["scope", (a) => a.scope, plain],
  ["broadcast", (a) => a.broadcast >>> 0, ip],
];
const ROUTE_FIELDS: Field<RouteRecord>[] = [
  ["type", (r) => r.type, (v) => routeTypeName(v as number)],
  ["gateway", (r) => r.gateway >>> 0, ip],
  ["oif", (r) => r.oif >>> 0, plain],
  ["prefsrc", (r) => r.prefsrc >>> 0, ip],
  ["scope", (r) => r.scope, plain],
];
const NEIGH_FIELDS: Field<NeighRecord>[] = [
  ["mac", (n) => n.mac, mac],
  ["state", (n) => n.state, (v) => neighStateName(v as number)],
  ["flags", (n) => n.flags, plain],
];

function fieldDiffs<T>(fields: Field<T>[], region: T, kernel: T): string[] {
  const out: string[] = [];
  for (const [name, get, show] of fields) {
    const a = get(region);
    const b = get(kernel);
    const equal =
      a instanceof Uint8Array || b instanceof Uint8Array ? sameBytes(a as Uint8Array, b as Uint8Array) : a === b;
    if (!equal) out.push(`${name} ${show(a)} in netbase, ${show(b)} in kernel`);
  }
  return out;
}

/** Whether two records of the same key hold the same mirrored content. */
export function sameLink(a: LinkRecord, b: LinkRecord): boolean {
  return fieldDiffs(LINK_FIELDS, a, b).length === 0;
}
export function sameAddr(a: AddrRecord, b: AddrRecord): boolean {
  return fieldDiffs(ADDR_FIELDS, a, b).length === 0;
}
export function sameRoute(a: RouteRecord, b: RouteRecord): boolean {
  return fieldDiffs(ROUTE_FIELDS, a, b).length === 0;
}
export function sameNeigh(a: NeighRecord, b: NeighRecord): boolean {
  return fieldDiffs(NEIGH_FIELDS, a, b).length === 0;
}

function diffMaps<K, T>(
  out: string[],
  region: Map<K, T>,
  kernel: Map<K, T>,
  fields: Field<T>[],
  describe: (x: T) => string,
): void {
  for (const [k, want] of kernel) {
    const have = region.get(k);
    if (have === undefined) out.push(`${describe(want)}: missing in netbase`);
    else for (const d of fieldDiffs(fields, have, want)) out.push(`${describe(want)}: ${d}`);
  }
  for (const [k, have] of region) if (!kernel.has(k)) out.push(`${describe(have)}: only in netbase`);
}

const tableName = (t: number): string => (t === RouteTable.local ? "local" : "main");

/** Human-readable differences between two normal forms; empty when equal. */
export function diffStates(region: NormalizedState, kernel: NormalizedState): string[] {
  const out: string[] = [];
  diffMaps(out, region.links, kernel.links, LINK_FIELDS, (l) => `link ${l.ifindex} (${l.name})`);
  diffMaps(
    out,
    region.addrs,
    kernel.addrs,
    ADDR_FIELDS,
    (a) => `addr ${ipToString(a.address)}/${a.prefixLen} on ${a.ifindex}`,
  );
  diffMaps(
    out,
    region.routes,
    kernel.routes,
    ROUTE_FIELDS,
    (r) => `route ${tableName(r.table)} ${ipToString(r.dst)}/${r.dstLen} metric ${r.priority}`,
  );
  diffMaps(out, region.neighs, kernel.neighs, NEIGH_FIELDS, (n) => `neighbor ${ipToString(n.ip)} on ${n.ifindex}`);
  return out;
}

/** Differences between what a netbase region holds and a kernel dump; empty when equal. IPv6
 *  lists absent from the dump are not compared. */
export function diffNetbase(reader: NetbaseReader, snap: NetSnapshot): string[] {
  const out = diffStates(normalizeSnapshot(reader.toNetSnapshot()), normalizeSnapshot(snap));
  if (snap.addrs6) diff6(out, reader.addresses6(), snap.addrs6);
  if (snap.routes6) diffRoutes6(out, reader.routes6(), snap.routes6);
  if (snap.neighs6) diffNeighbors6(out, reader.neighbors6(), snap.neighs6);
  return out;
}

const w6 = (a: Uint32Array): string => formatIp6(a[0], a[1], a[2], a[3]);

function diffKeyed<T>(
  out: string[],
  region: T[],
  kernel: T[],
  key: (x: T) => string,
  describe: (x: T) => string,
  fields: [string, (x: T) => string][],
): void {
  const have = new Map(region.map((x) => [key(x), x]));
  const want = new Map(kernel.map((x) => [key(x), x]));
  for (const [k, w] of want) {
    const h = have.get(k);
    if (h === undefined) {
      out.push(`${describe(w)}: missing in netbase`);
      continue;
    }
    for (const [name, get] of fields)
      if (get(h) !== get(w)) out.push(`${describe(w)}: ${name} ${get(h)} in netbase, ${get(w)} in kernel`);
  }
  for (const [k, h] of have) if (!want.has(k)) out.push(`${describe(h)}: only in netbase`);
}

function diff6(out: string[], region: Addr6Record[], kernel: Addr6Record[]): void {
  diffKeyed(out, region, kernel, addr6Key, (a) => `addr ${w6(a.address)}/${a.prefixLen} on ${a.ifindex}`, [
    ["scope", (a) => String(a.scope)],
    ["flags", (a) => `0x${(a.flags >>> 0).toString(16)}`],
  ]);
}

/** Masked key (table, prefix, metric, interface): netbase's IPv6 route identity (route6-writer.ts). */
function route6KeyOf(r: Route6Record): string {
  const d = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, r.dstLen - 32 * i));
    d[i] = bits === 0 ? 0 : r.dst[i] & (-1 << (32 - bits));
  }
  return `${r.table} ${w6(d)}/${r.dstLen} ${r.priority >>> 0} dev ${r.oif >>> 0}`;
}

function diffRoutes6(out: string[], region: Route6Record[], kernel: Route6Record[]): void {
  const mirrored = kernel.filter((r) => r.table === RouteTable.main || r.table === RouteTable.local);
  diffKeyed(out, region, mirrored, route6KeyOf, (r) => `route6 ${tableName(r.table)} ${route6KeyOf(r).slice(4)}`, [
    ["type", (r) => routeTypeName(r.type)],
    ["gateway", (r) => w6(r.gateway)],
    ["oif", (r) => String(r.oif >>> 0)],
    ["prefsrc", (r) => w6(r.prefsrc)],
  ]);
}

function diffNeighbors6(out: string[], region: Neigh6Record[], kernel: Neigh6Record[]): void {
  const key = (n: Neigh6Record): string => `${n.ifindex >>> 0} ${w6(n.ip)}`;
  const state = (n: Neigh6Record): string => neighStateName(normalMac(n.mac) ? n.state : unresolvedState(n.state));
  diffKeyed(out, region, kernel, key, (n) => `neighbor6 ${w6(n.ip)} on ${n.ifindex}`, [
    ["mac", (n) => macToString(normalMac(n.mac)) || "none"],
    ["state", state],
    ["flags", (n) => String(n.flags)],
  ]);
}
