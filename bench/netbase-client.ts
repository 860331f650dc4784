// `npm run bench -- netbase-client [--lookups=N] [--wakes=N]`: netbase from a separate, non-root
// process (uid 65534 in the instance's [netbase] readers_group) beside the in-process reader, in one
// run against a real lab instance: route lookups per second in each and their ratio; and the wake
// latency, from just before a route change is sent to the kernel (the library, in the tile
// namespace) to the moment the other process's waitForChange returns (CLOCK_MONOTONIC in both),
// p50/p99, beside the kernel's own acknowledgement of the change.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startInstanceProcess, stopInstanceProcess } from "../launcher/lab-process";
import { NetbaseClient, NetState } from "../shared/netstate";
import type { Bench } from "./types";

const CLI = join(__dirname, "cli.js");
const LIBRARY = join(__dirname, "netstate.js");
const NOBODY = 65534;

// The separate process: lookups/s (median of 5 rounds), then one "ready"/"woke" pair per change.
const CHILD = `
const { NetbaseClient } = require(process.argv[1]);
const lookups = Number(process.argv[3]);
const wakes = Number(process.argv[4]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const nb = NetbaseClient.open(process.argv[2]);
const rates = [];
for (let round = 0; round < 5; round++) {
  const t0 = performance.now();
  for (let i = 0; i < lookups; i++) nb.lookupRoute("198.18.0.2");
  rates.push(lookups / ((performance.now() - t0) / 1000));
}
rates.sort((a, b) => a - b);
out({ lookupsPerS: rates[2] });
(async () => {
  for (let i = 0; i < wakes; i++) {
    const since = nb.generation();
    out({ ready: since });
    const g = await nb.waitForChange(since, 5000);
    out({ woke: String(process.hrtime.bigint()), changed: g !== undefined });
  }
})();
`;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

function inProcessRate(client: NetbaseClient, lookups: number): number {
  const rates: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let i = 0; i < lookups; i++) client.lookupRoute("198.18.0.2");
    rates.push(lookups / ((performance.now() - t0) / 1000));
  }
  return percentile(rates, 50);
}

/** Lines of JSON from a child's stdout, awaited one at a time. */
class LineQueue {
  private readonly lines: Record<string, unknown>[] = [];
  private waiter: (() => void) | undefined;
  private partial = "";
  push(chunk: Buffer): void {
    this.partial += chunk.toString();
    const parts = this.partial.split("\n");
    this.partial = parts.pop() ?? "";
    for (const l of parts) if (l.startsWith("{")) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    this.waiter?.();
  }
  async next(timeoutMs: number): Promise<Record<string, unknown>> {
    const end = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (Date.now() > end) throw new Error("netbase-client bench: the reader process went silent");
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 100);
      });
    }
    return this.lines.shift() as Record<string, unknown>;
  }
}

interface WakeFigures {
  fromSendUs: number[];
  fromAckUs: number[];
  ackUs: number[];
  missed: number;
}

async function measureWakes(instance: string, queue: LineQueue, wakes: number): Promise<WakeFigures> {
  const f: WakeFigures = { fromSendUs: [], fromAckUs: [], ackUs: [], missed: 0 };
  const ns = await NetState.open({ netns: `tn-${instance}-tile` });
  try {
    for (let i = 0; i < wakes; i++) {
      await queue.next(5000); // ready
      await new Promise((r) => setTimeout(r, 2)); // let it fall asleep on the futex
      const sent = process.hrtime.bigint();
      await ns.addRoute({ dst: `198.19.${i >> 8}.${i & 255}/32`, gateway: "198.18.0.2" });
      const acked = process.hrtime.bigint();
      const woke = await queue.next(5000);
      if (woke.changed !== true) f.missed++;
      const at = BigInt(String(woke.woke));
      f.fromSendUs.push(Number(at - sent) / 1000);
      f.fromAckUs.push(Number(at - acked) / 1000);
      f.ackUs.push(Number(acked - sent) / 1000);
    }
  } finally {
    ns.close();
  }
  return f;
}

export const netbaseClientBench: Bench = async (args) => {
  const lookups = Number(args.find((a) => a.startsWith("--lookups="))?.slice(10) ?? 200_000);
  const wakes = Number(args.find((a) => a.startsWith("--wakes="))?.slice(8) ?? 200);
  const instance = `bc-${randomBytes(3).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "tn-bench-nbc-"));
  const config = join(dir, "tilenet.toml");
  writeFileSync(config, `[netbase]\nreaders_group = "nogroup"\n`);
  const inst = await startInstanceProcess(CLI, instance, ["--lab", "--config", config]);
  const child = spawn(process.execPath, ["-e", CHILD, LIBRARY, instance, String(lookups), String(wakes)], {
    uid: NOBODY,
    gid: NOBODY,
    cwd: "/",
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const queue = new LineQueue();
    child.stdout?.on("data", (c: Buffer) => queue.push(c));
    // One after the other (the child's loop first), not competing for the cores.
    const other = Number((await queue.next(60_000)).lookupsPerS);
    const own = inProcessRate(NetbaseClient.open(instance), lookups);
    const w = await measureWakes(instance, queue, wakes);
    const figures = {
      lookups_per_s_other_process: Math.round(other),
      lookups_per_s_in_process: Math.round(own),
      lookups_ratio_other_to_in_process: other / own,
      wake_from_send_p50_us: percentile(w.fromSendUs, 50),
      wake_from_send_p99_us: percentile(w.fromSendUs, 99),
      wake_from_ack_p50_us: percentile(w.fromAckUs, 50),
      wake_from_ack_p99_us: percentile(w.fromAckUs, 99),
      kernel_ack_p50_us: percentile(w.ackUs, 50),
      wakes: wakes,
      wakes_missed: w.missed,
    };
    const us = (x: number): string => `${x.toFixed(0)} µs`;
    const lines = [
      `netbase-client bench: lab instance ${instance}, reader uid ${NOBODY} in readers_group nogroup`,
      `route lookups: ${figures.lookups_per_s_other_process}/s from the separate process, ${figures.lookups_per_s_in_process}/s in-process: ratio ${figures.lookups_ratio_other_to_in_process.toFixed(2)} (medians of 5 x ${lookups})`,
      `wake (route change sent -> waitForChange returns in the other process), ${wakes} changes: p50 ${us(figures.wake_from_send_p50_us)}, p99 ${us(figures.wake_from_send_p99_us)}`,
      `  of which after the kernel's ack: p50 ${us(figures.wake_from_ack_p50_us)}, p99 ${us(figures.wake_from_ack_p99_us)}; the ack itself p50 ${us(figures.kernel_ack_p50_us)}; ${w.missed} waits timed out`,
    ];
    return { figures, lines };
  } finally {
    child.kill();
    await stopInstanceProcess(inst);
    rmSync(dir, { recursive: true, force: true });
  }
};
