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
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StagedRuntime, stageRuntime } from "../launcher/stage";
import { spawnTile, type TileLaunch, type TileProcess, type TileRegionGrant } from "../launcher/tile-process";
import { withCommonMetrics } from "../shared/metrics/common";
import { MetricsReader } from "../shared/metrics/reader";
import { initMetricsRegion, metricsRegionSize } from "../shared/metrics/region";
import type { MetricDecl } from "../shared/metrics/schema";
import { native } from "../shared/native";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { NetbaseWriter } from "../shared/netbase/writer";
import { NetlinkClient } from "../shared/netlink";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { SOLICIT_BYTES } from "../shared/solicit/message";
import { initUdpChannel, udpChannelSizes } from "../shared/udp/channel";
import { setUpXdp, tearDownXdp, type XdpHandles } from "../shared/xdp/attach";
import { type AppTileConfig, appMetrics, appRegionRoles } from "../tiles/app/definition";
import { type NetTileConfig, netMetrics, netRegionRoles } from "../tiles/net/definition";
import { destroyNamespaces, isRoot, type JsonChild, nodeInNs, type Topology, twoNamespaces } from "./dataplane-netns";
import { GEOMETRY } from "./dataplane-world";

const PEER = new URL("../dist/test/fixtures/net-udp-peer.js", import.meta.url).pathname;
const APPS = join(__dirname, "fixtures", "apps");
const ECHO_PORT = 7000;
const DEPTH = 256;
const MAX_PAYLOAD = 1472;
const COUNT = 3000;

interface Region {
  name: string;
  fd: number;
  size: number;
  buf: ArrayBuffer;
}

describe.skipIf(!isRoot)("net and app tiles as sandboxed processes (needs root)", () => {
  const addon = native();
  const fds: number[] = [];
  const regions = new Map<string, Region>();
  const tiles: TileProcess[] = [];
  const logs: string[] = [];
  const kids: JsonChild[] = [];
  let topo: Topology | undefined;
  let xdp: XdpHandles | undefined;
  let staged: StagedRuntime | undefined;
  const stageDir = join(tmpdir(), `tn-dataplane-stage-${process.pid}`);

  const region = (name: string, size: number): Region => {
    const fd = addon.memfdCreate(`tn-test-${name}`, size);
    fds.push(fd);
    const r = { name, fd, size, buf: addon.mapFd(fd, size, true) };
    regions.set(name, r);
    return r;
  };
  const grant = (role: string, name: string, writable: boolean): TileRegionGrant => {
    const r = regions.get(name);
    if (!r) throw new Error(`no region ${name}`);
    let fd = r.fd;
    if (!writable) {
      fd = addon.openPath(`/proc/self/fd/${r.fd}`, false);
      fds.push(fd);
    }
    return { role, launcherFd: fd, size: r.size, writable };
  };
  const metricsRegion = (tile: string, kind: string, decls: readonly MetricDecl[]): Region => {
    const all = withCommonMetrics(decls);
    const r = region(`metrics.${tile}`, metricsRegionSize(all));
    initMetricsRegion(r.buf, tile, kind, all);
    return r;
  };
  const spawn = (launch: TileLaunch): TileProcess => {
    const tp = spawnTile(launch, {
      instance: "dptest",
      uid: 65534,
      gid: 65534,
      // The tiles need no network namespace of their own: a fresh empty one (the socket works anyway).
      netnsPath: undefined,
      unshare: ["mount", "ipc", "uts", "net"],
      landlock: true,
      logLevel: "info",
      onLogLine: (tile, line) => logs.push(`${tile}: ${line}`),
    });
    tiles.push(tp);
    return tp;
  };
  /** Throws naming any tile that died (exit code or signal) with the logs so far. */
  const alive = (): void => {
    for (const t of tiles) {
      const { exitCode, signalCode } = t.child;
      if (exitCode !== null || signalCode !== null)
        throw new Error(`tile ${t.name} died (code ${exitCode}, signal ${signalCode})\n${logs.join("\n")}`);
    }
  };
  const running = async (names: string[], timeoutMs: number): Promise<void> => {
    const readers = names.map((n) => new MetricsReader((regions.get(`metrics.${n}`) as Region).buf));
    const deadline = Date.now() + timeoutMs;
    while (!readers.every((r) => r.state === "running")) {
      alive();
      if (Date.now() > deadline)
        throw new Error(`tiles not running: ${readers.map((r) => r.state)}\n${logs.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const appLaunch = (name: string, modulePath: string, ports: number[], prefix: string): TileLaunch => {
    const cfg: AppTileConfig = {
      name,
      modulePath,
      ports,
      settings: {},
      channelDepth: DEPTH,
      maxPayload: MAX_PAYLOAD,
    };
    metricsRegion(name, "app", appMetrics);
    const source: Record<string, string> = {
      metrics: `metrics.${name}`,
      "rx.producer": `rx.${prefix}.producer`,
      "rx.consumer": `rx.${prefix}.consumer`,
      "rx.data": `rx.${prefix}.data`,
      "tx.producer": `tx.${prefix}.producer`,
      "tx.consumer": `tx.${prefix}.consumer`,
      "tx.data": `tx.${prefix}.data`,
    };
    return {
      name,
      kind: "app",
      bundle: (staged as StagedRuntime).tileBundle("app"),
      regions: appRegionRoles().map(({ role, writable }) => grant(role, source[role] ?? role, writable)),
      fds: [],
      config: cfg,
    };
  };
  const channels = (prefix: string): void => {
    const s = udpChannelSizes(DEPTH, MAX_PAYLOAD);
    for (const dir of ["rx", "tx"] as const) {
      const p = region(`${dir}.${prefix}.producer`, s.producerBytes);
      const c = region(`${dir}.${prefix}.consumer`, s.consumerBytes);
      const d = region(`${dir}.${prefix}.data`, s.dataBytes);
      initUdpChannel(p.buf, c.buf, d.buf, dir, DEPTH, MAX_PAYLOAD);
    }
  };

  beforeAll(() => {
    if (!existsSync(PEER) || !existsSync(join(__dirname, "..", "dist", "tiles", "net.js")))
      throw new Error("bundles missing: run `npm run build`");
    staged = stageRuntime(stageDir, ["net", "app"]);
    topo = twoNamespaces("dpx", 45);
  });

  afterAll(async () => {
    for (const k of kids) k.kill();
    for (const t of tiles) if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill("SIGKILL");
    await Promise.all(tiles.map((t) => t.exited));
    try {
      if (xdp) tearDownXdp(xdp);
    } finally {
      for (const fd of fds) addon.closeFd(fd);
      destroyNamespaces(topo?.namespaces ?? []);
      rmSync(stageDir, { recursive: true, force: true });
    }
  });

  it("echo through a sandboxed net tile and a sandboxed echo app tile; SIGTERM stops both cleanly", async () => {
    if (!topo || !staged) throw new Error("no set-up");
    const t = topo;
    xdp = setUpXdp({
      netnsPath: t.tile.path,
      ifname: t.tile.dev,
      ports: [ECHO_PORT],
      mode: "skb",
      queueId: 0,
      ...GEOMETRY,
    });
    const caps = { routes: 256, neighbors: 256, interfaces: 16, addrsPerInterface: 4 };
    const netbase = region("netbase", netbaseRegionSize(caps));
    initNetbase(netbase.buf, caps);
    const writer = new NetbaseWriter(netbase.buf);
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

    const solicitSpec: RingSpec = { kind: "unreliable", depth: 128, slotSize: SOLICIT_BYTES };
    const ss = ringRegionSizes(solicitSpec);
    const sp = region("solicit.0.producer", ss.producerBytes);
    const sc = region("solicit.0.consumer", ss.consumerBytes);
    initRingRegions(sp.buf, sc.buf, solicitSpec);
    regions.set("umem", {
      name: "umem",
      fd: xdp.umemFd,
      size: GEOMETRY.frameSize * GEOMETRY.frameCount,
      buf: new ArrayBuffer(0),
    });
    channels("echo");
    metricsRegion("net", "net", netMetrics);

    const netConfig: NetTileConfig = {
      ifindex: xdp.ifindex,
      queueId: 0,
      ...GEOMETRY,
      apps: [{ name: "echo", ports: [ECHO_PORT] }],
      channelDepth: DEPTH,
      maxPayload: MAX_PAYLOAD,
      solicitRing: solicitSpec,
      // Naps are off by default; on here to prove Atomics.wait passes the filter too.
      napWindowMs: 5,
    };
    const netSource: Record<string, string> = {
      metrics: "metrics.net",
      "solicit.producer": "solicit.0.producer",
      "solicit.consumer": "solicit.0.consumer",
    };
    const net = spawn({
      name: "net",
      kind: "net",
      bundle: staged.tileBundle("net"),
      regions: netRegionRoles(["echo"]).map(({ role, writable }) => grant(role, netSource[role] ?? role, writable)),
      fds: [{ role: "xsk", launcherFd: xdp.xskFd }],
      config: netConfig,
    });
    const app = spawn(appLaunch("echo", "builtin:echo", [ECHO_PORT], "echo"));
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

    // Idle for a while: the net tile naps (Atomics.wait) then polls the socket, the app sleeps on
    // its ring; statistics are read in housekeeping. All of it inside the filters (a denied call
    // would kill with SIGSYS).
    await new Promise((r) => setTimeout(r, 600));
    alive();
    const netM = new MetricsReader((regions.get("metrics.net") as Region).buf).snapshot();
    const appM = new MetricsReader((regions.get("metrics.echo") as Region).buf).snapshot();
    expect(netM.rx_delivered).toBe(COUNT);
    expect(netM.tx_completed).toBe(COUNT);
    expect(netM.xsk_tx_kicks).toBeGreaterThan(0);
    expect(netM.xsk_idle_polls).toBeGreaterThan(0);
    expect(netM.idle_naps).toBeGreaterThan(0);
    expect(appM.rx_packets).toBe(COUNT);
    expect(appM.tx_packets).toBe(COUNT);
    expect(appM.handler_exceptions).toBe(0);
    expect(net.child.exitCode).toBeNull();
    expect(app.child.exitCode).toBeNull();

    net.child.kill("SIGTERM");
    app.child.kill("SIGTERM");
    expect(await net.exited).toEqual({ code: 0, signal: null });
    expect(await app.exited).toEqual({ code: 0, signal: null });
  });

  it("an app making a forbidden system call dies of SIGSYS; one with mismatched ports fails with a clear error", async () => {
    if (!staged) throw new Error("no set-up");
    channels("bad1");
    channels("bad2");
    const modulePath = staged.stageAppModule("sys", join(APPS, "forbidden-syscall.js"));
    const sys = spawn(appLaunch("sys", modulePath, [7000], "bad1"));
    expect(await sys.exited).toEqual({ code: null, signal: "SIGSYS" });
    const wrongPath = staged.stageAppModule("wrong", join(APPS, "wrong-ports.js"));
    const wrong = spawn(appLaunch("wrong", wrongPath, [7000], "bad2"));
    expect((await wrong.exited).code).toBe(1);
    expect(
      logs.some((l) => l.startsWith("wrong:") && /exports ports \[1,2\] but the config gives \[7000\]/.test(l)),
    ).toBe(true);
  });

  it("runs an app module's top level only once every thread is under the tile's filter", async () => {
    if (!staged) throw new Error("no set-up");
    channels("probe");
    const modulePath = staged.stageAppModule("probe", join(APPS, "top-level-probe.js"));
    const probe = spawn(appLaunch("probe", modulePath, [7000], "probe"));
    const deadline = Date.now() + 15_000;
    while (!logs.some((l) => l.startsWith("probe:") && l.includes("top level:")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const line = logs.find((l) => l.startsWith("probe:") && l.includes("top level:")) ?? logs.join("\n");
    expect(line).toContain("top level: read failed: EPERM; require refused: true");
    probe.child.kill("SIGTERM");
    expect(await probe.exited).toEqual({ code: 0, signal: null });
  });
});
