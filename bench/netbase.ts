// `npm run bench -- netbase`: (a) latency from a kernel change to its visibility in netbase
// through a real sandboxed netlink tile (route add, neighbor replace), beside the kernel's own
// acknowledgement round trip; (b) events absorbed per second (a 50k-route burst sent straight to
// the kernel), beside the rate the kernel took them; (c, d) route lookups per second at 1k/100k/1M routes beside
// a linear scan, and the time to load 1M routes (bench/netbase-lookup.ts).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startInstanceProcess, stopInstanceProcess } from "../launcher/lab-process";
import type { Manifest } from "../launcher/manifest";
import { inNetns, native } from "../shared/native";
import { H_SYNC_GENERATION } from "../shared/netbase/layout";
import { NeighborResult, NetbaseReader, RouteResult } from "../shared/netbase/reader";
import { NetlinkClient } from "../shared/netlink/client";
import {
  AF_INET,
  NDA_DST,
  NDA_LLADDR,
  NDMSG_SIZE,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  NUD_PERMANENT,
  RTA_DST,
  RTA_OIF,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTMSG_SIZE,
} from "../shared/netlink/constants";
import { RequestBuilder } from "../shared/netlink/wire";
import { ADAPTIVE_SLICE_US } from "../shared/tile/idle";
import { lookupFigures } from "./netbase-lookup";
import type { Bench } from "./types";

const CLI = join(__dirname, "cli.js");

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

function routeAdd(seq: number, dst: number, oif: number): Uint8Array {
  const b = new RequestBuilder(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq);
  const at = b.struct(RTMSG_SIZE);
  // family, dst_len, src_len, tos, table main, protocol static, scope link, type unicast
  b.u8(at, AF_INET)
    .u8(at + 1, 32)
    .u8(at + 4, 254)
    .u8(at + 5, 4)
    .u8(at + 6, 253)
    .u8(at + 7, 1);
  b.attrIpv4(RTA_DST, dst).attrU32(RTA_OIF, oif);
  return b.finish();
}

function neighReplace(seq: number, ip: number, ifindex: number, mac: Uint8Array): Uint8Array {
  const b = new RequestBuilder(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq);
  const at = b.struct(NDMSG_SIZE);
  b.u8(at, AF_INET)
    .u32(at + 4, ifindex)
    .u16(at + 8, NUD_PERMANENT);
  b.attrIpv4(NDA_DST, ip).attrBytes(NDA_LLADDR, mac);
  return b.finish();
}

interface SyncFigures {
  routeUs: number[];
  neighUs: number[];
  ackUs: number[];
  /** From the kernel's acknowledgement (the change is made) to visibility in netbase. */
  afterAckUs: number[];
  eventsPerS: number;
  producerPerS: number;
  verifyClean: boolean;
}

/** How the bench waits for a change to show: "spin" re-reads netbase in a loop (the fastest
 *  observer, but it holds one of this machine's 2 cores while the netlink tile needs one);
 *  "sleep" sleeps on netbase's generation word (FUTEX_WAIT; the tile wakes it after each batch),
 *  as NetbaseClient.waitForChange does, and asks for the short scheduler slice the tiles use
 *  (ADAPTIVE_SLICE_US): a latency-sensitive reader's own wake-up is then not what is measured. */
type Observer = "spin" | "sleep";

// Longer than 70 lines: one measurement script (a world, kernel changes, timing, verification).
async function measureSync(changes: number, batch: number, observer: Observer): Promise<SyncFigures> {
  const instance = `bn-${randomBytes(3).toString("hex")}`;
  const lab = await startInstanceProcess(CLI, instance, ["--lab"]);
  const addon = native();
  let fd = -1;
  try {
    const manifest = JSON.parse(readFileSync(`/run/tilenet/${instance}/manifest.json`, "utf8")) as Manifest;
    const region = manifest.regions.find((r) => r.kind === "netbase");
    const labInfo = manifest.lab;
    if (!region || !labInfo || !manifest.netnsPath) throw new Error("lab manifest incomplete");
    const own = addon.openPath(`/proc/${manifest.launcherPid}/fd/${region.launcherFd}`, false);
    const mapped = addon.mapFd(own, 0, false);
    const reader = new NetbaseReader(mapped);
    addon.closeFd(own);
    const ifindex = inNetns(manifest.netnsPath, () => addon.ifNameToIndex(labInfo.tileIf));
    fd = inNetns(manifest.netnsPath, () => addon.netlinkOpen(0, 0));
    const client = new NetlinkClient(fd);
    const route = new RouteResult();
    const neigh = new NeighborResult();
    const mac = new Uint8Array([0x02, 0x00, 0x5e, 0, 0, 0]);
    const routeUs: number[] = [];
    const neighUs: number[] = [];
    const ackUs: number[] = [];
    const afterAckUs: number[] = [];
    const words = new Int32Array(mapped, 0, 64);
    if (observer === "sleep") addon.setSchedSlice(ADAPTIVE_SLICE_US);
    const waitFor = (cond: () => boolean): number => {
      const t = performance.now();
      for (;;) {
        const generation = Atomics.load(words, H_SYNC_GENERATION);
        if (cond()) return performance.now();
        if (performance.now() - t > 2000) throw new Error("change not visible in netbase after 2 s");
        if (observer === "sleep") addon.futexWait(words, H_SYNC_GENERATION, generation, 100);
      }
    };
    for (let i = 0; i < changes; i++) {
      // A /32 in 198.19.0.0/16 (benchmarking space), new each time.
      const dst = (0xc6130000 + i + 1) >>> 0;
      const seq = client.nextSeq();
      const t0 = performance.now();
      client.transact(routeAdd(seq, dst, ifindex), seq, "route add");
      const acked = performance.now();
      const seen = waitFor(() => reader.lookupRoute(dst, route) && route.ifindex === ifindex);
      routeUs.push((seen - t0) * 1000);
      ackUs.push((acked - t0) * 1000);
      afterAckUs.push((seen - acked) * 1000);

      const ip = (0xc6120000 + 10 + (i % 200)) >>> 0; // 198.18.0.10 .. 198.18.0.209, on-link
      mac[4] = (i >> 8) & 255;
      mac[5] = i & 255;
      const nseq = client.nextSeq();
      const n0 = performance.now();
      client.transact(neighReplace(nseq, ip, ifindex, mac), nseq, "neighbor replace");
      const nacked = performance.now();
      const nseen = waitFor(
        () => reader.lookupNeighbor(ifindex, ip, neigh) && neigh.mac[4] === mac[4] && neigh.mac[5] === mac[5],
      );
      neighUs.push((nseen - n0) * 1000);
      afterAckUs.push((nseen - nacked) * 1000);
    }

    // Events absorbed: a burst of route additions sent as fast as the kernel takes them (many
    // requests per datagram, no acks), timed until netbase holds them all.
    const routeCount = (): number => {
      const c = reader.counters();
      return c.routes_local + c.routes_main;
    };
    const before = routeCount();
    const perDatagram = 256;
    const t0 = performance.now();
    for (let i = 0; i < batch; i += perDatagram) {
      const parts: Uint8Array[] = [];
      for (let j = i; j < Math.min(batch, i + perDatagram); j++) {
        const dst = (0xc6138000 + j) >>> 0; // 198.19.128.0 and up
        parts.push(routeAdd(client.nextSeq(), dst, ifindex).map((x) => x));
      }
      const total = parts.reduce((n, p) => n + p.length, 0);
      const dgram = new Uint8Array(total);
      let off = 0;
      for (const p of parts) {
        // No NLM_F_ACK: flags sit at byte 6 of the header.
        new DataView(p.buffer, p.byteOffset).setUint16(6, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, true);
        dgram.set(p, off);
        off += p.length;
      }
      addon.netlinkSend(fd, dgram);
    }
    const produced = performance.now();
    const deadline = t0 + 60_000;
    while (routeCount() < before + batch) {
      if (performance.now() > deadline) throw new Error("netbase did not absorb the burst in 60 s");
      await new Promise((r) => setImmediate(r));
    }
    const absorbed = performance.now();
    const verify = execFileSync(process.execPath, [CLI, "netbase", "verify", "--instance", instance], {
      encoding: "utf8",
    });
    return {
      routeUs,
      neighUs,
      ackUs,
      afterAckUs,
      eventsPerS: batch / ((absorbed - t0) / 1000),
      producerPerS: batch / ((produced - t0) / 1000),
      verifyClean: verify.includes("matches"),
    };
  } finally {
    if (fd >= 0) addon.closeFd(fd);
    await stopInstanceProcess(lab);
  }
}

export const netbaseBench: Bench = async (args) => {
  const changes = Number(args.find((a) => a.startsWith("--changes="))?.slice(10) ?? 300);
  const batch = Number(args.find((a) => a.startsWith("--batch="))?.slice(8) ?? 50_000);
  const sync = await measureSync(changes, batch, "spin");
  const sleeping = await measureSync(changes, 0, "sleep");
  const allSleeping = [...sleeping.routeUs, ...sleeping.neighUs];
  // --sync-only: the kernel change -> netbase figures alone (the lookup figures load 1M routes).
  const lookups = args.includes("--sync-only") ? {} : await lookupFigures();
  const all = [...sync.routeUs, ...sync.neighUs];
  const figures: Record<string, number> = {
    sync_p50_us: percentile(all, 50),
    sync_p99_us: percentile(all, 99),
    route_sync_p50_us: percentile(sync.routeUs, 50),
    route_sync_p99_us: percentile(sync.routeUs, 99),
    neigh_sync_p50_us: percentile(sync.neighUs, 50),
    neigh_sync_p99_us: percentile(sync.neighUs, 99),
    kernel_ack_p50_us: percentile(sync.ackUs, 50),
    after_ack_p50_us: percentile(sync.afterAckUs, 50),
    after_ack_p99_us: percentile(sync.afterAckUs, 99),
    sleeping_sync_p50_us: percentile(allSleeping, 50),
    sleeping_sync_p99_us: percentile(allSleeping, 99),
    sleeping_kernel_ack_p50_us: percentile(sleeping.ackUs, 50),
    sleeping_after_ack_p99_us: percentile(sleeping.afterAckUs, 99),
    events_per_s: sync.eventsPerS,
    kernel_produced_events_per_s: sync.producerPerS,
    burst_verify_clean: sync.verifyClean ? 1 : 0,
    ...lookups,
  };
  const m = (k: string): string => (figures[k] ?? Number.NaN).toFixed(0);
  const lookupLines = args.includes("--sync-only")
    ? []
    : [
        `lookups/s: 1k ${m("lookups_per_s_1k")} (linear ${m("linear_lookups_per_s_1k")}), 100k ${m("lookups_per_s_100k")} (linear ${m("linear_lookups_per_s_100k")}), 1M ${m("lookups_per_s_1m")} (linear ${m("linear_lookups_per_s_1m")}); target 20M/s at 1M`,
        `1M routes loaded in ${(figures.load_1m_s ?? Number.NaN).toFixed(2)} s (target 10 s)`,
      ];
  return {
    figures,
    lines: [
      `kernel change -> netbase: p50 ${m("sync_p50_us")} us, p99 ${m("sync_p99_us")} us (targets 200 us / 2 ms); routes p50 ${m("route_sync_p50_us")} us, neighbors p50 ${m("neigh_sync_p50_us")} us; the kernel's own ack round trip p50 ${m("kernel_ack_p50_us")} us; from the ack to netbase p50 ${m("after_ack_p50_us")} us, p99 ${m("after_ack_p99_us")} us`,
      `the same with a sleeping observer (futex on the generation word, as NetbaseClient.waitForChange, with the tiles' short slice): p50 ${m("sleeping_sync_p50_us")} us, p99 ${m("sleeping_sync_p99_us")} us; kernel ack p50 ${m("sleeping_kernel_ack_p50_us")} us; from the ack to netbase p99 ${m("sleeping_after_ack_p99_us")} us`,
      `events absorbed: ${m("events_per_s")}/s for a ${batch}-route burst (target 100k/s); the kernel took the requests at ${m("kernel_produced_events_per_s")}/s; verify after: ${sync.verifyClean ? "clean" : "DIFFERENCES"}`,
      ...lookupLines,
    ],
  };
};
