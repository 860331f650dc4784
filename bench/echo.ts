// `npm run bench -- echo`: UDP echo packets per second and round-trip times through tilenet (a
// sandboxed net tile on AF_XDP + the built-in echo app tile), next to a Node dgram echo server
// and a C recvmmsg/sendmmsg echo server on the same veth, in the same run. A C load generator in
// the peer namespace keeps `window` datagrams in flight (sendmmsg bursts, recvmmsg), each
// carrying its send time, and reports pps and RTT percentiles; a second phase with one datagram
// in flight measures the unloaded round trip. Servers are measured in turn, the order rotating
// each run so machine noise hits all alike; figures are medians over runs.
//
// Topology: `--via launcher` runs `tilenet run --lab` and finds its namespaces with `tilenet
// status --json`; `--via direct` builds its own two namespaces and starts the net and app tile
// programs itself exactly as the launcher does (staged runtime, tilenet-exec, seccomp); `auto`
// (default) uses the launcher when its lab runs a net tile, else direct. Traffic stays between
// the two namespaces the run made; everything is removed at the end, also on failure.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pino from "pino";
import { defaultConfig, defaultRestartPolicy, type InstanceConfig } from "../launcher/config";
import { provisionInstance, resolveInterfaces, UndoStack } from "../launcher/plan";
import { RegionSet } from "../launcher/regions";
import { stageRuntime } from "../launcher/stage";
import { spawnTile, type TileLaunch, type TileProcess } from "../launcher/tile-process";
import { describeInstance, type InstanceTopology, withTileSettings } from "../launcher/topology";
import { MetricsReader } from "../shared/metrics/reader";
import { inNetns, native } from "../shared/native";
import { NetbaseWriter } from "../shared/netbase/writer";
import { NetlinkClient } from "../shared/netlink";
import { metricsRegionName } from "../shared/tile/regions";
import type { Bench } from "./types";

type Via = "auto" | "launcher" | "direct";
type ServerName = "tilenet" | "node_dgram" | "c";
const SERVERS: readonly ServerName[] = ["tilenet", "node_dgram", "c"];

interface Options {
  seconds: number;
  warmup: number;
  idleSeconds: number;
  runs: number;
  size: number;
  window: number;
  burst: number;
  maxPackets: number;
  via: Via;
  xdpMode: "auto" | "skb" | "drv";
  servers: ServerName[];
  /** Direct topology only: idle tuning of the tiles (defaults: the tiles' own). */
  tune: { netSpinUs?: number; appSpinUs?: number; napUs?: number; napWindowMs?: number; maxIdleMs?: number };
}

const TARGET_PPS_OVER_NODE = 3;
const TARGET_PPS_OVER_C = 1;
const ECHO_PORT = 7000;
const NODE_PORT = 7100;
const C_PORT = 7200;

function parseOptions(args: string[]): Options {
  const o: Options = {
    seconds: 3,
    warmup: 0.5,
    idleSeconds: 1,
    runs: 2,
    size: 64,
    window: 256,
    burst: 32,
    maxPackets: 3_000_000,
    via: "auto",
    xdpMode: "auto",
    servers: [...SERVERS],
    tune: {},
  };
  const num = (key: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`echo bench: ${key} needs a number from ${min} to ${max}`);
    return n;
  };
  for (let i = 0; i < args.length; i += 2) {
    const key = args[i];
    const v = args[i + 1];
    if (key === "--seconds") o.seconds = num(key, v, 1, 30);
    else if (key === "--warmup") o.warmup = num(key, v, 0, 5);
    else if (key === "--idle-seconds") o.idleSeconds = num(key, v, 0.5, 10);
    else if (key === "--runs") o.runs = num(key, v, 1, 10);
    else if (key === "--size") o.size = num(key, v, 16, 1472);
    else if (key === "--window") o.window = num(key, v, 1, 4096);
    else if (key === "--burst") o.burst = num(key, v, 1, 64);
    else if (key === "--max-packets") o.maxPackets = num(key, v, 1000, 20_000_000);
    else if (key === "--via" && (v === "auto" || v === "launcher" || v === "direct")) o.via = v;
    else if (key === "--xdp-mode" && (v === "auto" || v === "skb" || v === "drv")) o.xdpMode = v;
    else if (key === "--net-spin-us") o.tune.netSpinUs = num(key, v, 0, 100_000);
    else if (key === "--app-spin-us") o.tune.appSpinUs = num(key, v, 0, 100_000);
    else if (key === "--nap-us") o.tune.napUs = num(key, v, 1, 1000);
    else if (key === "--nap-window-ms") o.tune.napWindowMs = num(key, v, 0, 1000);
    else if (key === "--max-idle-ms") o.tune.maxIdleMs = num(key, v, 0, 100);
    else if (key === "--servers" && v && v.split(",").every((x) => (SERVERS as readonly string[]).includes(x)))
      o.servers = v.split(",") as ServerName[];
    else
      throw new Error(
        `echo bench: unknown option ${key} ${v ?? ""} (--seconds --warmup --idle-seconds --runs --size --window --burst --max-packets --via auto|launcher|direct --xdp-mode auto|skb|drv --servers tilenet,node_dgram,c --net-spin-us --app-spin-us --nap-us --nap-window-ms --max-idle-ms)`,
      );
  }
  if (o.warmup >= o.seconds) throw new Error("echo bench: --warmup must be shorter than --seconds");
  return o;
}

/** The checkout root (bench/c and dist/), found from the running bundle or this source. */
function findRoot(): string {
  for (const start of [dirname(process.argv[1] ?? ""), __dirname]) {
    let dir = start;
    for (let i = 0; i < 5; i++) {
      if (existsSync(join(dir, "bench", "c", "echo_load.c"))) return dir;
      dir = dirname(dir);
    }
  }
  throw new Error("echo bench: cannot find bench/c/echo_load.c above the running script");
}

function ip(args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")}: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** A child with JSON lines on stdout. */
class Child {
  readonly lines: Record<string, unknown>[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;

  constructor(cmd: string, argv: string[]) {
    this.proc = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let buf = "";
    this.proc.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line.startsWith("{")) this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
    });
    this.proc.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
  }

  async waitFor(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(pred);
      if (found) return found;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null || Date.now() > deadline)
        throw new Error(`${what}: no answer (${this.stderr.trim().slice(-500)})`);
      await sleep(10);
    }
  }

  /** `ip netns exec` execs the command: this is the server's pid. */
  get pid(): number {
    return this.proc.pid ?? -1;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The tile side as the bench sees it. */
interface World {
  how: string;
  tileNs: string;
  peerNs: string;
  tileIp: string;
  /** Net and app metrics (for the report), when the bench can read them. */
  metrics(): { net?: Record<string, number>; app?: Record<string, number> };
  /** Processes doing tilenet's work (the tiles), for CPU accounting. */
  pids: number[];
  stop(): Promise<void>;
}

/** CPU seconds (user + system) used so far by the processes (gone ones count 0). */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return ticks / 100; // USER_HZ
}

interface LoadResult {
  sent: number;
  received: number;
  lost: number;
  bad: number;
  pps: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  /** Added by the bench: CPU the server's processes used per echo, in µs. */
  server_cpu_us_per_echo?: number;
  server_cpu_pct?: number;
}

// ---------------------------------------------------------------- direct topology

type Cleanups = (() => void | Promise<void>)[];

/** Two fresh namespaces joined by a veth pair (t0 in the tile's, p0 in the peer's). */
function vethPair(tag: string, cleanups: Cleanups): { tileNs: string; peerNs: string; tileIp: string } {
  const tileNs = `tn-bench-t-${tag}`;
  const peerNs = `tn-bench-p-${tag}`;
  const tileIp = "198.18.62.1";
  const peerIp = "198.18.62.2";
  for (const ns of [tileNs, peerNs]) {
    ip(["netns", "add", ns]);
    cleanups.push(() => {
      ip(["netns", "del", ns]);
    });
    ip(["-n", ns, "link", "set", "lo", "up"]);
  }
  ip(["-n", tileNs, "link", "add", "t0", "type", "veth", "peer", "name", "p0", "netns", peerNs]);
  ip(["-n", tileNs, "addr", "add", `${tileIp}/24`, "dev", "t0"]);
  ip(["-n", peerNs, "addr", "add", `${peerIp}/24`, "dev", "p0"]);
  for (const [ns, dev] of [
    [tileNs, "t0"],
    [peerNs, "p0"],
  ] as const) {
    execFileSync("ip", ["netns", "exec", ns, "ethtool", "-K", dev, "tx", "off"], { stdio: "ignore" });
    ip(["-n", ns, "link", "set", dev, "up"]);
  }
  return { tileNs, peerNs, tileIp };
}

/** The instance as the launcher would describe it (default geometry and rings), without a
 *  netlink tile, with the bench's idle tuning applied. */
function benchTopology(opts: Options, tileNs: string, stageDir: string): InstanceTopology {
  const d = defaultConfig();
  const config: InstanceConfig = {
    ...d,
    net: { ...d.net, interface: "t0", netns: `/run/netns/${tileNs}`, xdpMode: opts.xdpMode, queue: 0 },
    netbase: { routes: 1024, neighbors: 1024, interfaces: 16, addrsPerInterface: 4 },
    netlink: { ...d.netlink, enabled: false },
    apps: [{ name: "echo", module: "builtin:echo", ports: [ECHO_PORT], settings: {}, restart: defaultRestartPolicy() }],
  };
  const t = opts.tune;
  const described = describeInstance({
    instance: "bench",
    config,
    runtimeDir: stageDir,
    interfaces: resolveInterfaces(config),
  });
  return withTileSettings(
    withTileSettings(described, "net", {
      ...(t.netSpinUs !== undefined ? { spinUs: t.netSpinUs } : {}),
      ...(t.napUs !== undefined ? { napUs: t.napUs } : {}),
      ...(t.napWindowMs !== undefined ? { napWindowMs: t.napWindowMs } : {}),
      ...(t.maxIdleMs !== undefined ? { maxIdleMs: t.maxIdleMs } : {}),
    }),
    "echo",
    t.appSpinUs !== undefined ? { spinUs: t.appSpinUs } : {},
  );
}

/** Starts the launches as the launcher does and waits until each reports "running". */
async function startTiles(launches: TileLaunch[], regions: RegionSet, cleanups: Cleanups): Promise<TileProcess[]> {
  const logs: string[] = [];
  const tiles: TileProcess[] = [];
  cleanups.push(async () => {
    for (const t of tiles) if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill("SIGKILL");
    await Promise.all(tiles.map((t) => t.exited));
  });
  const common = {
    instance: "bench",
    uid: 65534,
    gid: 65534,
    netnsPath: undefined,
    unshare: ["mount", "ipc", "uts", "net"] as ("mount" | "ipc" | "uts" | "net")[],
    landlock: true,
    logLevel: "warn",
    onLogLine: (tile: string, line: string) => logs.push(`${tile}: ${line}`),
  };
  for (const launch of launches) tiles.push(spawnTile(launch, common));
  const readers = launches.map((l) => new MetricsReader(regions.get(metricsRegionName(l.name)).buf));
  const deadline = Date.now() + 20_000;
  while (!readers.every((r) => r.state === "running")) {
    for (const t of tiles)
      if (t.child.exitCode !== null || t.child.signalCode !== null)
        throw new Error(`echo bench: tile ${t.name} died at start-up\n${logs.join("\n")}`);
    if (Date.now() > deadline) throw new Error(`echo bench: tiles not running\n${logs.join("\n")}`);
    await sleep(20);
  }
  return tiles;
}

async function directWorld(opts: Options, cleanups: Cleanups): Promise<World> {
  const addon = native();
  const tag = `${process.pid}-${Math.floor(Math.random() * 0xffffff).toString(16)}`;
  const { tileNs, peerNs, tileIp } = vethPair(tag, cleanups);
  const stageDir = mkdtempSync(join(tmpdir(), "tn-bench-stage-"));
  cleanups.push(() => rmSync(stageDir, { recursive: true, force: true }));
  const topology = benchTopology(opts, tileNs, stageDir);
  stageRuntime(
    stageDir,
    topology.tiles.map((x) => x.kind),
  );
  const regions = new RegionSet(`bench-${tag}`);
  const undo = new UndoStack();
  cleanups.push(() => {
    undo.unwind(console);
    regions.closeAll();
  });
  const { launches, xdp } = provisionInstance(topology, regions, undo, pino({ level: "warn" }));
  // No netlink tile: the bench mirrors the tile namespace into netbase once, after both sides know
  // each other's MAC (nothing changes during the run).
  execFileSync("ip", ["netns", "exec", peerNs, "ping", "-c", "1", "-W", "2", tileIp], { stdio: "ignore" });
  const nlFd = inNetns(`/run/netns/${tileNs}`, () => addon.netlinkOpen(0, 0));
  try {
    new NetbaseWriter(regions.get("netbase").buf).resync(new NetlinkClient(nlFd).fullSnapshot());
  } finally {
    addon.closeFd(nlFd);
  }
  const tiles = await startTiles(launches, regions, cleanups);
  const readers = ["net", "echo"].map((n) => new MetricsReader(regions.get(metricsRegionName(n)).buf));
  return {
    how: `direct: sandboxed net + echo app tiles, XDP ${xdp.map((x) => x.mode).join(",")} mode, ${tileNs} <-> ${peerNs}`,
    tileNs,
    peerNs,
    tileIp,
    metrics: () => ({ net: readers[0]?.snapshot(), app: readers[1]?.snapshot() }),
    pids: tiles.map((t) => t.pid),
    async stop() {
      for (const t of tiles) t.child.kill("SIGTERM");
      await Promise.race([Promise.all(tiles.map((t) => t.exited)), sleep(3000)]);
    },
  };
}

// ---------------------------------------------------------------- launcher topology

interface StatusJson {
  tiles?: { name: string; kind: string; pid?: number; state: string; metrics?: Record<string, number> }[];
  lab?: { tileNetns: string; peerNetns: string; tileAddr: string; peerAddr: string; ports: number[] };
}

// Longer than 70 lines: one script (a lab instance for the bench, then its figures and cleanup).
async function launcherWorld(
  root: string,
  budgetS: number,
  cleanups: (() => void | Promise<void>)[],
): Promise<World | string> {
  const cli = join(root, "dist", "cli.js");
  if (!existsSync(cli)) return "dist/cli.js missing";
  const instance = `bench${process.pid}`.slice(0, 24);
  const launcher = new Child(process.execPath, [
    cli,
    "run",
    "--lab",
    "--instance",
    instance,
    "--duration",
    String(budgetS),
  ]);
  const stopLauncher = async (): Promise<void> => {
    launcher.kill("SIGTERM");
    await Promise.race([launcher.exited, sleep(5000)]);
    launcher.kill("SIGKILL");
  };
  cleanups.push(stopLauncher);
  const status = (): StatusJson | undefined => {
    try {
      return JSON.parse(
        execFileSync(process.execPath, [cli, "status", "--instance", instance, "--json"], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        }),
      ) as StatusJson;
    } catch (e) {
      // Exit code 1 (unhealthy, e.g. still booting) still prints the report.
      const out = (e as { stdout?: string }).stdout;
      try {
        return out ? (JSON.parse(out) as StatusJson) : undefined;
      } catch {
        return undefined;
      }
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = status();
    const tiles = s?.tiles ?? [];
    if (s?.lab && tiles.length > 0 && tiles.every((t) => t.state === "running")) {
      if (!tiles.some((t) => t.kind === "net")) {
        await stopLauncher();
        return `the launcher's lab runs no net tile (tiles: ${tiles.map((t) => t.kind).join(", ")})`;
      }
      const lab = s.lab;
      return {
        how: `launcher: tilenet run --lab (instance ${instance}, tiles ${tiles.map((t) => t.name).join(", ")})`,
        tileNs: lab.tileNetns,
        peerNs: lab.peerNetns,
        tileIp: lab.tileAddr.split("/")[0] ?? "",
        metrics: () => {
          const now = status()?.tiles ?? [];
          return {
            net: now.find((t) => t.kind === "net")?.metrics,
            app: now.find((t) => t.kind === "app")?.metrics,
          };
        },
        stop: stopLauncher,
        pids: (s.tiles ?? []).flatMap((t) => ((t as { pid?: number }).pid ? [(t as { pid: number }).pid] : [])),
      };
    }
    const exited = await Promise.race([launcher.exited, sleep(100).then(() => null)]);
    if (exited) return `the launcher exited (${JSON.stringify(exited)}): ${launcher.stderr.trim().slice(-400)}`;
    if (Date.now() > deadline) {
      await stopLauncher();
      return "the launcher's lab did not come up within 30 s";
    }
  }
}

// ---------------------------------------------------------------- measurement

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

function runLoad(
  loadExe: string,
  w: World,
  port: number,
  seconds: number,
  warmup: number,
  window: number,
  burst: number,
  opts: Options,
): LoadResult {
  const out = execFileSync(
    "ip",
    [
      "netns",
      "exec",
      w.peerNs,
      loadExe,
      w.tileIp,
      String(port),
      String(seconds),
      String(warmup),
      String(opts.maxPackets),
      String(opts.size),
      String(window),
      String(burst),
    ],
    { encoding: "utf8", timeout: (seconds + 10) * 1000 },
  );
  const r = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as LoadResult;
  if (r.bad > 0) throw new Error(`echo bench: ${r.bad} echoes from port ${port} did not match what was sent`);
  return r;
}

// Longer than 70 lines: one sequential script (set-up, servers measured in rotating order, report)
// whose steps share the options, the cleanups and the figures gathered so far.
export const echoBench: Bench = async (args) => {
  const opts = parseOptions(args);
  if (process.getuid?.() !== 0) throw new Error("echo bench: must run as root (namespaces, XDP)");
  const root = findRoot();
  const cleanups: (() => void | Promise<void>)[] = [];
  const results: Record<ServerName, { loaded: LoadResult[]; idle: LoadResult[] }> = {
    tilenet: { loaded: [], idle: [] },
    node_dgram: { loaded: [], idle: [] },
    c: { loaded: [], idle: [] },
  };
  const lines: string[] = [];
  let world: World | undefined;
  let after: ReturnType<World["metrics"]> = {};
  try {
    const bin = mkdtempSync(join(tmpdir(), "tn-bench-echo-"));
    cleanups.push(() => rmSync(bin, { recursive: true, force: true }));
    const loadExe = join(bin, "echo_load");
    const serverExe = join(bin, "echo_server");
    for (const [src, exe] of [
      ["echo_load.c", loadExe],
      ["echo_server.c", serverExe],
    ] as const)
      execFileSync("cc", ["-O2", "-Wall", "-Wextra", "-o", exe, join(root, "bench", "c", src)], {
        stdio: ["ignore", "inherit", "inherit"],
      });

    const perServerS = opts.seconds + opts.idleSeconds + 1;
    const budgetS = Math.ceil(opts.runs * SERVERS.length * perServerS + 30);
    if (opts.via !== "direct") {
      const got = await launcherWorld(root, budgetS, cleanups);
      if (typeof got === "string") {
        if (opts.via === "launcher") throw new Error(`echo bench: --via launcher: ${got}`);
        lines.push(`(launcher not usable: ${got}; using the direct topology)`);
      } else world = got;
    }
    world ??= await directWorld(opts, cleanups);
    const w = world;
    lines.push(`topology: ${w.how}`);

    const nodeServer = new Child("ip", [
      "netns",
      "exec",
      w.tileNs,
      process.execPath,
      join(root, "dist", "bench", "children", "echo-node-server.js"),
      String(NODE_PORT),
      String(budgetS),
    ]);
    const cServer = new Child("ip", ["netns", "exec", w.tileNs, serverExe, String(C_PORT), String(budgetS)]);
    cleanups.push(() => {
      nodeServer.kill();
      cServer.kill();
    });
    await nodeServer.waitFor((l) => l.ready === true, 10_000, "node dgram echo server");
    await cServer.waitFor((l) => l.ready === true, 10_000, "C echo server");
    // Neighbors resolved, JIT warm: a short unmeasured pass on each server.
    const ports: Record<ServerName, number> = { tilenet: ECHO_PORT, node_dgram: NODE_PORT, c: C_PORT };
    const servers = opts.servers;
    for (const s of servers) runLoad(loadExe, w, ports[s], 1, 0.5, 8, 8, opts);

    const serverPids: Record<ServerName, number[]> = {
      tilenet: w.pids,
      node_dgram: [nodeServer.pid],
      c: [cServer.pid],
    };
    for (let run = 0; run < opts.runs; run++) {
      const order = servers.map((_, i) => servers[(i + run) % servers.length] as ServerName);
      for (const s of order) {
        const cpu0 = cpuSeconds(serverPids[s]);
        const t0 = performance.now();
        const loaded = runLoad(loadExe, w, ports[s], opts.seconds, opts.warmup, opts.window, opts.burst, opts);
        const cpu = cpuSeconds(serverPids[s]) - cpu0;
        loaded.server_cpu_pct = Math.round((cpu / ((performance.now() - t0) / 1000)) * 100);
        loaded.server_cpu_us_per_echo = Math.round((cpu / Math.max(1, loaded.received)) * 1e7) / 10;
        results[s].loaded.push(loaded);
        results[s].idle.push(
          runLoad(loadExe, w, ports[s], opts.idleSeconds, Math.min(0.2, opts.idleSeconds / 4), 1, 1, opts),
        );
      }
    }
    after = w.metrics();
  } finally {
    const errors: string[] = [];
    if (world) {
      try {
        await world.stop();
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (errors.length > 0) process.stderr.write(`echo bench clean-up problems: ${errors.join("; ")}\n`);
  }

  const figures: Record<string, number> = {};
  for (const s of opts.servers) {
    const r = results[s];
    figures[`${s}_pps`] = Math.round(median(r.loaded.map((x) => x.pps)));
    figures[`${s}_p50_us`] = median(r.loaded.map((x) => x.p50_us));
    figures[`${s}_p99_us`] = median(r.loaded.map((x) => x.p99_us));
    figures[`${s}_rtt_p50_us`] = median(r.idle.map((x) => x.p50_us));
    figures[`${s}_rtt_p99_us`] = median(r.idle.map((x) => x.p99_us));
    figures[`${s}_lost`] = r.loaded.reduce((a, x) => a + x.lost, 0) + r.idle.reduce((a, x) => a + x.lost, 0);
    figures[`${s}_cpu_pct`] = median(r.loaded.map((x) => x.server_cpu_pct ?? Number.NaN));
    figures[`${s}_cpu_us_per_echo`] = median(r.loaded.map((x) => x.server_cpu_us_per_echo ?? Number.NaN));
  }
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  const has = (s: ServerName): boolean => opts.servers.includes(s);
  const f = (k: string): number => figures[k] ?? Number.NaN;
  if (has("tilenet") && has("node_dgram")) {
    figures.tilenet_over_node_pps = ratio(f("tilenet_pps"), f("node_dgram_pps"));
    figures.tilenet_over_node_p99 = ratio(f("tilenet_p99_us"), f("node_dgram_p99_us"));
    figures.tilenet_over_node_rtt_p99 = ratio(f("tilenet_rtt_p99_us"), f("node_dgram_rtt_p99_us"));
  }
  if (has("tilenet") && has("c")) figures.tilenet_over_c_pps = ratio(f("tilenet_pps"), f("c_pps"));

  lines.push(
    `${opts.runs} runs x ${opts.seconds} s loaded (window ${opts.window}, bursts of ${opts.burst}, ${opts.size}-byte payloads) + ${opts.idleSeconds} s one-at-a-time, per server; medians`,
  );
  lines.push("server       pps(loaded)  p50 us  p99 us | rtt p50 us  rtt p99 us | lost | server cpu %  cpu us/echo");
  for (const s of opts.servers) {
    lines.push(
      `${s.padEnd(12)} ${String(f(`${s}_pps`)).padStart(11)} ${f(`${s}_p50_us`).toFixed(1).padStart(7)} ${f(`${s}_p99_us`).toFixed(1).padStart(7)} | ${f(`${s}_rtt_p50_us`).toFixed(1).padStart(10)} ${f(`${s}_rtt_p99_us`).toFixed(1).padStart(11)} | ${String(f(`${s}_lost`)).padStart(4)} | ${String(f(`${s}_cpu_pct`)).padStart(12)} ${f(`${s}_cpu_us_per_echo`).toFixed(1).padStart(12)}`,
    );
  }
  const verdict = (ok: boolean): string => (ok ? "PASS" : "MISS");
  if (figures.tilenet_over_node_pps !== undefined) {
    lines.push(
      `tilenet/node pps ${figures.tilenet_over_node_pps}x (target >= ${TARGET_PPS_OVER_NODE}x: ${verdict(figures.tilenet_over_node_pps >= TARGET_PPS_OVER_NODE)})`,
    );
    lines.push(
      `tilenet/node p99 loaded ${figures.tilenet_over_node_p99}x, one-at-a-time ${figures.tilenet_over_node_rtt_p99}x (target <= 1x: ${verdict(f("tilenet_over_node_p99") <= 1 && f("tilenet_over_node_rtt_p99") <= 1)})`,
    );
  }
  if (figures.tilenet_over_c_pps !== undefined)
    lines.push(
      `tilenet/C pps ${figures.tilenet_over_c_pps}x (target >= ${TARGET_PPS_OVER_C}x: ${verdict(figures.tilenet_over_c_pps >= TARGET_PPS_OVER_C)})`,
    );
  const net = after.net;
  const app = after.app;
  if (net && app) {
    const ns = (v: number | undefined, n: number | undefined): string => ((v ?? 0) / Math.max(1, n ?? 0)).toFixed(0);
    lines.push(
      `tile time per datagram (busy polls only): net ${ns(net.busy_ns, net.rx_packets)} ns, app ${ns(app.busy_ns, app.rx_packets)} ns; context switches net ${net.context_switches_voluntary}/${net.context_switches_involuntary} app ${app.context_switches_voluntary}/${app.context_switches_involuntary} (voluntary/involuntary); net idle: ${net.idle_naps} naps, ${net.idle_app_waits} app waits, ${net.xsk_idle_polls} socket polls`,
    );
  }
  if (net) {
    const per = (k: string): string => ((net[k] ?? 0) / Math.max(1, net.tx_packets ?? 0)).toFixed(3);
    lines.push(
      `net tile: rx ${net.rx_packets} tx ${net.tx_packets}, app ring full ${net.rx_app_ring_full}, no neighbor ${net.tx_no_neighbor}, tx ring full ${net.tx_ring_full}, kicks/packet ${per("xsk_tx_kicks")}, kernel rx drops ${net.xsk_rx_dropped} (ring full ${net.xsk_rx_ring_full}, fill empty ${net.xsk_rx_fill_ring_empty})`,
    );
  }
  return { figures, lines };
};
