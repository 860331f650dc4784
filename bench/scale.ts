// `npm run bench -- scale`: echo pps and CPU per echo through `tilenet run --lab` with one net tile
// and with two ([net] queues = 1 and 2 on a lab veth of as many queues; [[app]] replicas = the
// same count, so the app side scales with the data plane). Load: `flows` copies of the C load
// generator (bench/c/echo_load.c) in the peer namespace at once, each its own socket (one flow:
// the veth spreads flows over queues by hash), each keeping window / flows datagrams in flight.
// The two shapes alternate per run; figures are medians. CPU per echo is the tiles' CPU time
// (every thread, /proc schedstat) over the run divided by the echoes; `cores busy` adds the load
// generators' own CPU, which on a 2-core machine is what bounds the ratio. Everything the run
// makes is removed at the end, also on failure.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { allRunning, findRoot, startLab } from "./lab-instance";
import type { Bench } from "./types";

interface Options {
  seconds: number;
  runs: number;
  window: number;
  flows: number;
}

interface Lab {
  peerNs: string;
  tileIp: string;
  tilePids: number[];
  netTiles: number;
}

interface Sample {
  pps: number;
  tileCpuNsPerEcho: number;
  coresBusy: number;
}

const ECHO_PORT = 7000;
/** [net tiles, replicas]: one of each; two net tiles feeding one replica; two of each. */
const SHAPES = [
  [1, 1],
  [2, 1],
  [2, 2],
] as const;
type Shape = (typeof SHAPES)[number];
const shapeKey = ([n, r]: Shape): string => `${n}n${r}r`;
const run = promisify(execFile);

function parseOptions(args: string[]): Options {
  const o: Options = { seconds: 3, runs: 3, window: 256, flows: 8 };
  for (let i = 0; i < args.length; i += 2) {
    const key = (args[i] ?? "").replace(/^--/, "") as keyof Options;
    const v = Number(args[i + 1]);
    if (!(key in o) || !Number.isInteger(v) || v < 1 || v > 4096)
      throw new Error(`scale bench: options --seconds N --runs N --window N --flows N (got ${args[i]} ${args[i + 1]})`);
    o[key] = v;
  }
  if (o.seconds > 30 || o.runs > 10 || o.flows > 32 || o.window < o.flows)
    throw new Error("scale bench: at most 30 seconds, 10 runs, 32 flows, and a window of at least one per flow");
  return o;
}

interface StatusJson {
  lab?: { peerNetns: string; tileAddr: string };
  tiles: { name: string; kind: string; state: string; pid: number }[];
}

/** A lab with `netTiles` net tiles and `replicas` echo replicas; resolves once every tile runs. */
async function startShape(
  cli: string,
  dir: string,
  [netTiles, replicas]: Shape,
  budgetS: number,
  cleanups: (() => Promise<void>)[],
): Promise<Lab> {
  const config = join(dir, `scale-${netTiles}-${replicas}.toml`);
  writeFileSync(
    config,
    `[net]\nprovider = "xdp"\nqueues = ${netTiles}\n[[app]]\nname = "echo"\nports = [${ECHO_PORT}]\nreplicas = ${replicas}\n`,
  );
  const instance = `benchsc${netTiles}${replicas}${process.pid}`.slice(0, 24);
  return startLab(cli, instance, ["--config", config], budgetS, cleanups, (s: StatusJson) => {
    if (!s.lab || !allRunning(s)) return undefined;
    const nets = s.tiles.filter((t) => t.kind === "net").length;
    if (nets !== netTiles) throw new Error(`scale bench: the lab runs ${nets} net tiles, not ${netTiles}`);
    const tileIp = s.lab.tileAddr.split("/")[0] ?? "";
    return { peerNs: s.lab.peerNetns, tileIp, tilePids: s.tiles.map((t) => t.pid), netTiles };
  });
}

/** CPU time (ns) of the processes so far, every thread (/proc/PID/task/TID/schedstat). */
function cpuNs(pids: readonly number[]): number {
  let ns = 0;
  for (const pid of pids) {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`))
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // exited
    }
  }
  return ns;
}

/** All machine CPU time so far (ns), from /proc/stat's first line (user..steal, in USER_HZ). */
function machineBusyNs(): number {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy * 1e7; // USER_HZ 100
}

/** `flows` load generators at once; the summed pps and the CPU the tiles and the machine used. */
async function measure(load: string, lab: Lab, o: Options, seconds: number): Promise<Sample> {
  const window = Math.max(1, Math.floor(o.window / o.flows));
  const argv = (): string[] => [
    "netns",
    "exec",
    lab.peerNs,
    load,
    lab.tileIp,
    String(ECHO_PORT),
    String(seconds),
    "0.5",
    "20000000",
    "64",
    String(window),
    "32",
  ];
  const tiles0 = cpuNs(lab.tilePids);
  const machine0 = machineBusyNs();
  const started = process.hrtime.bigint();
  const outs = await Promise.all(
    Array.from({ length: o.flows }, () => run("ip", argv(), { encoding: "utf8", timeout: (seconds + 10) * 1000 })),
  );
  const wallNs = Number(process.hrtime.bigint() - started);
  const results = outs.map(
    (r) => JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { pps: number; received: number; bad: number },
  );
  if (results.some((r) => r.bad > 0)) throw new Error("scale bench: echoes that did not match what was sent");
  const echoes = results.reduce((n, r) => n + r.received, 0);
  return {
    pps: results.reduce((n, r) => n + r.pps, 0),
    tileCpuNsPerEcho: echoes > 0 ? (cpuNs(lab.tilePids) - tiles0) / echoes : Number.NaN,
    coresBusy: (machineBusyNs() - machine0) / wallNs,
  };
}

export const scaleBench: Bench = async (args) => {
  const o = parseOptions(args);
  if (process.getuid?.() !== 0) throw new Error("scale bench: must run as root (namespaces, XDP)");
  const root = findRoot("scale");
  const cli = join(root, "dist", "cli.js");
  const cleanups: (() => Promise<void>)[] = [];
  const samples = new Map<string, Sample[]>(SHAPES.map((s) => [shapeKey(s), []]));
  try {
    const dir = mkdtempSync(join(tmpdir(), "tn-bench-scale-"));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const load = join(dir, "echo_load");
    execFileSync("cc", ["-O2", "-o", load, join(root, "bench", "c", "echo_load.c")], { stdio: "inherit" });
    const labs = new Map<string, Lab>();
    const budgetS = o.runs * SHAPES.length * (o.seconds + 4) + 120;
    for (const s of SHAPES) labs.set(shapeKey(s), await startShape(cli, dir, s, budgetS, cleanups));
    for (const lab of labs.values()) await measure(load, lab, { ...o, flows: Math.min(o.flows, 4) }, 1); // neighbors, JIT
    for (let r = 0; r < o.runs; r++) {
      for (const s of r % 2 === 0 ? SHAPES : [...SHAPES].reverse()) {
        const lab = labs.get(shapeKey(s));
        if (lab) samples.get(shapeKey(s))?.push(await measure(load, lab, o, o.seconds));
      }
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
  return report(o, samples);
};

function report(o: Options, samples: Map<string, Sample[]>): { figures: Record<string, number>; lines: string[] } {
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
  const of = (s: Shape, k: keyof Sample) => median((samples.get(shapeKey(s)) ?? []).map((x) => x[k]));
  const best2 = Math.max(of([2, 1], "pps"), of([2, 2], "pps"));
  const ratio = best2 / of([1, 1], "pps");
  const figures: Record<string, number> = { two_over_one_pps: ratio };
  const lines = [
    `echo through the lab, ${o.flows} flows, window ${o.window}, ${o.seconds} s x ${o.runs} runs (medians):`,
  ];
  for (const s of SHAPES) {
    const k = shapeKey(s);
    figures[`net_tiles_${s[0]}_replicas_${s[1]}_pps`] = of(s, "pps");
    figures[`net_tiles_${s[0]}_replicas_${s[1]}_tile_cpu_ns_per_echo`] = of(s, "tileCpuNsPerEcho");
    figures[`net_tiles_${s[0]}_replicas_${s[1]}_cores_busy`] = of(s, "coresBusy");
    lines.push(
      `  ${s[0]} net tile(s), ${s[1]} replica(s): ${Math.round(of(s, "pps"))} pps, ${Math.round(of(s, "tileCpuNsPerEcho"))} ns of tile CPU per echo, ` +
        `${of(s, "coresBusy").toFixed(2)} cores busy (runs: ${(samples.get(k) ?? []).map((x) => Math.round(x.pps)).join(", ")})`,
    );
  }
  lines.push(
    `  2 / 1 net tiles (the better 2-tile shape): ${ratio.toFixed(2)}x (target 1.7x where the load generator is not the bound)`,
  );
  return { figures, lines };
}
