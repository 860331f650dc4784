// netbase route lookups: DIR-24-8 lookups/s at 1k, 100k and 1M routes (random destinations, prefix
// lengths distributed like an Internet table), one at a time (lookupRoute) and in batches of 64
// (lookupRoutes, batch_lookups_per_s_*), beside a linear scan (Firedancer's design: routes in
// prefix-length order, first match wins) at the same sizes in the same run, and the time to load
// 1M routes into the region. Rates and times are per CPU second of this process (process.cpuUsage):
// the machine is shared, and time it gives to other processes says nothing about netbase.
// `npm run bench -- netbase` once the lead wires it.

import { native } from "../shared/native";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseReader, RouteBatch, RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { prefixMask, type RouteRecord, RouteType } from "../shared/netmodel";
import { lookup6Figures, lookup6Lines } from "./netbase-lookup6";
import type { BenchResult } from "./types";

/** xorshift32. */
function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

// Share of prefix lengths, roughly today's IPv4 Internet table (/24 dominates), plus a few longer
// prefixes (host and point-to-point routes) so tbl8 groups are exercised.
const LENGTH_SHARES: [number, number][] = [
  [8, 0.1],
  [12, 0.2],
  [14, 0.4],
  [15, 0.5],
  [16, 2.0],
  [17, 1.0],
  [18, 1.5],
  [19, 3.0],
  [20, 4.5],
  [21, 4.5],
  [22, 12.0],
  [23, 9.0],
  [24, 60.0],
  [28, 0.3],
  [30, 0.3],
  [32, 0.7],
];

const GATEWAYS = [0xc0000201, 0xc0000202, 0xc6120001, 0xc6120002]; // 192.0.2.1-2, 198.18.0.1-2

/**
 * `count` distinct unicast routes of table main (plus a default route when count > 1): prefix
 * lengths drawn from LENGTH_SHARES, addresses spread over 1.0.0.0-223.255.255.255, four gateways on
 * two interfaces, metric 0 (a few with alternatives at metric 10).
 */
export function realisticRoutes(count: number, seed = 1): RouteRecord[] {
  const next = rng(seed);
  const total = LENGTH_SHARES.reduce((s, [, w]) => s + w, 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const [, w] of LENGTH_SHARES) {
    acc += w / total;
    cumulative.push(acc);
  }
  const seen = new Set<number>();
  const out: RouteRecord[] = [];
  const add = (dst: number, dstLen: number, priority: number, g: number): void => {
    out.push({
      table: 254,
      type: RouteType.unicast,
      dst,
      dstLen,
      gateway: GATEWAYS[g],
      oif: 1 + (g >> 1),
      prefsrc: 0,
      priority,
      scope: 0,
      protocol: 186,
      tos: 0,
    });
  };
  if (count > 1) {
    add(0, 0, 0, 0);
    seen.add(0);
  }
  while (out.length < count) {
    const u = next() / 2 ** 32;
    let i = 0;
    while (cumulative[i] < u && i < cumulative.length - 1) i++;
    const len = LENGTH_SHARES[i][0];
    const raw = (0x01000000 + (next() % 0xdf000000)) >>> 0;
    const dst = (raw & prefixMask(len)) >>> 0;
    const key = dst * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    add(dst, len, 0, next() & 3);
    if (next() % 100 === 0 && out.length < count) add(dst, len, 10, next() & 3);
  }
  return out;
}

/** Destinations: 90% inside the routes (traffic goes where routes are), 10% anywhere. */
export function destinations(routes: RouteRecord[], n: number, seed = 2): Uint32Array {
  const next = rng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (next() % 10 === 0 || routes.length === 0) {
      out[i] = next();
      continue;
    }
    const r = routes[next() % routes.length];
    const host = r.dstLen === 32 ? 0 : next() & ~prefixMask(r.dstLen);
    out[i] = (r.dst | host) >>> 0;
  }
  return out;
}

function regionBuffer(size: number): ArrayBuffer {
  try {
    // A memfd mapping, like the tiles' (4 KiB shmem pages).
    const addon = native();
    const fd = addon.memfdCreate("tn-netbase-bench", size);
    const buf = addon.mapFd(fd, 0, true);
    addon.closeFd(fd); // the mapping keeps the memory
    return buf;
  } catch {
    return new ArrayBuffer(size);
  }
}

/** One lookupRoute per destination; reads what a sender needs (nexthop, interface). */
export function lookupLoop(reader: NetbaseReader, dsts: Uint32Array, n: number, out: RouteResult): number {
  const mask = dsts.length - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) if (reader.lookupRoute(dsts[i & mask], out)) sum = (sum + out.nexthop + out.ifindex) | 0;
  return sum;
}

/** lookupRoutes over batches of 64 (an AF_XDP receive batch). */
export function batchLoop(reader: NetbaseReader, dsts: Uint32Array, n: number, out: RouteBatch): number {
  const mask = dsts.length - 1;
  let sum = 0;
  for (let i = 0; i < n; i += 64) {
    reader.lookupRoutes(dsts, i & mask, 64, out);
    sum = (sum + out.nexthop[7] + out.ifindex[9]) | 0;
  }
  return sum;
}

/** Firedancer-style baseline: routes sorted by prefix length, longest first; the first match wins. */
class LinearTable {
  private readonly dst: Int32Array;
  private readonly mask: Int32Array;
  private readonly gateway: Int32Array;
  constructor(routes: RouteRecord[]) {
    const sorted = [...routes].sort((a, b) => b.dstLen - a.dstLen || a.priority - b.priority);
    this.dst = Int32Array.from(sorted, (r) => r.dst | 0);
    this.mask = Int32Array.from(sorted, (r) => prefixMask(r.dstLen) | 0);
    this.gateway = Int32Array.from(sorted, (r) => r.gateway | 0);
  }
  lookup(addr: number): number {
    const a = addr | 0;
    const n = this.dst.length;
    for (let i = 0; i < n; i++) if ((a & this.mask[i]) === this.dst[i]) return this.gateway[i];
    return 0;
  }
}

function linearLoop(table: LinearTable, dsts: Uint32Array, n: number): number {
  const mask = dsts.length - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) sum = (sum + table.lookup(dsts[i & mask])) | 0;
  return sum;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** CPU seconds this process used since `from` (time the shared machine gives to others not counted). */
function cpuSeconds(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

/** Rate of `run(n)` per CPU second: a warm-up, then the median of `reps` timed runs. The loops do
 *  not allocate, so the only thread running is the one measured. */
export function rate(run: (n: number) => number, n: number, reps: number): number {
  run(Math.max(1, n >> 2));
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.cpuUsage();
    run(n);
    rates.push(n / cpuSeconds(t0));
  }
  return median(rates);
}

const SIZES: [string, number, number, number][] = [
  // name, routes, DIR-24-8 lookups per run, linear lookups per run
  ["1k", 1_000, 4_000_000, 200_000],
  ["100k", 100_000, 4_000_000, 2_000],
  ["1m", 1_000_000, 4_000_000, 200],
];

export async function lookupFigures(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const [name, count, n, linearN] of SIZES) {
    const routes = realisticRoutes(count);
    const caps = { routes: count + 16 };
    const buf = regionBuffer(netbaseRegionSize(caps));
    initNetbase(buf, caps);
    const writer = new NetbaseWriter(buf);
    const t0 = process.cpuUsage();
    for (const r of routes) writer.upsertRoute(r);
    const loadS = cpuSeconds(t0);
    if (name === "1m") figures.load_1m_s = loadS;
    const reader = new NetbaseReader(buf);
    const dsts = destinations(routes, 1 << 20);
    const out = new RouteResult();
    figures[`lookups_per_s_${name}`] = rate((k) => lookupLoop(reader, dsts, k, out), n, 5);
    const batch = new RouteBatch(64);
    figures[`batch_lookups_per_s_${name}`] = rate((k) => batchLoop(reader, dsts, k, batch), n, 5);
    const linear = new LinearTable(routes);
    figures[`linear_lookups_per_s_${name}`] = rate((k) => linearLoop(linear, dsts, k), linearN, 3);
    // Both structures must give the same gateway (all routes are main, unicast, with gateways).
    let mismatches = 0;
    for (let i = 0; i < linearN; i++) {
      const want = linear.lookup(dsts[i]);
      const got = reader.lookupRoute(dsts[i], out) ? out.rawGateway : 0;
      if (got !== want) mismatches++;
    }
    figures.answer_mismatches = (figures.answer_mismatches ?? 0) + mismatches;
    await new Promise((r) => setImmediate(r));
  }
  return figures;
}

/** The benchmark in the dispatcher's shape (figures + lines for people), IPv6 beside IPv4 at 230k. */
export async function netbaseLookupBench(): Promise<BenchResult> {
  const f = { ...(await lookupFigures()), ...lookup6Figures() };
  const m = (x: number): string => `${(x / 1e6).toFixed(2)}M/s`;
  const lines = ["netbase route lookups (DIR-24-8, random destinations) vs linear scan, same run:"];
  for (const name of ["1k", "100k", "1m"]) {
    const fast = f[`lookups_per_s_${name}`];
    const batch = f[`batch_lookups_per_s_${name}`];
    const slow = f[`linear_lookups_per_s_${name}`];
    lines.push(
      `  ${name.padStart(4)} routes: lookupRoute ${m(fast).padStart(10)}  lookupRoutes(64) ${m(batch).padStart(10)}  linear ${m(slow).padStart(10)}  (${(fast / slow).toFixed(0)}x)`,
    );
  }
  lines.push(
    `  load 1M routes: ${f.load_1m_s.toFixed(2)} CPU s   (rates per CPU second; target >= 20M lookups/s at 1M)`,
  );
  lines.push(...lookup6Lines(f));
  return { figures: f, lines };
}
