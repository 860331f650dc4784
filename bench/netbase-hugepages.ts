// `npm run bench -- netbase-hugepages`: the same regions on 2 MiB huge pages and on 4 KiB pages,
// in one run. (1) Route lookups at 1M routes: netbase is loaded once, then copied byte for byte
// into a second region, so both readers see the same tables; runs alternate (normal, huge, ...)
// so machine noise hits both alike. (2) Ring throughput: producer and consumer in one thread over
// a ring of 2 KiB slots (a UDP-payload ring: 32 MiB of slots), writing and reading 256 bytes per
// message. Rates are per CPU second of this process (the machine is shared).
// Huge pages come from the vm.nr_hugepages pool: as root the bench reserves what it needs and
// restores the old value at the end; without them it reports the normal-page figures only.
import { readFileSync, writeFileSync } from "node:fs";
import { HUGE_PAGE_BYTES, roundUpToHugePage } from "../launcher/huge-pages";
import { native } from "../shared/native";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseReader, RouteBatch, RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { RingConsumer } from "../shared/ring/consumer";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { RingProducer } from "../shared/ring/producer";
import { batchLoop, destinations, lookupLoop, rate, realisticRoutes } from "./netbase-lookup";
import type { Bench } from "./types";

const ROUTES = 1_000_000;
const LOOKUPS_PER_RUN = 4_000_000;
const RING_SPEC: RingSpec = { kind: "reliable", depth: 16384, slotSize: 2048 };
const RING_MESSAGES_PER_RUN = 2_000_000;
const PAYLOAD_F64 = 32; // 256 bytes
const REPS = 5;
const NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages";

/** A shared mapping of a fresh memfd, on huge pages or not (the fd is closed: the mapping stays). */
function region(name: string, size: number, huge: boolean): ArrayBuffer {
  const addon = native();
  const bytes = huge ? roundUpToHugePage(size) : size;
  const fd = addon.memfdCreate(`tilenet-bench-${name}`, bytes, huge);
  try {
    return addon.mapFd(fd, bytes, true);
  } finally {
    addon.closeFd(fd);
  }
}

/** Adds `pages` to the pool as root; returns the value to restore, or undefined when it failed. */
function reserveHugePages(pages: number): string | undefined {
  try {
    const old = readFileSync(NR_HUGEPAGES, "utf8").trim();
    writeFileSync(NR_HUGEPAGES, String(Number(old) + pages));
    const free = Number(/^HugePages_Free:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
    if (free >= pages) return old;
    writeFileSync(NR_HUGEPAGES, old);
  } catch {
    // not root, or no hugetlb support
  }
  return undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? 0;
}

/** Lookups/s at 1M routes on each page size, runs interleaved. */
function lookupFigures(huge: boolean): Record<string, number> {
  const routes = realisticRoutes(ROUTES);
  const caps = { routes: ROUTES + 16 };
  const size = netbaseRegionSize(caps);
  const normal = region("netbase-4k", size, false);
  initNetbase(normal, caps);
  const writer = new NetbaseWriter(normal);
  for (const r of routes) writer.upsertRoute(r);
  const readers: [string, NetbaseReader][] = [["4k", new NetbaseReader(normal)]];
  if (huge) {
    const hugeBuf = region("netbase-2m", size, true);
    new Uint8Array(hugeBuf, 0, size).set(new Uint8Array(normal, 0, size));
    readers.push(["2m", new NetbaseReader(hugeBuf)]);
  }
  const dsts = destinations(routes, 1 << 20);
  const out = new RouteResult();
  const batch = new RouteBatch(64);
  const rates = new Map<string, number[]>();
  const add = (key: string, x: number): void => {
    rates.set(key, [...(rates.get(key) ?? []), x]);
  };
  for (let rep = 0; rep < REPS; rep++)
    for (const [k, reader] of readers) {
      add(
        `lookups_per_s_1m_${k}`,
        rate((n) => lookupLoop(reader, dsts, n, out), LOOKUPS_PER_RUN, 1),
      );
      add(
        `batch_lookups_per_s_1m_${k}`,
        rate((n) => batchLoop(reader, dsts, n, batch), LOOKUPS_PER_RUN, 1),
      );
    }
  const figures: Record<string, number> = { netbase_region_bytes: size };
  for (const [key, xs] of rates) figures[key] = median(xs);
  return figures;
}

/** One thread producing and consuming: messages per CPU second through a ring on the given pages. */
function ringRate(huge: boolean): number {
  const sizes = ringRegionSizes(RING_SPEC);
  const producerBuf = region("ring-p", sizes.producerBytes, huge);
  const consumerBuf = region("ring-c", sizes.consumerBytes, false); // small: credits and flags
  initRingRegions(producerBuf, consumerBuf, RING_SPEC);
  const p = new RingProducer("bench", producerBuf, consumerBuf);
  const c = new RingConsumer("bench", producerBuf, consumerBuf, undefined, { maxBatch: 32 });
  let sum = 0;
  const onMessage = (off: number): void => {
    const base = off >> 3;
    for (let i = 0; i < PAYLOAD_F64; i += 8) sum += c.f64[base + i] ?? 0;
  };
  return rate(
    (n) => {
      for (let sent = 0; sent < n; ) {
        const k = p.claimBatch(32);
        for (let i = 0; i < k; i++) p.f64.fill(sent + i, p.slotOffset(i) >> 3, (p.slotOffset(i) >> 3) + PAYLOAD_F64);
        p.publish();
        c.poll(32, onMessage);
        sent += k;
      }
      return sum;
    },
    RING_MESSAGES_PER_RUN,
    REPS,
  );
}

export const netbaseHugePagesBench: Bench = async () => {
  const need = Math.ceil(netbaseRegionSize({ routes: ROUTES + 16 }) / HUGE_PAGE_BYTES) + 24;
  const restore = reserveHugePages(need);
  const huge = restore !== undefined;
  try {
    const f = lookupFigures(huge);
    f.ring_msgs_per_s_4k = ringRate(false);
    if (huge) f.ring_msgs_per_s_2m = ringRate(true);
    f.huge_pages = huge ? 1 : 0;
    const m = (x: number | undefined): string => (x === undefined ? "-" : `${(x / 1e6).toFixed(2)}M/s`);
    const lines = [
      `netbase and rings on 2 MiB huge pages vs 4 KiB pages, same run${huge ? "" : " (NO huge pages: not root, or the pool could not grow)"}:`,
      `  route lookups, 1M routes (${(f.netbase_region_bytes / 2 ** 20).toFixed(0)} MiB region): 4 KiB ${m(f.lookups_per_s_1m_4k)}  2 MiB ${m(f.lookups_per_s_1m_2m)}  (target >= 20M/s)`,
      `  batched (lookupRoutes, 64): 4 KiB ${m(f.batch_lookups_per_s_1m_4k)}  2 MiB ${m(f.batch_lookups_per_s_1m_2m)}`,
      `  ring, 2 KiB slots, 256 B messages, one thread: 4 KiB ${m(f.ring_msgs_per_s_4k)}  2 MiB ${m(f.ring_msgs_per_s_2m)}`,
      "  rates per CPU second, medians of 5 runs",
    ];
    return { figures: f, lines };
  } finally {
    if (restore !== undefined) writeFileSync(NR_HUGEPAGES, restore);
  }
};
