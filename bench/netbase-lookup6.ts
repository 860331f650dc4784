// netbase IPv6 route lookups at 230,000 routes (a full IPv6 table) beside IPv4 at the same count, in
// the same run: lookups per CPU second of lookupRoute6 and lookupRoute over random destinations inside
// the routes, the ratio, the time to load the table and the LPM nodes it takes. The IPv6 mix is
// shaped like today's IPv6 Internet table: mostly /32-/48 announced by holders of /32s (their /48s
// grouped in a few /40s), some /29-/44, a few /56 and /64, a few /128, under the RIRs' /12s.
import { readFileSync, writeFileSync } from "node:fs";
import { roundUpToHugePage } from "../launcher/huge-pages";
import { native } from "../shared/native";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseReader, Route6Batch, Route6Result, RouteBatch, RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { type Route6Record, RouteType } from "../shared/netmodel";
import { batchLoop, destinations, lookupLoop, rate, realisticRoutes } from "./netbase-lookup";

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

// [prefix length, share %]
const LENGTH_SHARES6: [number, number][] = [
  [24, 0.5],
  [28, 1.0],
  [29, 4.0],
  [32, 14.0],
  [33, 1.0],
  [36, 4.0],
  [40, 7.0],
  [44, 8.0],
  [46, 2.0],
  [47, 1.5],
  [48, 50.0],
  [56, 1.0],
  [64, 4.0],
  [128, 2.0],
];
/** The RIRs' /12s (first 12 bits) and 2001::/16. */
const RIR_BLOCKS = [0x200, 0x240, 0x260, 0x280, 0x2a0, 0x2c0];
const GATEWAYS6 = [1, 2, 3, 4];

function maskWords(d: Uint32Array, len: number): void {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - 32 * i));
    d[i] = bits === 0 ? 0 : (d[i] & (-1 << (32 - bits))) >>> 0;
  }
}

/** `count` distinct unicast IPv6 routes of table main (and a default route). */
export function realisticRoutes6(count: number, seed = 1): Route6Record[] {
  const next = rng(seed);
  const total = LENGTH_SHARES6.reduce((s, [, w]) => s + w, 0);
  const holders = Array.from({ length: Math.max(1, Math.ceil(count / 5)) }, () => {
    const block = RIR_BLOCKS[next() % RIR_BLOCKS.length];
    return ((block << 20) | (next() & 0xfffff)) >>> 0; // a /32 under the block
  });
  const seen = new Set<string>();
  const out: Route6Record[] = [];
  const add = (dst: Uint32Array, dstLen: number): void => {
    const g = next() & 3;
    out.push({
      table: 254,
      type: RouteType.unicast,
      dst,
      dstLen,
      gateway: Uint32Array.of(0xfe800000, 0, 0, GATEWAYS6[g]),
      oif: 1 + (g >> 1),
      prefsrc: new Uint32Array(4),
      priority: 1024,
      protocol: 186,
    });
  };
  add(new Uint32Array(4), 0);
  while (out.length < count) {
    let u = (next() / 2 ** 32) * total;
    let i = 0;
    while (u > LENGTH_SHARES6[i][1] && i < LENGTH_SHARES6.length - 1) u -= LENGTH_SHARES6[i++][1];
    const len = LENGTH_SHARES6[i][0];
    // Inside a holder's /32: its /48s in a few /40s (byte 5 small), the rest random.
    const d = Uint32Array.of(
      holders[next() % holders.length],
      ((next() & 3) << 24) | (next() & 0xffffff),
      next(),
      next(),
    );
    maskWords(d, len);
    const key = `${d.join(",")}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    add(d, len);
  }
  return out;
}

/** Destinations inside the routes (4 words each, n a power of two). */
export function destinations6(routes: Route6Record[], n: number, seed = 2): Uint32Array {
  const next = rng(seed);
  const out = new Uint32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const r = routes[1 + (next() % (routes.length - 1))];
    for (let w = 0; w < 4; w++) {
      const bits = Math.max(0, Math.min(32, r.dstLen - 32 * w));
      const host = bits === 32 ? 0 : next() & (bits === 0 ? -1 : ~(-1 << (32 - bits)));
      out[4 * i + w] = (r.dst[w] | host) >>> 0;
    }
  }
  return out;
}

/** Destinations as traffic has them: 90% to 1% of the routes (the popular ones), 10% to any route. */
export function skewedDestinations6(routes: Route6Record[], n: number, seed = 3): Uint32Array {
  const next = rng(seed);
  const popular = routes.filter(() => next() % 100 === 0);
  const all = destinations6(routes, n, seed + 1);
  const hot = destinations6(popular.length > 1 ? [routes[0], ...popular] : routes, n, seed + 2);
  for (let i = 0; i < n; i++) if (next() % 10 !== 0) all.set(hot.subarray(4 * i, 4 * i + 4), 4 * i);
  return all;
}

/** One lookupRoute6 per destination; reads what a sender needs (nexthop, interface). */
export function lookupLoop6(reader: NetbaseReader, dsts: Uint32Array, n: number, out: Route6Result): number {
  const mask = dsts.length / 4 - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const k = (i & mask) * 4;
    if (reader.lookupRoute6(dsts[k], dsts[k + 1], dsts[k + 2], dsts[k + 3], out))
      sum = (sum + out.nexthop[3] + out.ifindex) | 0;
  }
  return sum;
}

/** lookupRoutes6 over batches of 64 (an AF_XDP receive batch). */
export function batchLoop6(reader: NetbaseReader, dsts: Uint32Array, n: number, out: Route6Batch): number {
  const mask = dsts.length / 4 - 1;
  let sum = 0;
  for (let i = 0; i < n; i += 64) {
    reader.lookupRoutes6(dsts, i & mask, 64, out);
    sum = (sum + out.nexthop[7] + out.ifindex[9]) | 0;
  }
  return sum;
}

function cpuSeconds(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

export const ROUTES_230K = 230_000;
const NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages";

/** A region of `size` bytes: a memfd on 2 MiB pages (reserved from the pool as root, `restore`
 *  puts the pool back), or plain memory when huge is false or impossible. */
function regionOf(size: number, huge: boolean, restore: (() => void)[]): ArrayBuffer | undefined {
  if (!huge) return new ArrayBuffer(size);
  const bytes = roundUpToHugePage(size);
  try {
    const old = readFileSync(NR_HUGEPAGES, "utf8").trim();
    writeFileSync(NR_HUGEPAGES, String(Number(old) + bytes / 2 ** 21));
    restore.push(() => writeFileSync(NR_HUGEPAGES, old));
    const addon = native();
    const fd = addon.memfdCreate("tn-netbase-bench6", bytes, true);
    try {
      return addon.mapFd(fd, bytes, true);
    } finally {
      addon.closeFd(fd);
    }
  } catch {
    return undefined; // not root, no hugetlb, or the pool could not grow
  }
}

/** IPv6 at `count` routes: load, nodes, single and batch lookups/s (suffix names the run). */
function figures6(f: Record<string, number>, count: number, n: number, buf: ArrayBuffer, sfx: string): void {
  const routes6 = realisticRoutes6(count);
  const caps6 = { routes: 16, routes6: count + 16 };
  initNetbase(buf, caps6, { alreadyZero: true });
  const w6 = new NetbaseWriter(buf);
  const t0 = process.cpuUsage();
  let dropped6 = 0;
  for (const r of routes6) if (!w6.upsertRoute6(r)) dropped6++;
  if (sfx === "") {
    f.load6_230k_s = cpuSeconds(t0);
    f.routes6_dropped_230k = dropped6;
    f.lpm6_nodes_230k = w6.counters().lpm6_nodes_used;
  }
  const reader6 = new NetbaseReader(buf);
  const out6 = new Route6Result();
  const dsts6 = destinations6(routes6, 1 << 20);
  f[`lookups6_per_s_230k${sfx}`] = rate((k) => lookupLoop6(reader6, dsts6, k, out6), n, 5);
  const batch6 = new Route6Batch(64);
  f[`batch_lookups6_per_s_230k${sfx}`] = rate((k) => batchLoop6(reader6, dsts6, k, batch6), n, 5);
  const skewed6 = skewedDestinations6(routes6, 1 << 20);
  f[`skewed_lookups6_per_s_230k${sfx}`] = rate((k) => lookupLoop6(reader6, skewed6, k, out6), n, 5);
  let mismatches = 0;
  for (let i = 0; i < 4096; i += 64) {
    reader6.lookupRoutes6(dsts6, i, 64, batch6);
    for (let j = 0; j < 64; j++) {
      const k = 4 * (i + j);
      const ok = reader6.lookupRoute6(dsts6[k], dsts6[k + 1], dsts6[k + 2], dsts6[k + 3], out6);
      if (Number(ok) !== batch6.found[j] || out6.nexthop[3] !== batch6.nexthop[4 * j + 3]) mismatches++;
    }
  }
  f.batch6_mismatches = (f.batch6_mismatches ?? 0) + mismatches;
}

/** IPv4 at `count` routes, the same measures. */
function figures4(f: Record<string, number>, count: number, n: number, buf: ArrayBuffer, sfx: string): void {
  const routes4 = realisticRoutes(count);
  initNetbase(buf, { routes: count + 16, routes6: 1 }, { alreadyZero: true });
  const w4 = new NetbaseWriter(buf);
  const t0 = process.cpuUsage();
  for (const r of routes4) w4.upsertRoute(r);
  if (sfx === "") f.load4_230k_s = cpuSeconds(t0);
  const reader4 = new NetbaseReader(buf);
  const out4 = new RouteResult();
  const dsts4 = destinations(routes4, 1 << 20);
  f[`lookups4_per_s_230k${sfx}`] = rate((k) => lookupLoop(reader4, dsts4, k, out4), n, 5);
  const batch4 = new RouteBatch(64);
  f[`batch_lookups4_per_s_230k${sfx}`] = rate((k) => batchLoop(reader4, dsts4, k, batch4), n, 5);
}

/** IPv6 and IPv4 lookups/s at 230,000 routes each (separate regions), on 4 KiB pages and (as root,
 *  when the pool can grow) on 2 MiB pages; load times, nodes, ratios. */
export function lookup6Figures(count = ROUTES_230K, n = 4_000_000): Record<string, number> {
  const f: Record<string, number> = {};
  const size6 = netbaseRegionSize({ routes: 16, routes6: count + 16 });
  const size4 = netbaseRegionSize({ routes: count + 16, routes6: 1 });
  for (const huge of [false, true]) {
    const sfx = huge ? "_huge" : "";
    const restore: (() => void)[] = [];
    try {
      const buf6 = regionOf(size6, huge, restore);
      if (buf6) figures6(f, count, n, buf6, sfx);
      const buf4 = buf6 && regionOf(size4, huge, restore);
      if (buf4) figures4(f, count, n, buf4, sfx);
    } finally {
      for (const r of restore.reverse()) r();
    }
    if (f[`lookups4_per_s_230k${sfx}`] === undefined) continue;
    f[`lookups6_to_4_ratio_230k${sfx}`] = f[`lookups6_per_s_230k${sfx}`] / f[`lookups4_per_s_230k${sfx}`];
    f[`batch_lookups6_to_4_ratio_230k${sfx}`] =
      f[`batch_lookups6_per_s_230k${sfx}`] / f[`batch_lookups4_per_s_230k${sfx}`];
  }
  return f;
}

/** Lines for people. */
export function lookup6Lines(f: Record<string, number>): string[] {
  const m = (x: number): string => `${(x / 1e6).toFixed(2)}M/s`;
  return [
    "netbase IPv6 vs IPv4 route lookups at 230,000 routes (random destinations inside the routes, per CPU second):",
    `  one at a time:    IPv6 lookupRoute6 ${m(f.lookups6_per_s_230k)}  IPv4 lookupRoute ${m(f.lookups4_per_s_230k)}  ratio ${f.lookups6_to_4_ratio_230k.toFixed(2)}`,
    `  batches of 64:    IPv6 lookupRoutes6 ${m(f.batch_lookups6_per_s_230k)}  IPv4 lookupRoutes ${m(f.batch_lookups4_per_s_230k)}  ratio ${f.batch_lookups6_to_4_ratio_230k.toFixed(2)}  (target >= 10M/s IPv6)`,
    ...(f.lookups6_per_s_230k_huge === undefined
      ? ["  2 MiB pages: not available (needs root and a hugetlb pool)"]
      : [
          `  2 MiB pages, one at a time: IPv6 ${m(f.lookups6_per_s_230k_huge)}  IPv4 ${m(f.lookups4_per_s_230k_huge)}  ratio ${f.lookups6_to_4_ratio_230k_huge.toFixed(2)}`,
          `  2 MiB pages, batches of 64: IPv6 ${m(f.batch_lookups6_per_s_230k_huge)}  IPv4 ${m(f.batch_lookups4_per_s_230k_huge)}  ratio ${f.batch_lookups6_to_4_ratio_230k_huge.toFixed(2)}`,
        ]),
    `  skewed traffic (90% to 1% of the routes), one at a time: IPv6 ${m(f.skewed_lookups6_per_s_230k)}`,
    `  load: IPv6 ${f.load6_230k_s.toFixed(2)} CPU s (${f.lpm6_nodes_230k} LPM nodes, ${f.routes6_dropped_230k} dropped), IPv4 ${f.load4_230k_s.toFixed(2)} CPU s`,
  ];
}
