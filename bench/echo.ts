// `npm run bench -- echo`: UDP echo packets per second and round-trip times through tilenet (a
// sandboxed net tile on AF_XDP + the built-in echo app tile), next to a Node dgram echo server
// and a C recvmmsg/sendmmsg echo server on the same veth, in the same run. A C load generator in
// the peer namespace keeps `window` datagrams in flight (sendmmsg bursts, recvmmsg), each
// carrying its send time, and reports pps and RTT percentiles; a second phase with one datagram
// in flight measures the unloaded round trip. Servers are measured in turn, the order rotating
// each run so machine noise hits all alike; figures are medians over runs.
//
// tilenet is measured once per idle mode (`--idle-modes adaptive,spin`), each in an instance of
// its own (spin: net tile pinned to CPU 1, echo app to CPU 0); the reference servers run in the
// first one. With `--providers xdp,socket` (the default) the socket provider ([net] provider =
// "socket": UDP sockets, recvmmsg/sendmmsg) is measured too, adaptive, in an instance of its own
// (key tilenet_socket; target: 2x Node dgram's pps). Per mode also: the CPU the tiles use over an idle interval (/proc), and the
// unprompted-send latency: an app (test/fixtures/apps/unprompted-sender.js) sends stamped
// datagrams from a timer, so the net tile is asleep when each is sent; the peer measures
// send -> arrival. The kernel-path reference is the same sender on a dgram socket.
//
// Topology: `--via launcher` runs `tilenet run --lab` and finds its namespaces with `tilenet
// status --json`; `--via direct` builds its own two namespaces and starts the net and app tile
// programs itself exactly as the launcher does (staged runtime, tilenet-exec, seccomp); `auto`
// (default) uses the launcher when its lab runs a net tile, else direct. Traffic stays between
// the two namespaces the run made; everything is removed at the end, also on failure.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pino from "pino";
import { defaultConfig, defaultRestartPolicy, type InstanceConfig } from "../launcher/config";
import { Keeper } from "../launcher/keeper";
import { provisionInstance, resolveInterfaces, stageTileFiles, UndoStack } from "../launcher/plan";
import { RegionSet } from "../launcher/regions";
import { stageRuntime } from "../launcher/stage";
import { spawnTile, type TileCommon, type TileLaunch, type TileProcess, tileExecArgv } from "../launcher/tile-process";
import {
  describeInstance,
  type InstanceTopology,
  type ResolvedNetProvider,
  withTileSettings,
} from "../launcher/topology";
import { MetricsReader } from "../shared/metrics/reader";
import { inNetns, native } from "../shared/native";
import { NetbaseWriter } from "../shared/netbase/writer";
import { NetlinkClient } from "../shared/netlink";
import { IDLE_MODES, type IdleMode } from "../shared/tile/idle";
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
  /** tilenet is measured once per mode, each in its own instance; the first hosts the references. */
  modes: IdleMode[];
  /** Data planes measured: xdp in every mode, socket in adaptive mode (an instance of its own). */
  providers: ResolvedNetProvider[];
  /** Length of the idle interval whose CPU is measured, per mode. */
  idleCpuSeconds: number;
  /** Unprompted datagrams per measurement (one every UNPROMPTED_INTERVAL_MS). */
  unprompted: number;
  /** Also measure xdp adaptive with preferred busy polling on the AF_XDP socket (`--busy-poll on`). */
  busyPoll: boolean;
  /** Direct topology only: idle tuning of the tiles (defaults: the tiles' own). */
  tune: { netSpinUs?: number; netReplySpinUs?: number; appSpinUs?: number };
}

const TARGET_PPS_OVER_NODE = 3;
const TARGET_SOCKET_PPS_OVER_NODE = 2;
const TARGET_PPS_OVER_C = 1;
const ECHO_PORT = 7000;
const NODE_PORT = 7100;
const C_PORT = 7200;
const TICKER_PORT = 7001;
const DGRAM_TICKER_PORT = 7300;
const UNPROMPTED_INTERVAL_MS = 20;
/** Spin mode's pinning: one core each for the net tile and the echo app (2-core machine). */
const SPIN_NET_CPU = 1;
const SPIN_APP_CPU = 0;

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
    modes: [...IDLE_MODES],
    providers: ["xdp", "socket"],
    idleCpuSeconds: 2,
    unprompted: 50,
    busyPoll: false,
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
    else if (key === "--busy-poll" && (v === "on" || v === "off")) o.busyPoll = v === "on";
    else if (key === "--net-spin-us") o.tune.netSpinUs = num(key, v, 0, 100_000);
    else if (key === "--net-reply-spin-us") o.tune.netReplySpinUs = num(key, v, 0, 100_000);
    else if (key === "--app-spin-us") o.tune.appSpinUs = num(key, v, 0, 100_000);
    else if (key === "--idle-cpu-seconds") o.idleCpuSeconds = num(key, v, 0.5, 10);
    else if (key === "--unprompted") o.unprompted = num(key, v, 5, 1000);
    else if (key === "--idle-modes" && v && v.split(",").every((x) => (IDLE_MODES as readonly string[]).includes(x)))
      o.modes = v.split(",") as IdleMode[];
    else if (key === "--servers" && v && v.split(",").every((x) => (SERVERS as readonly string[]).includes(x)))
      o.servers = v.split(",") as ServerName[];
    else if (key === "--providers" && v && v.split(",").every((x) => x === "xdp" || x === "socket"))
      o.providers = v.split(",") as ResolvedNetProvider[];
    else
      throw new Error(
        `echo bench: unknown option ${key} ${v ?? ""} (--seconds --warmup --idle-seconds --runs --size --window --burst --max-packets --via auto|launcher|direct --xdp-mode auto|skb|drv --servers tilenet,node_dgram,c --idle-modes adaptive,spin --providers xdp,socket --busy-poll on|off --idle-cpu-seconds --unprompted --net-spin-us --net-reply-spin-us --app-spin-us)`,
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

/** One tilenet instance measured: its idle mode and its data plane. */
interface Variant {
  mode: IdleMode;
  provider: ResolvedNetProvider;
  /** The AF_XDP socket with preferred busy polling (BUSY_POLL below). */
  busyPoll?: boolean;
}

/** `--busy-poll on`: an extra xdp adaptive variant, tilenet_busypoll, with these [net] keys. */
const BUSY_POLL = { prefer: true, usecs: 20, budget: 64 };

/** tilenet, tilenet_spin, tilenet_socket, ...: the figures' prefix of a variant. */
function variantKey(v: Variant): string {
  const base = `tilenet${v.provider === "socket" ? "_socket" : ""}${v.mode === "adaptive" ? "" : `_${v.mode}`}`;
  return v.busyPoll ? `${base}_busypoll` : base;
}

/** xdp in every mode, then socket in adaptive mode (in every mode when it is the only provider). */
function variantsOf(opts: Options): Variant[] {
  const xdp = opts.providers.includes("xdp");
  const out: Variant[] = xdp ? opts.modes.map((mode) => ({ mode, provider: "xdp" })) : [];
  if (opts.providers.includes("socket"))
    out.push(...(xdp ? (["adaptive"] as const) : opts.modes).map((mode) => ({ mode, provider: "socket" as const })));
  // Right after plain adaptive xdp would be fairer to machine noise; last keeps the other keys' order.
  if (xdp && opts.busyPoll) out.push({ mode: "adaptive", provider: "xdp", busyPoll: true });
  return out;
}

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
  /** The same, by tile name (idle CPU per tile). */
  tilePids: { name: string; pid: number }[];
  stop(): Promise<void>;
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

/** The bench's apps: the echo app and the unprompted sender (which never spins: it is not
 *  what is measured in spin mode, and a third spinning process would starve the 2 cores). */
function benchApps(root: string, mode: IdleMode): InstanceConfig["apps"] {
  const pinned = mode === "spin" ? { cpu: SPIN_APP_CPU } : {};
  return [
    {
      name: "echo",
      module: "builtin:echo",
      ports: [ECHO_PORT],
      settings: {},
      restart: defaultRestartPolicy(),
      placement: pinned,
    },
    {
      name: "ticker",
      module: tickerModule(root),
      ports: [TICKER_PORT],
      settings: {},
      restart: defaultRestartPolicy(),
      placement: { idle: "adaptive" },
    },
  ];
}

function tickerModule(root: string): string {
  return join(root, "test", "fixtures", "apps", "unprompted-sender.js");
}

/** The instance as the launcher would describe it (default geometry and rings), without a
 *  netlink tile, in the given idle mode, with the bench's idle tuning applied. */
async function benchTopology(
  opts: Options,
  { mode, provider, busyPoll }: Variant,
  root: string,
  tileNs: string,
  stageDir: string,
): Promise<InstanceTopology> {
  const d = defaultConfig();
  const config: InstanceConfig = {
    ...d,
    tiles: { idle: mode },
    net: {
      ...d.net,
      interfaces: ["t0"],
      netns: `/run/netns/${tileNs}`,
      xdpMode: opts.xdpMode,
      ...(busyPoll ? { busyPoll: BUSY_POLL } : {}),
      queue: 0,
      placement: mode === "spin" ? { cpu: SPIN_NET_CPU } : {},
    },
    netbase: { ...d.netbase, routes: 1024, neighbors: 1024, interfaces: 16, addrsPerInterface: 4 },
    netlink: { ...d.netlink, enabled: false },
    apps: benchApps(root, mode),
  };
  const t = opts.tune;
  const described = describeInstance({
    instance: "bench",
    config,
    runtimeDir: stageDir,
    interfaces: await resolveInterfaces(config),
    provider,
  });
  return withTileSettings(
    withTileSettings(described, "net", {
      ...(t.netSpinUs !== undefined ? { spinUs: t.netSpinUs } : {}),
      ...(t.netReplySpinUs !== undefined ? { replySpinUs: t.netReplySpinUs } : {}),
    }),
    "echo",
    t.appSpinUs !== undefined ? { spinUs: t.appSpinUs } : {},
  );
}

/** Starts the launches as the launcher does and waits until each reports "running". */
async function startTiles(launches: TileLaunch[], regions: RegionSet, cleanups: Cleanups): Promise<TileProcess[]> {
  const logs: string[] = [];
  const tiles: TileProcess[] = [];
  const keeper = Keeper.start();
  cleanups.push(async () => {
    for (const t of tiles) if (t.exit === null) t.signal("SIGKILL");
    await Promise.all(tiles.map((t) => t.exited));
    await keeper.tearDown();
  });
  const common: TileCommon = {
    instance: "bench",
    uid: 65534,
    gid: 65534,
    netnsPath: undefined,
    unshare: ["mount", "ipc", "uts", "net"] as ("mount" | "ipc" | "uts" | "net")[],
    landlock: true,
    logLevel: "warn",
    onLogLine: (tile: string, line: string) => logs.push(`${tile}: ${line}`),
  };
  launches.forEach((launch, slot) => {
    keeper.register(slot, tileExecArgv(launch, common, keeper.pid));
    tiles.push(spawnTile(launch, common, keeper, slot));
  });
  const readers = launches.map((l) => new MetricsReader(regions.get(metricsRegionName(l.name)).buf));
  const deadline = Date.now() + 20_000;
  while (!readers.every((r) => r.state === "running")) {
    for (const t of tiles)
      if (t.exit !== null) throw new Error(`echo bench: tile ${t.name} died at start-up\n${logs.join("\n")}`);
    if (Date.now() > deadline) throw new Error(`echo bench: tiles not running\n${logs.join("\n")}`);
    await sleep(20);
  }
  return tiles;
}

async function directWorld(opts: Options, variant: Variant, root: string, cleanups: Cleanups): Promise<World> {
  const addon = native();
  const tag = `${process.pid}-${Math.floor(Math.random() * 0xffffff).toString(16)}`;
  const { tileNs, peerNs, tileIp } = vethPair(tag, cleanups);
  const stageDir = mkdtempSync(join(tmpdir(), "tn-bench-stage-"));
  cleanups.push(() => rmSync(stageDir, { recursive: true, force: true }));
  const topology = await benchTopology(opts, variant, root, tileNs, stageDir);
  const staged = stageRuntime(
    stageDir,
    topology.tiles.map((x) => x.kind),
  );
  stageTileFiles(staged, topology);
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
    how: `direct: sandboxed net + echo app tiles, ${variant.provider === "socket" ? "UDP sockets" : `XDP ${xdp.map((x) => x.mode).join(",")} mode`}, ${tileNs} <-> ${peerNs}`,
    tileNs,
    peerNs,
    tileIp,
    metrics: () => ({ net: readers[0]?.snapshot(), app: readers[1]?.snapshot() }),
    pids: tiles.map((t) => t.pid),
    tilePids: tiles.map((t) => ({ name: t.name, pid: t.pid })),
    async stop() {
      for (const t of tiles) t.signal("SIGTERM");
      await Promise.race([Promise.all(tiles.map((t) => t.exited)), sleep(3000)]);
    },
  };
}

// ---------------------------------------------------------------- launcher topology

interface StatusJson {
  tiles?: { name: string; kind: string; pid?: number; state: string; metrics?: Record<string, number> }[];
  lab?: { tileNetns: string; peerNetns: string; tileAddr: string; peerAddr: string; ports: number[] };
}

/** The lab's config in one idle mode (the same apps as the direct topology's benchApps). */
function launcherToml(root: string, { mode, provider, busyPoll }: Variant): string {
  const spin = mode === "spin";
  const bp = BUSY_POLL;
  return [
    "[tiles]",
    `idle = "${mode}"`,
    "[net]",
    `provider = "${provider}"`,
    ...(busyPoll
      ? [`busy_poll_prefer = ${bp.prefer}`, `busy_poll_usecs = ${bp.usecs}`, `busy_poll_budget = ${bp.budget}`]
      : []),
    ...(spin ? [`cpu = ${SPIN_NET_CPU}`] : []),
    "[[app]]",
    'name = "echo"',
    'module = "builtin:echo"',
    `ports = [${ECHO_PORT}]`,
    ...(spin ? [`cpu = ${SPIN_APP_CPU}`] : []),
    "[[app]]",
    'name = "ticker"',
    `module = "${tickerModule(root)}"`,
    `ports = [${TICKER_PORT}]`,
    'idle = "adaptive"',
    "",
  ].join("\n");
}

// Longer than 70 lines: one script (a lab instance for the bench, then its figures and cleanup).
async function launcherWorld(
  root: string,
  variant: Variant,
  budgetS: number,
  cleanups: (() => void | Promise<void>)[],
): Promise<World | string> {
  const cli = join(root, "dist", "cli.js");
  if (!existsSync(cli)) return "dist/cli.js missing";
  const instance =
    `bench${process.pid}${variant.mode.slice(0, 1)}${variant.provider.slice(0, 1)}${variant.busyPoll ? "b" : ""}`.slice(
      0,
      24,
    );
  const dir = mkdtempSync(join(tmpdir(), "tn-bench-cfg-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, "tilenet.toml");
  writeFileSync(config, launcherToml(root, variant));
  const launcher = new Child(process.execPath, [
    cli,
    "run",
    "--lab",
    "--config",
    config,
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
      if (!tiles.some((t) => t.name === "net")) {
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
            net: now.find((t) => t.name === "net")?.metrics,
            app: now.find((t) => t.name === "echo")?.metrics,
          };
        },
        stop: stopLauncher,
        pids: tiles.flatMap((t) => (t.pid ? [t.pid] : [])),
        tilePids: tiles.flatMap((t) => (t.pid ? [{ name: t.name, pid: t.pid }] : [])),
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

/** CPU time (ns) the processes used so far, every thread: the first field of
 *  /proc/PID/task/TID/schedstat (nanoseconds, unlike /proc/PID/stat's 10 ms ticks). */
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

interface StampResult {
  received: number;
  expected: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
}

/** The unprompted-send latency of the sender on `port` in the tile namespace (stamp-peer). */
function unpromptedLatency(root: string, w: World, port: number, count: number): StampResult {
  const peer = join(root, "dist", "test", "fixtures", "stamp-peer.js");
  const timeoutMs = count * UNPROMPTED_INTERVAL_MS + 8000;
  const args = { host: w.tileIp, port, count, intervalMs: UNPROMPTED_INTERVAL_MS, timeoutMs };
  const out = execFileSync("ip", ["netns", "exec", w.peerNs, process.execPath, peer, JSON.stringify(args)], {
    encoding: "utf8",
    timeout: timeoutMs + 5000,
  });
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as StampResult;
}

/** What one measured server or tilenet mode gave. */
interface Gathered {
  loaded: LoadResult[];
  idle: LoadResult[];
  /** CPU over the idle interval, % of one core, in total and per process name. */
  idleCpuPct?: number;
  idleCpuBy?: string;
  unprompted?: StampResult;
}

interface Tools {
  root: string;
  loadExe: string;
  serverExe: string;
  opts: Options;
}

/** The reference servers in the tile namespace of `w` (killed by the returned stop). */
async function startReferences(
  t: Tools,
  w: World,
  budgetS: number,
): Promise<{ pids: Record<string, number>; stop(): void }> {
  const inNs = (argv: string[]): Child => new Child("ip", ["netns", "exec", w.tileNs, ...argv]);
  const children = (dist: string): string => join(t.root, "dist", "bench", "children", dist);
  const node = inNs([process.execPath, children("echo-node-server.js"), String(NODE_PORT), String(budgetS)]);
  const c = inNs([t.serverExe, String(C_PORT), String(budgetS)]);
  const ticker = inNs([
    process.execPath,
    children("stamp-ticker-dgram.js"),
    String(DGRAM_TICKER_PORT),
    String(budgetS),
  ]);
  const stop = (): void => {
    for (const k of [node, c, ticker]) k.kill();
  };
  try {
    await node.waitFor((l) => l.ready === true, 10_000, "node dgram echo server");
    await c.waitFor((l) => l.ready === true, 10_000, "C echo server");
    await ticker.waitFor((l) => l.ready === true, 10_000, "dgram unprompted sender");
  } catch (e) {
    stop();
    throw e;
  }
  return { pids: { node_dgram: node.pid, c: c.pid, dgram_ticker: ticker.pid }, stop };
}

/** Loaded + one-at-a-time phases for each server key, in rotating order, opts.runs times. */
function measureEcho(
  t: Tools,
  w: World,
  servers: { key: string; port: number; pids: number[] }[],
  into: Map<string, Gathered>,
): void {
  const o = t.opts;
  for (const s of servers) runLoad(t.loadExe, w, s.port, 1, 0.5, 8, 8, o); // neighbors resolved, JIT warm
  for (let run = 0; run < o.runs; run++) {
    for (let i = 0; i < servers.length; i++) {
      const s = servers[(i + run) % servers.length] as (typeof servers)[number];
      const g = into.get(s.key) ?? { loaded: [], idle: [] };
      into.set(s.key, g);
      const cpu0 = cpuNs(s.pids);
      const t0 = performance.now();
      const loaded = runLoad(t.loadExe, w, s.port, o.seconds, o.warmup, o.window, o.burst, o);
      const cpu = (cpuNs(s.pids) - cpu0) / 1e9;
      loaded.server_cpu_pct = Math.round((cpu / ((performance.now() - t0) / 1000)) * 100);
      loaded.server_cpu_us_per_echo = Math.round((cpu / Math.max(1, loaded.received)) * 1e7) / 10;
      g.loaded.push(loaded);
      g.idle.push(runLoad(t.loadExe, w, s.port, o.idleSeconds, Math.min(0.2, o.idleSeconds / 4), 1, 1, o));
    }
  }
}

/** CPU each named process uses over an idle interval (no traffic), % of one core. */
async function idleCpu(named: { name: string; pid: number }[], seconds: number): Promise<Map<string, number>> {
  const before = named.map((p) => cpuNs([p.pid]));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wallNs = (performance.now() - t0) * 1e6;
  return new Map(named.map((p, i) => [p.name, (100 * (cpuNs([p.pid]) - (before[i] ?? 0))) / wallNs]));
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Everything measured in one tilenet instance (mode); the first also measures the references. */
async function measureWorld(
  t: Tools,
  w: World,
  variant: Variant,
  first: boolean,
  budgetS: number,
  into: Map<string, Gathered>,
): Promise<void> {
  const tilenetKey = variantKey(variant);
  const refs = first ? await startReferences(t, w, budgetS) : undefined;
  try {
    // CPU per echo counts the tiles on the echo's path (net, echo); the others' idle cost is reported apart.
    const echoPids = w.tilePids.filter((p) => p.name === "net" || p.name === "echo").map((p) => p.pid);
    const servers = [{ key: tilenetKey, port: ECHO_PORT, pids: echoPids }];
    if (refs) {
      const ports: Record<string, number> = { node_dgram: NODE_PORT, c: C_PORT };
      for (const s of t.opts.servers)
        if (s !== "tilenet") servers.push({ key: s, port: ports[s] as number, pids: [refs.pids[s] as number] });
    }
    if (!t.opts.servers.includes("tilenet")) servers.shift();
    measureEcho(t, w, servers, into);
    const named = [...w.tilePids, ...(refs ? Object.entries(refs.pids).map(([name, pid]) => ({ name, pid })) : [])];
    const idle = await idleCpu(named, t.opts.idleCpuSeconds);
    const tiles = w.tilePids.map((p) => p.name);
    const g = into.get(tilenetKey) ?? { loaded: [], idle: [] };
    into.set(tilenetKey, g);
    g.idleCpuPct = round1(tiles.reduce((a, n) => a + (idle.get(n) ?? 0), 0));
    g.idleCpuBy = tiles.map((n) => `${n} ${round1(idle.get(n) ?? 0)}`).join(", ");
    g.unprompted = unpromptedLatency(t.root, w, TICKER_PORT, t.opts.unprompted);
    if (refs) {
      for (const key of ["node_dgram", "c"]) {
        const r = into.get(key);
        if (r) r.idleCpuPct = round1(idle.get(key) ?? 0);
      }
      const kernel: Gathered = { loaded: [], idle: [], idleCpuPct: round1(idle.get("dgram_ticker") ?? 0) };
      kernel.unprompted = unpromptedLatency(t.root, w, DGRAM_TICKER_PORT, t.opts.unprompted);
      into.set("kernel_dgram_send", kernel);
    }
  } finally {
    refs?.stop();
  }
}

/** A tilenet instance in `mode`: the launcher's lab unless --via direct (or the lab is unusable). */
async function startWorld(
  t: Tools,
  variant: Variant,
  budgetS: number,
  cleanups: Cleanups,
  lines: string[],
): Promise<World> {
  if (t.opts.via !== "direct") {
    const got = await launcherWorld(t.root, variant, budgetS, cleanups);
    if (typeof got !== "string") return got;
    if (t.opts.via === "launcher") throw new Error(`echo bench: --via launcher: ${got}`);
    lines.push(`(launcher not usable: ${got}; using the direct topology)`);
  }
  return directWorld(t.opts, variant, t.root, cleanups);
}

async function runCleanups(cleanups: Cleanups): Promise<void> {
  const errors: string[] = [];
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  cleanups.length = 0;
  if (errors.length > 0) process.stderr.write(`echo bench clean-up problems: ${errors.join("; ")}\n`);
}

function compileTools(root: string, opts: Options, cleanups: Cleanups): Tools {
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
  return { root, loadExe, serverExe, opts };
}

export const echoBench: Bench = async (args) => {
  const opts = parseOptions(args);
  if (process.getuid?.() !== 0) throw new Error("echo bench: must run as root (namespaces, XDP)");
  const root = findRoot();
  const toolCleanups: Cleanups = [];
  const gathered = new Map<string, Gathered>();
  const lines: string[] = [];
  const after = new Map<string, ReturnType<World["metrics"]>>();
  try {
    const tools = compileTools(root, opts, toolCleanups);
    const perServerS = opts.seconds + opts.idleSeconds + 2;
    const budgetS = Math.ceil(opts.runs * SERVERS.length * perServerS + opts.idleCpuSeconds + 40);
    for (const [i, variant] of variantsOf(opts).entries()) {
      const cleanups: Cleanups = [];
      let world: World | undefined;
      try {
        world = await startWorld(tools, variant, budgetS, cleanups, lines);
        lines.push(`${variantKey(variant)}: ${world.how}`);
        await measureWorld(tools, world, variant, i === 0, budgetS, gathered);
        after.set(variantKey(variant), world.metrics());
      } finally {
        if (world) await world.stop().catch((e: Error) => process.stderr.write(`stop: ${e.message}\n`));
        await runCleanups(cleanups);
      }
    }
  } finally {
    await runCleanups(toolCleanups);
  }
  return report(opts, gathered, after, lines);
};

/** Figures (medians) and the printed table with the issue's targets. */
function report(
  opts: Options,
  gathered: Map<string, Gathered>,
  after: Map<string, ReturnType<World["metrics"]>>,
  lines: string[],
): { figures: Record<string, number>; lines: string[] } {
  const figures: Record<string, number> = {};
  for (const [key, r] of gathered) {
    if (r.loaded.length > 0) {
      figures[`${key}_pps`] = Math.round(median(r.loaded.map((x) => x.pps)));
      figures[`${key}_p50_us`] = median(r.loaded.map((x) => x.p50_us));
      figures[`${key}_p99_us`] = median(r.loaded.map((x) => x.p99_us));
      figures[`${key}_rtt_p50_us`] = median(r.idle.map((x) => x.p50_us));
      figures[`${key}_rtt_p99_us`] = median(r.idle.map((x) => x.p99_us));
      figures[`${key}_lost`] = r.loaded.reduce((a, x) => a + x.lost, 0) + r.idle.reduce((a, x) => a + x.lost, 0);
      figures[`${key}_cpu_pct`] = median(r.loaded.map((x) => x.server_cpu_pct ?? Number.NaN));
      figures[`${key}_cpu_us_per_echo`] = median(r.loaded.map((x) => x.server_cpu_us_per_echo ?? Number.NaN));
    }
    if (r.idleCpuPct !== undefined) figures[`${key}_idle_cpu_pct`] = r.idleCpuPct;
    if (r.unprompted) {
      figures[`${key}_unprompted_p50_us`] = round1(r.unprompted.p50_us);
      figures[`${key}_unprompted_p99_us`] = round1(r.unprompted.p99_us);
      figures[`${key}_unprompted_max_us`] = round1(r.unprompted.max_us);
      figures[`${key}_unprompted_received`] = r.unprompted.received;
    }
  }
  const f = (k: string): number => figures[k] ?? Number.NaN;
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  lines.push(
    `${opts.runs} runs x ${opts.seconds} s loaded (window ${opts.window}, bursts of ${opts.burst}, ${opts.size}-byte payloads) + ${opts.idleSeconds} s one-at-a-time, per server; medians`,
  );
  lines.push(
    "server          pps(loaded)  p50 us  p99 us | rtt p50 us  rtt p99 us | lost | cpu %  cpu us/echo | idle cpu %",
  );
  for (const [key, r] of gathered) {
    if (r.loaded.length === 0) continue;
    lines.push(
      `${key.padEnd(15)} ${String(f(`${key}_pps`)).padStart(11)} ${f(`${key}_p50_us`).toFixed(1).padStart(7)} ${f(`${key}_p99_us`).toFixed(1).padStart(7)} | ${f(`${key}_rtt_p50_us`).toFixed(1).padStart(10)} ${f(`${key}_rtt_p99_us`).toFixed(1).padStart(11)} | ${String(f(`${key}_lost`)).padStart(4)} | ${String(f(`${key}_cpu_pct`)).padStart(5)} ${f(`${key}_cpu_us_per_echo`).toFixed(1).padStart(12)} | ${String(r.idleCpuPct ?? "-").padStart(10)}`,
    );
  }
  for (const [key, r] of gathered)
    if (r.idleCpuBy)
      lines.push(`idle CPU over ${opts.idleCpuSeconds} s, ${key}: ${r.idleCpuPct}% of one core (${r.idleCpuBy})`);
  for (const [key, r] of gathered) {
    const u = r.unprompted;
    if (u)
      lines.push(
        `unprompted send -> peer, ${key}: p50 ${u.p50_us.toFixed(1)} us, p99 ${u.p99_us.toFixed(1)} us, max ${u.max_us.toFixed(1)} us (${u.received}/${u.expected} arrived, one every ${UNPROMPTED_INTERVAL_MS} ms)`,
      );
  }
  targets(figures, f, ratio, lines);
  tileCounters(after, lines);
  return { figures, lines };
}

/** The issue's targets, each against the reference of the same run. */
function targets(
  figures: Record<string, number>,
  f: (k: string) => number,
  ratio: (a: number, b: number) => number,
  lines: string[],
): void {
  const verdict = (ok: boolean): string => (ok ? "PASS" : "MISS");
  const check = (name: string, value: number, target: string, ok: boolean): void => {
    if (Number.isNaN(value)) return;
    figures[name] = value;
    lines.push(`${name} ${value}x (target ${target}: ${verdict(ok)})`);
  };
  const overNodeRtt = ratio(f("tilenet_rtt_p99_us"), f("node_dgram_rtt_p99_us"));
  check("tilenet_over_node_rtt_p99", overNodeRtt, "<= 1", overNodeRtt <= 1);
  const spinOverC = ratio(f("tilenet_spin_rtt_p99_us"), f("c_rtt_p99_us"));
  check("tilenet_spin_over_c_rtt_p99", spinOverC, "<= 1.2", spinOverC <= 1.2);
  const cpuOverC = ratio(f("tilenet_cpu_us_per_echo"), f("c_cpu_us_per_echo"));
  check("tilenet_over_c_cpu_per_echo", cpuOverC, "<= 1.2", cpuOverC <= 1.2);
  const ppsOverNode = ratio(f("tilenet_pps"), f("node_dgram_pps"));
  check("tilenet_over_node_pps", ppsOverNode, `>= ${TARGET_PPS_OVER_NODE}`, ppsOverNode >= TARGET_PPS_OVER_NODE);
  const ppsOverC = ratio(f("tilenet_pps"), f("c_pps"));
  check("tilenet_over_c_pps", ppsOverC, `>= ${TARGET_PPS_OVER_C}`, ppsOverC >= TARGET_PPS_OVER_C);
  const loadedOverNode = ratio(f("tilenet_p99_us"), f("node_dgram_p99_us"));
  check("tilenet_over_node_p99", loadedOverNode, "<= 1", loadedOverNode <= 1);
  const socketOverNode = ratio(f("tilenet_socket_pps"), f("node_dgram_pps"));
  const socketTarget = TARGET_SOCKET_PPS_OVER_NODE;
  check("tilenet_socket_over_node_pps", socketOverNode, `>= ${socketTarget}`, socketOverNode >= socketTarget);
}

/** The tiles' own view after each mode: time per datagram, context switches, idle wake causes. */
function tileCounters(after: Map<string, ReturnType<World["metrics"]>>, lines: string[]): void {
  for (const [mode, m] of after) {
    const { net, app } = m;
    if (!net || !app) continue;
    if (net.recvmmsg_calls !== undefined) {
      const per = (k: string, n: number | undefined): string => ((net[k] ?? 0) / Math.max(1, n ?? 0)).toFixed(1);
      lines.push(
        `${mode}: datagrams per recvmmsg call (empty polls included) ${per("rx_packets", net.recvmmsg_calls)}, per sendmmsg ${per("tx_packets", net.sendmmsg_calls)}; net idle waits ${net.idle_polls}: woken by a socket ${net.idle_wakes_socket}, by an app ${net.idle_wakes_app}, timeouts ${net.idle_timeouts}; app ring full ${net.rx_app_ring_full}, socket full ${net.tx_socket_full}`,
      );
      continue;
    }
    const ns = (v: number | undefined, n: number | undefined): string => ((v ?? 0) / Math.max(1, n ?? 0)).toFixed(0);
    const per = (k: string): string => ((net[k] ?? 0) / Math.max(1, net.tx_packets ?? 0)).toFixed(3);
    lines.push(
      `${mode}: tile time per datagram (busy polls only) net ${ns(net.busy_ns, net.rx_packets)} ns, echo ${ns(app.busy_ns, app.rx_packets)} ns; context switches net ${net.context_switches_voluntary}/${net.context_switches_involuntary} echo ${app.context_switches_voluntary}/${app.context_switches_involuntary} (voluntary/involuntary); net idle waits ${net.xsk_idle_polls}: woken by the socket ${net.idle_wakes_socket}, by an app ${net.idle_wakes_app}, timeouts ${net.idle_timeouts}; kicks/packet ${per("xsk_tx_kicks")}, app ring full ${net.rx_app_ring_full}, kernel rx drops ${net.xsk_rx_dropped}`,
    );
  }
}
