// `npm run bench -- netbase-capacity`: memory and lookup speed of netbase at 1M routes for two
// mixes, each loaded in a child process of its own (clean memory figures): 1M /24 routes, and 1M
// routes of which 200,000 are /25-/32 each in a /24 block of its own (the case that used to
// overflow the tbl8 groups). Memory: the region's resident pages (RssShmem of the memfd mapping)
// and the whole process (RSS, writer heap included). Target: the mixed table in at most 2x the
// memory of the /24 table, lookups as fast.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { native } from "../shared/native";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseReader, RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { type RouteRecord, RouteType } from "../shared/netmodel";
import type { Bench } from "./types";

const ROUTES = 1_000_000;
const LONG = 200_000;

function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** `ROUTES` routes in distinct /24 blocks of 1.0.0.0-223.255.255.255; the first `long` of them a
 *  /25-/32 inside its block, the others the /24 itself. */
function mix(long: number): RouteRecord[] {
  const next = rng(7);
  const blocks = new Set<number>();
  const out: RouteRecord[] = [];
  while (out.length < ROUTES) {
    const block = 0x010000 + (next() % 0xdf0000);
    if (blocks.has(block)) continue;
    blocks.add(block);
    const len = out.length < long ? 25 + (next() % 8) : 24;
    const host = len === 24 ? 0 : next() & 255 & ~(0xff >>> (len - 24)) & 255;
    out.push({
      table: 254,
      type: RouteType.unicast,
      dst: ((block << 8) | host) >>> 0,
      dstLen: len,
      gateway: 0xc0000201 + (next() & 3),
      oif: 1,
      prefsrc: 0,
      priority: 0,
      scope: 0,
      protocol: 186,
      tos: 0,
    });
  }
  return out;
}

function statusKb(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

/** In the child: load one mix, report memory and lookups per CPU second. */
function child(long: number): Record<string, number> {
  const routes = mix(long);
  const caps = { routes: ROUTES + 16 };
  const size = netbaseRegionSize(caps);
  const addon = native();
  const fd = addon.memfdCreate("tn-netbase-capacity", size);
  const buf = addon.mapFd(fd, 0, true);
  addon.closeFd(fd);
  initNetbase(buf, caps, { alreadyZero: true });
  const shmemBefore = statusKb("RssShmem");
  const rssBefore = statusKb("VmRSS");
  const writer = new NetbaseWriter(buf);
  let dropped = 0;
  for (const r of routes) if (!writer.upsertRoute(r)) dropped++;
  const reader = new NetbaseReader(buf);
  const next = rng(3);
  const dsts = new Uint32Array(1 << 20);
  for (let i = 0; i < dsts.length; i++) {
    const r = routes[next() % routes.length];
    dsts[i] = next() % 10 === 0 ? next() : (r.dst | (next() & (0xffffffff >>> r.dstLen))) >>> 0;
  }
  const out = new RouteResult();
  const rates: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t0 = process.cpuUsage();
    let sum = 0;
    for (let i = 0; i < 4_000_000; i++) if (reader.lookupRoute(dsts[i & (dsts.length - 1)], out)) sum += out.rawIfindex;
    const u = process.cpuUsage(t0);
    rates.push(4_000_000 / ((u.user + u.system) / 1e6) + (sum & 0));
  }
  rates.sort((a, b) => a - b);
  const c = writer.counters();
  return {
    region_resident_mb: (statusKb("RssShmem") - shmemBefore) / 1024,
    process_rss_mb: (statusKb("VmRSS") - rssBefore) / 1024,
    region_virtual_mb: size / 2 ** 20,
    lookups_per_s: rates[2] ?? 0,
    dropped,
    tbl8_groups: c.tbl8_groups_used,
    tbl8_rows: c.tbl8_rows_used,
  };
}

export const netbaseCapacityBench: Bench = async (args) => {
  if (args[0] === "--child") {
    process.stdout.write(`${JSON.stringify(child(Number(args[1])))}\n`);
    return { figures: {}, lines: [] };
  }
  const run = (long: number): Record<string, number> => {
    const out = execFileSync(process.execPath, [process.argv[1] ?? "", "netbase-capacity", "--child", String(long)], {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    });
    return JSON.parse(out.trim().split("\n").pop() ?? "{}") as Record<string, number>;
  };
  const a = run(0);
  const b = run(LONG);
  const figures: Record<string, number> = {};
  for (const [k, v] of Object.entries(a)) figures[`all24_${k}`] = v;
  for (const [k, v] of Object.entries(b)) figures[`mixed_${k}`] = v;
  figures.memory_ratio_region = b.region_resident_mb / a.region_resident_mb;
  figures.memory_ratio_process = b.process_rss_mb / a.process_rss_mb;
  figures.lookup_ratio = b.lookups_per_s / a.lookups_per_s;
  const f = (x: number): string => x.toFixed(1);
  const line = (name: string, m: Record<string, number>): string =>
    `  ${name}: region ${f(m.region_resident_mb)} MB resident (${f(m.region_virtual_mb)} MB mapped), process +${f(m.process_rss_mb)} MB, ${(m.lookups_per_s / 1e6).toFixed(2)}M lookups/CPU s, groups ${m.tbl8_groups}, rows ${m.tbl8_rows}, dropped ${m.dropped}`;
  return {
    figures,
    lines: [
      "netbase at 1M routes, two mixes (each in its own process):",
      line("1M /24              ", a),
      line("800k /24 + 200k /25-/32 in distinct blocks", b),
      `  mixed / all-/24: region memory ${figures.memory_ratio_region.toFixed(2)}x, process memory ${figures.memory_ratio_process.toFixed(2)}x (target <= 2x), lookups ${figures.lookup_ratio.toFixed(2)}x`,
    ],
  };
};
