// `npm run bench -- netstate [--routes=N] [--adds=N]`: the netstate library beside iproute2 in
// one run, in a fresh namespace: dumping N routes (library vs spawning `ip -j route` + JSON.parse,
// target >= 5x), adding M routes (library vs `ip -batch`, target within 1.5x), and monitor events
// absorbed per second while another process (ip -batch) makes the kernel produce them, beside
// the rate it produced them at (target: none lost; lost = produced - seen).
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNetnsSync, deleteNetnsSync, monitor, NetState } from "../shared/netstate";
import type { Bench } from "./types";

const hostRoute = (i: number, base: number): string => `198.${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

function ipBatch(ns: string, lines: string[]): number {
  const file = join(tmpdir(), `tn-bench-netstate-${process.pid}-${randomBytes(3).toString("hex")}`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  try {
    const t0 = performance.now();
    execFileSync("ip", ["-n", ns, "-batch", file], { stdio: "ignore" });
    return performance.now() - t0;
  } finally {
    rmSync(file, { force: true });
  }
}

async function timeMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

interface MonitorFigures {
  produced: number;
  seen: number;
  lost: number;
  resyncs: number;
  producedPerS: number;
  absorbedPerS: number;
}

/** The kernel's events come from another process (`ip -batch`, spawned without blocking this
 *  event loop) while this one absorbs them through monitor(): the baseline is what the kernel
 *  produced (counted afterwards in the table itself), lost = produced - seen, always. */
async function monitorRate(ns: NetState, name: string, count: number): Promise<MonitorFigures> {
  const abort = new AbortController();
  const events = monitor({ netns: name, objects: ["route"], signal: abort.signal });
  let seen = 0;
  let resyncs = 0;
  let lastEventAt = 0;
  const consumer = (async () => {
    for await (const e of events) {
      if (e.kind === "route" && e.route.table === 80 && e.op === "new") {
        seen++;
        lastEventAt = performance.now();
      } else if (e.kind === "resync") resyncs++;
      if (seen >= count) break;
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  const file = join(tmpdir(), `tn-bench-monitor-${process.pid}-${randomBytes(3).toString("hex")}`);
  writeFileSync(
    file,
    `${Array.from({ length: count }, (_, i) => `route add blackhole ${hostRoute(i, 21)}/32 table 80`).join("\n")}\n`,
  );
  const t0 = performance.now();
  const producer = spawn("ip", ["-n", name, "-batch", file], { stdio: "ignore" });
  const producedAt = await new Promise<number>((resolve) => producer.once("exit", () => resolve(performance.now())));
  rmSync(file, { force: true });
  // Whatever is still queued in the socket arrives within this grace period, or never.
  await Promise.race([consumer, new Promise((r) => setTimeout(r, 2000))]);
  abort.abort();
  const produced = (await ns.listRoutes({ family: 4, table: 80 })).length;
  return {
    produced,
    seen,
    lost: produced - seen,
    resyncs,
    producedPerS: Math.round(produced / ((producedAt - t0) / 1000)),
    absorbedPerS: Math.round(seen / (((lastEventAt || producedAt) - t0) / 1000)),
  };
}

export const netstateBench: Bench = async (args) => {
  const routes = Number(args.find((a) => a.startsWith("--routes="))?.slice(9) ?? 100_000);
  const adds = Number(args.find((a) => a.startsWith("--adds="))?.slice(7) ?? 10_000);
  const name = `tn-bench-ns-${process.pid}`;
  createNetnsSync(name);
  const ns = await NetState.open({ netns: name });
  try {
    await ns.setLink("lo", { up: true });
    ipBatch(
      name,
      Array.from({ length: routes }, (_, i) => `route add blackhole ${hostRoute(i, 19)}/32 table 70`),
    );
    const libraryDump: number[] = [];
    const ipDump: number[] = [];
    for (let round = 0; round < 3; round++) {
      libraryDump.push(await timeMs(() => ns.listRoutes({ family: 4, table: 70 })));
      ipDump.push(
        await timeMs(() =>
          JSON.parse(
            execFileSync("ip", ["-n", name, "-j", "route", "show", "table", "70"], {
              encoding: "utf8",
              maxBuffer: 1 << 30,
            }),
          ),
        ),
      );
    }
    const libraryAdd = await timeMs(async () => {
      for (let i = 0; i < adds; i++) await ns.addRoute({ dst: `${hostRoute(i, 23)}/32`, type: "blackhole", table: 71 });
    });
    const batchAdd = ipBatch(
      name,
      Array.from({ length: adds }, (_, i) => `route add blackhole ${hostRoute(i, 23)}/32 table 72`),
    );
    const mon = await monitorRate(ns, name, Math.min(adds, 20_000));
    const figures = {
      routes,
      dump_library_ms: median(libraryDump),
      dump_ip_json_ms: median(ipDump),
      dump_speedup: median(ipDump) / median(libraryDump),
      adds,
      add_library_ms: libraryAdd,
      add_ip_batch_ms: batchAdd,
      add_ratio_to_ip_batch: libraryAdd / batchAdd,
      monitor_events_produced: mon.produced,
      monitor_events_seen: mon.seen,
      monitor_events_lost: mon.lost,
      monitor_resyncs: mon.resyncs,
      monitor_produced_per_s: mon.producedPerS,
      monitor_absorbed_per_s: mon.absorbedPerS,
      monitor_absorbed_ratio: mon.seen / mon.produced,
    };
    const lines = [
      `netstate bench (node ${process.version}), fresh namespace, medians of 3 dumps`,
      `dump ${routes} routes: library ${figures.dump_library_ms.toFixed(0)} ms, ip -j + JSON.parse ${figures.dump_ip_json_ms.toFixed(0)} ms: ${figures.dump_speedup.toFixed(1)}x (target >= 5x)`,
      `add ${adds} routes: library ${libraryAdd.toFixed(0)} ms, ip -batch ${batchAdd.toFixed(0)} ms: ${figures.add_ratio_to_ip_batch.toFixed(2)}x of ip -batch (target <= 1.5x)`,
      `monitor: ip -batch (another process) produced ${mon.produced} route events at ${mon.producedPerS}/s; absorbed ${mon.seen} at ${mon.absorbedPerS}/s: ${(mon.seen / mon.produced).toFixed(3)} of them, ${mon.lost} lost, ${mon.resyncs} resyncs (target: none lost)`,
    ];
    return { figures, lines };
  } finally {
    ns.close();
    deleteNetnsSync(name);
  }
};
