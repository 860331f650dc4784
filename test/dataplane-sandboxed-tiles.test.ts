// The real tile programs (dist/tiles/net.js, dist/tiles/app.js) started the way the launcher
// starts them (staged runtime, tilenet-exec: uid nobody, no capabilities, own namespaces; the
// tile runtime's seccomp filter with KILL as default) on granted memfd regions and the AF_XDP
// socket. Proves the net and app policies allow everything the bodies do (RX, TX kicks, idle
// polls, statistics, futex sleeps), that an echo client gets every datagram back through two
// sandboxed processes, that SIGTERM stops them cleanly, and that an app making a forbidden system
// call dies of SIGSYS while one whose ports disagree with the config fails with a clear error.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultConfig, defaultRestartPolicy, type InstanceConfig } from "../launcher/config";
import { Keeper } from "../launcher/keeper";
import { provisionInstance, resolveInterfaces, stageTileFiles, UndoStack } from "../launcher/plan";
import { RegionSet } from "../launcher/regions";
import { type StagedRuntime, stageRuntime } from "../launcher/stage";
import { spawnTile, type TileCommon, type TileLaunch, type TileProcess, tileExecArgv } from "../launcher/tile-process";
import {
  channelGroups,
  describeApp,
  describeInstance,
  type InstanceTopology,
  metricsGroup,
  netWakeName,
} from "../launcher/topology";
import { MetricsReader } from "../shared/metrics/reader";
import { native } from "../shared/native";
import { NetbaseWriter } from "../shared/netbase/writer";
import { NetlinkClient } from "../shared/netlink";
import { appMetrics } from "../tiles/app/definition";
import { destroyNamespaces, type JsonChild, nodeInNs, type Topology, twoNamespaces } from "./support/dataplane-netns";
import { GEOMETRY } from "./support/dataplane-world";
import { describeAsRoot } from "./support/root";

const PEER = new URL("../dist/test/fixtures/net-udp-peer.js", import.meta.url).pathname;
const APPS = join(__dirname, "fixtures", "apps");
const ECHO_PORT = 7000;
const DEPTH = 256;
const MAX_PAYLOAD = 1472;
const COUNT = 3000;

/** The instance config these tiles run with: the launcher's schema, no netlink tile. */
function dataplaneConfig(t: Topology): InstanceConfig {
  const d = defaultConfig();
  return {
    ...d,
    net: {
      ...d.net,
      interfaces: [t.tile.dev],
      netns: t.tile.path,
      xdpMode: "skb",
      queue: 0,
      frameSize: GEOMETRY.frameSize,
      frameCount: GEOMETRY.frameCount,
      ringDepth: GEOMETRY.fillDepth,
    },
    netbase: { ...d.netbase, routes: 256, neighbors: 256, interfaces: 16, addrsPerInterface: 4 },
    netlink: { ...d.netlink, enabled: false },
    rings: { depth: DEPTH },
    apps: [{ name: "echo", module: "builtin:echo", ports: [ECHO_PORT], settings: {}, restart: defaultRestartPolicy() }],
  };
}

describeAsRoot("net and app tiles as sandboxed processes (needs root)", () => {
  const addon = native();
  const fds: number[] = [];
  const regions = new RegionSet(`dptest-${process.pid}`);
  const undo = new UndoStack();
  const log = pino({ level: "warn" });
  const tiles: TileProcess[] = [];
  const logs: string[] = [];
  const kids: JsonChild[] = [];
  let topo: Topology | undefined;
  let staged: StagedRuntime | undefined;
  const stageDir = join(tmpdir(), `tn-dataplane-stage-${process.pid}`);

  /** Makes what the description names (as the launcher does) and returns the tiles' launches. */
  const provision = (topology: InstanceTopology): TileLaunch[] => {
    stageTileFiles(staged as StagedRuntime, topology);
    return provisionInstance(topology, regions, undo, log).launches;
  };
  let keeperStarted: Keeper | undefined;
  let nextSlot = 0;
  const spawn = (launch: TileLaunch): TileProcess => {
    const common: TileCommon = {
      instance: "dptest",
      uid: 65534,
      gid: 65534,
      // The tiles need no network namespace of their own: a fresh empty one (the socket works anyway).
      netnsPath: undefined,
      unshare: ["mount", "ipc", "uts", "net"],
      landlock: true,
      logLevel: "info",
      onLogLine: (tile, line) => logs.push(`${tile}: ${line}`),
    };
    const slot = nextSlot++;
    keeperStarted ??= Keeper.start();
    const keeper = keeperStarted;
    keeper.register(slot, tileExecArgv(launch, common, keeper.pid));
    const tp = spawnTile(launch, common, keeper, slot);
    tiles.push(tp);
    return tp;
  };
  /** Throws naming any tile that died (exit code or signal) with the logs so far. */
  const alive = (): void => {
    for (const t of tiles) {
      if (t.exit !== null)
        throw new Error(`tile ${t.name} died (code ${t.exit.code}, signal ${t.exit.signal})\n${logs.join("\n")}`);
    }
  };
  const running = async (names: string[], timeoutMs: number): Promise<void> => {
    const readers = names.map((n) => new MetricsReader(regions.get(`metrics.${n}`).buf));
    const deadline = Date.now() + timeoutMs;
    while (!readers.every((r) => r.state === "running")) {
      alive();
      if (Date.now() > deadline)
        throw new Error(`tiles not running: ${readers.map((r) => r.state)}\n${logs.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  /** An app tile alone on its own channel (no net tile serves it), described as the launcher does. */
  const loneApp = (name: string, module: string): TileLaunch => {
    const app = { name, module, ports: [ECHO_PORT], settings: {}, restart: defaultRestartPolicy() };
    const channel = { depth: DEPTH, maxPayload: MAX_PAYLOAD };
    const launches = provision({
      instance: "dptest",
      groups: [...channelGroups(name, DEPTH, MAX_PAYLOAD), metricsGroup(name, "app", appMetrics)],
      // The wake eventfd an app is granted (no net tile sleeps on it here).
      sockets: [{ name: netWakeName("net"), kind: "eventfd" }],
      xdpInterfaces: [],
      xsks: [],
      tiles: [describeApp(app, channel, stageDir)],
    });
    return launches[0] as TileLaunch;
  };

  beforeAll(async () => {
    if (!existsSync(PEER) || !existsSync(join(__dirname, "..", "dist", "tiles", "net.js")))
      throw new Error("bundles missing: run `npm run build`");
    staged = stageRuntime(stageDir, ["net", "app"]);
    topo = await twoNamespaces("dpx", 45);
  });

  afterAll(async () => {
    for (const k of kids) k.kill();
    for (const t of tiles) if (t.exit === null) t.signal("SIGKILL");
    await Promise.all(tiles.map((t) => t.exited));
    await keeperStarted?.tearDown();
    try {
      undo.unwind(console);
    } finally {
      regions.closeAll();
      for (const fd of fds) addon.closeFd(fd);
      destroyNamespaces(topo?.namespaces ?? []);
      rmSync(stageDir, { recursive: true, force: true });
    }
  });

  it("echo through a sandboxed net tile and a sandboxed echo app tile; SIGTERM stops both cleanly", async () => {
    if (!topo || !staged) throw new Error("no set-up");
    const t = topo;
    const config = dataplaneConfig(t);
    const topology = describeInstance({
      instance: "dptest",
      config,
      runtimeDir: stageDir,
      interfaces: await resolveInterfaces(config),
    });
    const launches = provision(topology);
    // No netlink tile here: the test mirrors the tile namespace into netbase once, after the
    // client's address is resolved (nothing changes during the run).
    const writer = new NetbaseWriter(regions.get("netbase").buf);
    execFileSync("ip", ["netns", "exec", t.client.ns, "ping", "-c", "1", "-W", "2", t.tile.ip], { stdio: "ignore" });
    const saved = addon.netnsEnter(t.tile.path);
    let nlFd: number;
    try {
      nlFd = addon.netlinkOpen(0, 0);
    } finally {
      addon.netnsRestore(saved);
    }
    fds.push(nlFd);
    writer.resync(new NetlinkClient(nlFd).fullSnapshot());

    const [netLaunch, appLaunch] = launches;
    if (netLaunch?.kind !== "net" || appLaunch?.kind !== "app") throw new Error("expected a net and an app tile");
    const net = spawn(netLaunch);
    const app = spawn(appLaunch);
    await running(["net", "echo"], 20_000);
    alive();

    for (const tp of [net, app]) {
      const status = readFileSync(`/proc/${tp.pid}/status`, "utf8");
      expect(status).toMatch(/^Uid:\s+65534\s/m);
      expect(status).toMatch(/^CapEff:\s+0000000000000000$/m);
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(status).toMatch(/^Seccomp:\s+2$/m);
    }

    const client = nodeInNs(t.client.ns, PEER, {
      mode: "echo",
      host: t.tile.ip,
      port: ECHO_PORT,
      count: COUNT,
      size: 100,
      intervalMs: 0,
      window: 64,
      timeoutMs: 20_000,
    });
    kids.push(client);
    const code = await client.exited;
    alive();
    expect(code, client.stderr).toBe(0);
    expect(client.find((l) => l.done === true)).toEqual({
      done: true,
      sent: COUNT,
      received: COUNT,
      mismatched: 0,
      duplicates: 0,
      wrongSource: 0,
      firstEchoSeq: 0,
    });

    // Idle for a while: the net tile sleeps in poll(2) on its socket and the wake eventfd, the app
    // sleeps on its ring; statistics are read in housekeeping. All of it inside the filters (a denied call
    // would kill with SIGSYS).
    await new Promise((r) => setTimeout(r, 600));
    alive();
    const netM = new MetricsReader(regions.get("metrics.net").buf).snapshot();
    const appM = new MetricsReader(regions.get("metrics.echo").buf).snapshot();
    expect(netM.rx_delivered).toBe(COUNT);
    expect(netM.tx_completed).toBe(COUNT);
    expect(netM.xsk_tx_kicks).toBeGreaterThan(0);
    expect(netM.xsk_idle_polls).toBeGreaterThan(0);
    // Woken by received frames (answers mostly arrive while it still spins; the app's eventfd
    // signal is proven by net-wakes-for-unprompted-send.test.ts).
    expect(netM.idle_wakes_socket).toBeGreaterThan(0);
    expect(appM.rx_packets).toBe(COUNT);
    expect(appM.tx_packets).toBe(COUNT);
    expect(appM.handler_exceptions).toBe(0);
    expect(net.exit).toBeNull();
    expect(app.exit).toBeNull();

    net.signal("SIGTERM");
    app.signal("SIGTERM");
    expect(await net.exited).toEqual({ code: 0, signal: null });
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it("an app making a forbidden system call dies of SIGSYS; one with mismatched ports fails with a clear error", async () => {
    if (!staged) throw new Error("no set-up");
    const sys = spawn(loneApp("sys", join(APPS, "forbidden-syscall.js")));
    expect(await sys.exited).toEqual({ code: null, signal: "SIGSYS" });
    const wrong = spawn(loneApp("wrong", join(APPS, "wrong-ports.js")));
    expect((await wrong.exited).code).toBe(1);
    expect(
      logs.some((l) => l.startsWith("wrong:") && /exports ports \[1,2\] but the config gives \[7000\]/.test(l)),
    ).toBe(true);
  });

  it("runs an app module's top level only once every thread is under the tile's filter", async () => {
    if (!staged) throw new Error("no set-up");
    const probe = spawn(loneApp("probe", join(APPS, "top-level-probe.js")));
    const deadline = Date.now() + 15_000;
    while (!logs.some((l) => l.startsWith("probe:") && l.includes("top level:")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const line = logs.find((l) => l.startsWith("probe:") && l.includes("top level:")) ?? logs.join("\n");
    expect(line).toContain("top level: read failed: EPERM; require refused: true");
    probe.signal("SIGTERM");
    expect(await probe.exited).toEqual({ code: 0, signal: null });
  });
});
