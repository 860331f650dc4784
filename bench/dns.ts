// `npm run bench -- dns [--json]`: an authoritative DNS server under a real load generator, in one
// run and one lab: dnsperf (Debian's dnsperf) in the peer namespace against
//   tilenet  the built-in DNS app (`tilenet run --lab`, builtin:dns on port 53),
//   dgram    the same responder code on a Node dgram socket in the tile namespace (port 5300),
//   nsd      NSD (Debian's nsd, one server process, rrl-ratelimit 0) in the tile namespace (5301),
// all serving examples/dns/example.test.zone to the same query mix. Per server: a throughput
// phase (dnsperf at full speed: queries/s, CPU per query from /proc of the server's processes, the
// machine's busy share), then a latency phase at a fixed rate with per-query latencies (p50, p99,
// p99.9). Every load is bounded in seconds (-l) and queries per second (-Q); nothing leaves the
// two namespaces the lab made, and everything started here is stopped, also on failure.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startInstanceProcess, stopInstanceProcess } from "../launcher/lab-process";
import type { Bench } from "./types";

type ServerName = "tilenet" | "dgram" | "nsd";
const SERVERS: readonly ServerName[] = ["tilenet", "dgram", "nsd"];
const PORTS: Record<ServerName, number> = { tilenet: 53, dgram: 5300, nsd: 5301 };
const TARGET_OVER_DGRAM = 3;
const TARGET_OVER_NSD = 0.8;
const ORIGIN = "example.test.";
/** The query mix: answers, CNAME chains, NXDOMAIN, NODATA, case variants. */
const QUERIES = [
  "www.example.test A",
  "www.example.test AAAA",
  "example.test MX",
  "example.test NS",
  "example.test SOA",
  "txt.example.test TXT",
  "alias2.example.test A",
  "mail.example.test A",
  "nope.example.test A",
  "www.example.test MX",
  "WWW.Example.Test A",
  "ns2.example.test A",
];

interface Options {
  seconds: number;
  warmupSeconds: number;
  latencySeconds: number;
  latencyQps: number;
  maxQps: number;
  clients: number;
  outstanding: number;
  servers: ServerName[];
  runs: number;
}

function parseOptions(args: string[]): Options {
  const o: Options = {
    seconds: 3,
    warmupSeconds: 1,
    latencySeconds: 2,
    latencyQps: 5000,
    maxQps: 1_000_000,
    clients: 8,
    outstanding: 1000,
    servers: [...SERVERS],
    runs: 3,
  };
  const bounds: Record<string, [keyof Options, number, number]> = {
    "--seconds": ["seconds", 1, 60],
    "--warmup-seconds": ["warmupSeconds", 0, 10],
    "--latency-seconds": ["latencySeconds", 1, 30],
    "--latency-qps": ["latencyQps", 100, 100_000],
    "--max-qps": ["maxQps", 1000, 10_000_000],
    "--clients": ["clients", 1, 64],
    "--outstanding": ["outstanding", 1, 10_000],
    "--runs": ["runs", 1, 9],
  };
  for (let i = 0; i < args.length; i += 2) {
    const [key = "", v] = [args[i], args[i + 1]];
    const b = bounds[key];
    if (key === "--servers") {
      const list = (v ?? "").split(",");
      if (!list.every((s): s is ServerName => (SERVERS as readonly string[]).includes(s)))
        throw new Error(`dns bench: --servers takes a list of ${SERVERS.join(",")}`);
      o.servers = list;
    } else if (b) {
      const n = Number(v);
      if (!Number.isFinite(n) || n < b[1] || n > b[2]) throw new Error(`dns bench: ${key} needs ${b[1]}..${b[2]}`);
      (o as unknown as Record<string, number>)[b[0]] = n;
    } else
      throw new Error(
        `dns bench: unknown option ${key} (${Object.keys(bounds).join(" ")} --servers ${SERVERS.join(",")})`,
      );
  }
  return o;
}

/** The load generator and NSD are Debian packages: say which to install rather than guess. */
function requireTools(servers: ServerName[]): void {
  const missing: string[] = [];
  const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).status === 0;
  if (!has("dnsperf")) missing.push("dnsperf");
  if (servers.includes("nsd") && !has("nsd")) missing.push("nsd");
  if (process.getuid?.() !== 0) throw new Error("dns bench: needs root (it builds the lab's namespaces)");
  if (missing.length > 0)
    throw new Error(
      `dns bench: missing ${missing.join(" and ")}: apt-get install -y --no-install-recommends ${missing.join(" ")} (Debian packages)`,
    );
}

/** Clock ticks of user + system time of a process and all its descendants. */
function cpuTicks(root: number): number {
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const pid = Number(entry);
      const ppid = Number(fields[1]);
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // the process ended while /proc was read
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    total += ticks.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const cpu = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

const TICK_S = 0.01; // USER_HZ is 100 on Linux

interface Perf {
  qps: number;
  completedPct: number;
  avgLatencyUs: number;
  cpuUsPerQuery: number;
  serverCpuPct: number;
  machineBusyPct: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
}

interface Target {
  name: ServerName;
  port: number;
  /** Processes whose CPU is the server's (a process tree each). */
  pids: number[];
}

function dnsperf(peerNs: string, port: number, queryFile: string, args: string[]): string {
  const r = spawnSync(
    "ip",
    ["netns", "exec", peerNs, "dnsperf", "-s", "198.18.0.1", "-p", String(port), "-d", queryFile, ...args],
    { encoding: "utf8", maxBuffer: 256 << 20, timeout: 120_000 },
  );
  if (r.status !== 0) throw new Error(`dnsperf failed (${r.status}): ${r.stderr.slice(-400)}`);
  return r.stdout;
}

function measure(peerNs: string, t: Target, queryFile: string, o: Options): Perf {
  const bounds = ["-c", String(o.clients), "-q", String(o.outstanding), "-t", "2"];
  if (o.warmupSeconds > 0)
    dnsperf(peerNs, t.port, queryFile, [...bounds, "-l", String(o.warmupSeconds), "-Q", "50000"]);
  const cpu0 = t.pids.reduce((s, p) => s + cpuTicks(p), 0);
  const m0 = machineTicks();
  const out = dnsperf(peerNs, t.port, queryFile, [...bounds, "-l", String(o.seconds), "-Q", String(o.maxQps)]);
  const cpu1 = t.pids.reduce((s, p) => s + cpuTicks(p), 0);
  const m1 = machineTicks();
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? Number.NaN);
  const qps = num(/Queries per second:\s+([\d.]+)/);
  const completed = num(/Queries completed:\s+(\d+)/);
  const runS = num(/Run time \(s\):\s+([\d.]+)/);
  const latency = dnsperf(peerNs, t.port, queryFile, [
    ...bounds,
    "-l",
    String(o.latencySeconds),
    "-Q",
    String(o.latencyQps),
    "-v",
  ]);
  const samples = [...latency.matchAll(/^> \S+ .* ([\d.]+)$/gm)].map((m) => Number(m[1]) * 1e6).sort((a, b) => a - b);
  const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))] ?? Number.NaN;
  const cpuS = (cpu1 - cpu0) * TICK_S;
  return {
    qps,
    completedPct: num(/Queries completed:\s+\d+ \(([\d.]+)%\)/),
    avgLatencyUs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1e6,
    cpuUsPerQuery: completed > 0 ? (cpuS / completed) * 1e6 : Number.NaN,
    serverCpuPct: (cpuS / runS) * 100,
    machineBusyPct: ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * 100,
    p50Us: pct(0.5),
    p99Us: pct(0.99),
    p999Us: pct(0.999),
  };
}

/** Starts a process in a namespace and waits for a line matching `ready` on its output. */
async function startIn(ns: string, cmd: string[], ready: RegExp, what: string): Promise<ChildProcess> {
  const child = spawn("ip", ["netns", "exec", ns, ...cmd], { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready in 10 s: ${text.slice(-400)}`)), 10_000);
    const onData = (c: Buffer) => {
      text += c.toString();
      if (ready.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}): ${text.slice(-400)}`));
    });
  });
  return child;
}

function nsdConfig(dir: string, zone: string): string {
  const conf = join(dir, "nsd.conf");
  writeFileSync(
    conf,
    [
      "server:",
      `  ip-address: 198.18.0.1@${PORTS.nsd}`,
      "  server-count: 1",
      '  username: ""',
      `  zonesdir: "${dir}"`,
      '  database: ""',
      `  pidfile: "${join(dir, "nsd.pid")}"`,
      `  xfrdfile: "${join(dir, "xfrd.state")}"`,
      `  zonelistfile: "${join(dir, "zone.list")}"`,
      "  rrl-ratelimit: 0", // response rate limiting off: a benchmark sends from one /24
      "  verbosity: 2",
      "remote-control:",
      "  control-enable: no",
      "zone:",
      "  name: example.test",
      `  zonefile: "${zone}"`,
      "",
    ].join("\n"),
  );
  return conf;
}

interface Lab {
  tileNs: string;
  peerNs: string;
  tilePids: number[];
}

function labOf(cli: string, instance: string): Lab {
  const s = JSON.parse(
    execFileSync(process.execPath, [cli, "status", "--instance", instance, "--json"], { encoding: "utf8" }),
  ) as { tiles: { kind: string; pid: number }[]; lab?: { tileNetns: string; peerNetns: string } };
  if (!s.lab) throw new Error("dns bench: the instance reports no lab");
  // The server's CPU: the net tile and the DNS app tile (the netlink tile idles).
  const tilePids = s.tiles.filter((t) => t.kind === "net" || t.kind === "app").map((t) => t.pid);
  return { tileNs: s.lab.tileNetns, peerNs: s.lab.peerNetns, tilePids };
}

export const dnsBench: Bench = async (args) => {
  const o = parseOptions(args);
  requireTools(o.servers);
  const root = join(__dirname, "..");
  const cli = join(__dirname, "cli.js");
  const zoneSource = join(root, "examples", "dns", "example.test.zone");
  if (!existsSync(cli) || !existsSync(zoneSource))
    throw new Error("dns bench: run from a built checkout (npm run build)");
  const dir = mkdtempSync(join(tmpdir(), "tilenet-dns-bench-"));
  const zone = join(dir, "example.test.zone");
  copyFileSync(zoneSource, zone);
  const queryFile = join(dir, "queries.txt");
  writeFileSync(queryFile, `${QUERIES.join("\n")}\n`);
  const config = join(dir, "tilenet.toml");
  writeFileSync(
    config,
    `[[app]]\nname = "dns"\nmodule = "builtin:dns"\nports = [53]\nfiles = { zone = "${zone}" }\nsettings = { origin = "${ORIGIN}", stats_interval_s = 0 }\n`,
  );
  const children: ChildProcess[] = [];
  const budgetS = (o.warmupSeconds + o.seconds + o.latencySeconds + 5) * o.servers.length * o.runs + 30;
  const inst = await startInstanceProcess(cli, `dnsb${process.pid}`.slice(0, 20), [
    "--lab",
    "--config",
    config,
    "--duration",
    String(Math.ceil(budgetS)),
  ]);
  const perf: Partial<Record<ServerName, Perf>> = {};
  try {
    const lab = labOf(cli, inst.name);
    const targets: Target[] = [];
    if (o.servers.includes("tilenet")) targets.push({ name: "tilenet", port: PORTS.tilenet, pids: lab.tilePids });
    if (o.servers.includes("dgram")) {
      const server = join(__dirname, "bench", "children", "dns-dgram-server.js");
      const args = ["198.18.0.1", String(PORTS.dgram), zone, ORIGIN, String(Math.ceil(budgetS))];
      const c = await startIn(lab.tileNs, [process.execPath, server, ...args], /"ready":true/, "dgram server");
      children.push(c);
      targets.push({ name: "dgram", port: PORTS.dgram, pids: [c.pid ?? -1] });
    }
    if (o.servers.includes("nsd")) {
      const c = await startIn(
        lab.tileNs,
        ["nsd", "-d", "-c", nsdConfig(dir, zone)],
        /zone example\.test.*(read|serial)|nsd started/i,
        "nsd",
      );
      children.push(c);
      targets.push({ name: "nsd", port: PORTS.nsd, pids: [c.pid ?? -1] });
    }
    // Runs rotate the order, so the machine's noise (it is shared) hits every server alike.
    const runs: Partial<Record<ServerName, Perf[]>> = {};
    for (let run = 0; run < o.runs; run++)
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(run + k) % targets.length] as Target;
        runs[t.name] = [...(runs[t.name] ?? []), measure(lab.peerNs, t, queryFile, o)];
      }
    for (const t of targets) perf[t.name] = medianPerf(runs[t.name] ?? []);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : null)));
    await stopInstanceProcess(inst);
    rmSync(dir, { recursive: true, force: true });
  }
  return report(perf, o);
};

function report(
  perf: Partial<Record<ServerName, Perf>>,
  o: Options,
): { figures: Record<string, number>; lines: string[] } {
  const figures: Record<string, number> = {};
  const lines = [
    `dns: dnsperf -c ${o.clients} -q ${o.outstanding}, ${o.seconds} s at most ${o.maxQps} q/s per server; latency at ${o.latencyQps} q/s for ${o.latencySeconds} s; ${QUERIES.length}-query mix on examples/dns/example.test.zone; medians of ${o.runs} runs in rotating order`,
    "server   queries/s  done%   avg us   p50 us   p99 us  p99.9 us  CPU us/query  server CPU%  machine busy%",
  ];
  figures.runs = o.runs;
  for (const name of SERVERS) {
    const p = perf[name];
    if (!p) continue;
    for (const [k, v] of Object.entries(p)) figures[`${name}_${snake(k)}`] = round(v);
    lines.push(
      `${name.padEnd(8)} ${p.qps.toFixed(0).padStart(9)} ${p.completedPct.toFixed(1).padStart(6)} ${p.avgLatencyUs.toFixed(0).padStart(8)} ${p.p50Us.toFixed(0).padStart(8)} ${p.p99Us.toFixed(0).padStart(8)} ${p.p999Us.toFixed(0).padStart(9)} ${p.cpuUsPerQuery.toFixed(2).padStart(13)} ${p.serverCpuPct.toFixed(0).padStart(12)} ${p.machineBusyPct.toFixed(0).padStart(14)}`,
    );
  }
  const t = perf.tilenet;
  if (t && perf.dgram) {
    figures.tilenet_over_dgram = round(t.qps / perf.dgram.qps);
    const met = figures.tilenet_over_dgram >= TARGET_OVER_DGRAM ? "met" : "not met";
    lines.push(`tilenet / dgram: ${figures.tilenet_over_dgram}x (target >= ${TARGET_OVER_DGRAM}x: ${met})`);
  }
  if (t && perf.nsd) {
    figures.tilenet_over_nsd = round(t.qps / perf.nsd.qps);
    const met = figures.tilenet_over_nsd >= TARGET_OVER_NSD ? "met" : "not met";
    lines.push(`tilenet / nsd: ${figures.tilenet_over_nsd}x (target >= ${TARGET_OVER_NSD}x: ${met})`);
  }
  lines.push(
    "bound: dnsperf and the server share the machine's 2 cores; a server below 100% CPU with the machine near 100% busy is bounded by the load generator, not by itself",
  );
  return { figures, lines };
}

/** Each figure's median over the runs. */
function medianPerf(list: Perf[]): Perf {
  const first = list[0];
  if (!first) throw new Error("dns bench: no runs");
  const out = { ...first };
  for (const k of Object.keys(first) as (keyof Perf)[]) {
    const v = list.map((p) => p[k]).sort((a, b) => a - b);
    out[k] = v[Math.floor(v.length / 2)] as number;
  }
  return out;
}

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/_pct$/, "_pct");
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
