// `npm run bench -- churn`: storms of mixed route and neighbor adds, deletes and replaces at the
// kernel's full rate (`ip -batch`) against the netlink tile's body (in this process, a fresh
// namespace), with a small (16 KiB) and the default (8 MiB) event buffer. Per storm: the time from
// the last change to the first clean verification (a fresh dump equal to netbase), the time a
// resync was pending during the storm and after, and the overruns. Then the design point: a
// storm over 100k routes and 50k neighbors already held. Root only.
import { BodyWorld, type ChurnModel, dotted, macOf, randomBurst, seededRandom } from "./netbase-churn-world";
import type { Bench } from "./types";

const RUNS = 5;
const STORM_OPS = 4000;
const BOUND_MS = 30_000;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

interface StormFigures {
  convergeMs: number[];
  pendingMs: number[];
  overruns: number[];
}

async function storms(world: BodyWorld, runs: number, ops: number, seed: number): Promise<StormFigures> {
  const next = seededRandom(seed);
  const model: ChurnModel = { routes: new Set(), neighs: new Set() };
  const out: StormFigures = { convergeMs: [], pendingMs: [], overruns: [] };
  for (let run = 0; run < runs; run++) {
    const enobufs = world.metric("enobufs");
    world.pendingMs = 0;
    await world.churn(randomBurst(next, ops, world.dev, model));
    const c = await world.converge(BOUND_MS);
    if (c.left.length > 0) throw new Error(`did not converge in ${BOUND_MS} ms: ${c.left.slice(0, 5).join("; ")}`);
    out.convergeMs.push(c.convergedMs);
    out.pendingMs.push(world.pendingMs);
    out.overruns.push(world.metric("enobufs") - enobufs);
  }
  return out;
}

/** 100k /32 routes and 50k neighbors held: the first sync, a forced full resync with nothing
 *  changing (the bound on convergence after the last change: what remains of a failed attempt, the
 *  backoff, one clean attempt), then storms over them. */
async function designPoint(
  rcvbufBytes: number,
): Promise<StormFigures & { startMs: number; resyncMs: number; resyncCpuMs: number }> {
  const preload = [
    ...Array.from({ length: 100_000 }, (_, i) => `route add ${dotted(0x0b000000 + i * 16)}/32 dev $DEV`),
    ...Array.from(
      { length: 50_000 },
      (_, i) => `neigh add ${dotted(0xc6121000 + i)} lladdr ${macOf(i, 9)} dev $DEV nud permanent`,
    ),
  ];
  const world = new BodyWorld("churnbig", { rcvbufBytes, caps: { routes: 200_000, neighbors: 65_536 }, preload });
  try {
    const resyncs: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      world.body.resync.request("bench", t0);
      await world.runFor(1);
      while (world.body.resync.pending) await world.runFor(1);
      const u = process.cpuUsage(c0);
      cpu.push((u.user + u.system) / 1000);
      resyncs.push(performance.now() - t0);
      const c = await world.converge(BOUND_MS);
      if (c.left.length > 0) throw new Error(`forced resync did not converge: ${c.left.slice(0, 3).join("; ")}`);
    }
    return {
      ...(await storms(world, 2, STORM_OPS, 0x51)),
      startMs: world.startMs,
      resyncMs: percentile(resyncs, 50),
      resyncCpuMs: percentile(cpu, 50),
    };
  } finally {
    world.close();
  }
}

export const churnBench: Bench = async () => {
  const figures: Record<string, number> = {};
  const lines = [`netbase churn: storms of ${STORM_OPS} mixed route/neighbor ops at full rate, ${RUNS} runs each`];
  const ms = (x: number): string => `${Math.round(x)} ms`;
  for (const [name, rcvbuf] of [
    ["small", 16 << 10],
    ["default", 8 << 20],
  ] as const) {
    const world = new BodyWorld(`churn${name}`, { rcvbufBytes: rcvbuf });
    try {
      const f = await storms(world, RUNS, STORM_OPS, 0x17);
      figures[`${name}_converge_p50_ms`] = percentile(f.convergeMs, 50);
      figures[`${name}_converge_max_ms`] = Math.max(...f.convergeMs);
      figures[`${name}_pending_p50_ms`] = percentile(f.pendingMs, 50);
      figures[`${name}_pending_max_ms`] = Math.max(...f.pendingMs);
      figures[`${name}_overruns_total`] = f.overruns.reduce((a, b) => a + b, 0);
      figures[`${name}_resync_retries`] = world.metric("resync_retries");
      lines.push(
        `  ${name.padEnd(7)} buffer (${rcvbuf} B): last change -> clean verify p50 ${ms(percentile(f.convergeMs, 50))}, max ${ms(Math.max(...f.convergeMs))}; resync pending p50 ${ms(percentile(f.pendingMs, 50))}, max ${ms(Math.max(...f.pendingMs))}; overruns ${figures[`${name}_overruns_total`]}, retries ${figures[`${name}_resync_retries`]}`,
      );
    } finally {
      world.close();
    }
  }
  for (const [name, rcvbuf] of [
    ["small", 16 << 10],
    ["default", 8 << 20],
  ] as const) {
    const big = await designPoint(rcvbuf);
    const k = `big_${name}`;
    figures[`${k}_first_sync_ms`] = big.startMs;
    figures[`${k}_full_resync_ms`] = big.resyncMs;
    figures[`${k}_full_resync_cpu_ms`] = big.resyncCpuMs;
    figures[`${k}_converge_max_ms`] = Math.max(...big.convergeMs);
    figures[`${k}_pending_max_ms`] = Math.max(...big.pendingMs);
    figures[`${k}_overruns_total`] = big.overruns.reduce((a, b) => a + b, 0);
    lines.push(
      `  100k routes + 50k neighbors held, ${name} buffer: last change -> clean verify max ${ms(figures[`${k}_converge_max_ms`])} (target 1 s); pending max ${ms(figures[`${k}_pending_max_ms`])}; overruns ${figures[`${k}_overruns_total`]}; first sync ${ms(big.startMs)}, a full resync ${ms(big.resyncMs)} (p50 of 3; ${ms(big.resyncCpuMs)} of CPU)`,
    );
  }
  return { figures, lines };
};
