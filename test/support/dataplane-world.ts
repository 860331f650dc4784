// The data plane assembled in the test process, without the launcher: XDP + AF_XDP socket on the
// tile's interface (setUpXdp, as the launcher does), netbase written from a real rtnetlink dump of
// the tile namespace, the solicit ring, one channel pair per app, the net tile body and app tile
// bodies, pumped by the test. The test plays the netlink tile when it wants to (refreshNetbase,
// solicits, probe).
import { setImmediate as yieldToLoop } from "node:timers/promises";
import type { MetricsWriter } from "../../shared/metrics/writer";
import { type NativeAddon, native } from "../../shared/native";
import { initNetbase, netbaseRegionSize } from "../../shared/netbase/layout";
import type { Netbase6Lookups } from "../../shared/netbase/v6";
import { NetbaseWriter } from "../../shared/netbase/writer";
import { NetlinkClient } from "../../shared/netlink";
import { RingConsumer } from "../../shared/ring/consumer";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../../shared/ring/layout";
import { createSolicitFields, decodeSolicit, SOLICIT_BYTES, SolicitCode } from "../../shared/solicit/message";
import { setUpXdp, tearDownXdp, type XdpHandles } from "../../shared/xdp/attach";
import type { AppModule } from "../../tiles/app/api";
import { AppTileBody } from "../../tiles/app/body";
import { appMetrics } from "../../tiles/app/definition";
import { NetTileBody } from "../../tiles/net/body";
import { type NetTileConfig, netMetrics } from "../../tiles/net/definition";
import { captureLog, makeChannel, makeMetrics } from "./dataplane-helpers";
import type { Topology } from "./dataplane-netns";

export const GEOMETRY = {
  frameSize: 2048,
  frameCount: 1024,
  fillDepth: 512,
  completionDepth: 512,
  rxDepth: 512,
  txDepth: 512,
} as const;

export interface WorldApp {
  name: string;
  ports: number[];
  module: AppModule;
}

export interface WorldOptions {
  topo: Topology;
  /** Ports the XDP program redirects (may include ports no app owns). */
  xdpPorts: number[];
  apps: WorldApp[];
  channelDepth?: number;
  maxPayload?: number;
  mode?: "skb" | "drv";
  /** Net tile config overrides. */
  net?: Partial<NetTileConfig>;
  /** The net tile's IPv6 lookups (a test's fake until netbase holds IPv6). */
  netbase6?: Netbase6Lookups;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class InProcessDataplane {
  readonly addon: NativeAddon = native();
  readonly xdp: XdpHandles;
  readonly net: NetTileBody;
  readonly netMetrics: MetricsWriter;
  readonly apps: AppTileBody[] = [];
  readonly appMetrics: MetricsWriter[] = [];
  readonly netbaseWriter: NetbaseWriter;
  readonly netLog = captureLog();
  private readonly nlFd: number;
  private readonly nl: NetlinkClient;
  private readonly probeFd: number;
  private readonly solicits: RingConsumer;
  private readonly solicitFields = createSolicitFields();
  private closed = false;

  constructor(readonly opts: WorldOptions) {
    const addon = this.addon;
    const topo = opts.topo;
    const depth = opts.channelDepth ?? 256;
    const maxPayload = opts.maxPayload ?? 1472;
    this.xdp = setUpXdp({
      netnsPath: topo.tile.path,
      ifname: topo.tile.dev,
      ports: opts.xdpPorts,
      mode: opts.mode ?? "skb",
      queueId: 0,
      ...GEOMETRY,
    });
    const opened: number[] = [];
    try {
      const caps = { routes: 256, neighbors: 256, interfaces: 16, addrsPerInterface: 4 };
      const netbase = new ArrayBuffer(netbaseRegionSize(caps));
      initNetbase(netbase, caps);
      this.netbaseWriter = new NetbaseWriter(netbase);
      const saved = addon.netnsEnter(topo.tile.path);
      try {
        this.nlFd = addon.netlinkOpen(0, 0);
        opened.push(this.nlFd);
        this.probeFd = addon.probeSocketOpen();
        opened.push(this.probeFd);
      } finally {
        addon.netnsRestore(saved);
      }
      this.nl = new NetlinkClient(this.nlFd);
      this.refreshNetbase();

      const solicitSpec: RingSpec = { kind: "unreliable", depth: 128, slotSize: SOLICIT_BYTES };
      const sizes = ringRegionSizes(solicitSpec);
      const solicit = {
        producer: new ArrayBuffer(sizes.producerBytes),
        consumer: new ArrayBuffer(sizes.consumerBytes),
      };
      initRingRegions(solicit.producer, solicit.consumer, solicitSpec);
      this.solicits = new RingConsumer("solicit", solicit.producer, solicit.consumer, solicitSpec);

      const channels = opts.apps.map(() => ({
        rx: makeChannel("rx", depth, maxPayload),
        tx: makeChannel("tx", depth, maxPayload),
      }));
      const umem = addon.mapFd(this.xdp.umemFd, GEOMETRY.frameSize * GEOMETRY.frameCount, true);
      const xskRings = addon.xskMapRings(
        this.xdp.xskFd,
        GEOMETRY.fillDepth,
        GEOMETRY.completionDepth,
        GEOMETRY.rxDepth,
        GEOMETRY.txDepth,
      );
      this.netMetrics = makeMetrics("net", "net", netMetrics);
      this.net = new NetTileBody({
        config: {
          ifindex: this.xdp.ifindex,
          queueId: 0,
          ...GEOMETRY,
          apps: opts.apps.map((a) => ({ name: a.name, ports: a.ports })),
          channelDepth: depth,
          maxPayload,
          solicitRing: solicitSpec,
          ...opts.net,
        },
        metrics: this.netMetrics,
        log: this.netLog,
        netbase,
        ...(opts.netbase6 ? { netbase6: opts.netbase6 } : {}),
        umem,
        xskFd: this.xdp.xskFd,
        xskRings,
        solicit,
        apps: channels,
      });
      opts.apps.forEach((a, i) => {
        const metrics = makeMetrics(`app-${a.name}`, "app", appMetrics);
        this.appMetrics.push(metrics);
        const ch = channels[i];
        if (!ch) throw new Error("no channel");
        this.apps.push(
          new AppTileBody({
            config: { name: a.name, modulePath: "test", ports: a.ports, settings: {}, channelDepth: depth, maxPayload },
            metrics,
            module: a.module,
            log: captureLog(),
            rx: ch.rx,
            tx: ch.tx,
          }),
        );
      });
    } catch (e) {
      for (const fd of opened) addon.closeFd(fd);
      tearDownXdp(this.xdp);
      throw e;
    }
  }

  /** What the netlink tile does continuously: netbase := the tile namespace's kernel state. */
  refreshNetbase(): void {
    this.netbaseWriter.resync(this.nl.fullSnapshot());
  }

  /** Runs the bodies (and housekeeping) until `until` holds; false on timeout. Yields to the event
   *  loop between slices so child processes' output is read. */
  async pump(until: () => boolean, timeoutMs: number, runApps = true): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!until()) {
      if (performance.now() > deadline) return false;
      let work = 0;
      for (let i = 0; i < 50; i++) {
        const now = performance.now();
        work += this.net.poll(now);
        if (runApps) for (const a of this.apps) work += a.poll(now);
      }
      this.net.housekeeping(performance.now());
      if (work > 0) await yieldToLoop();
      else await sleep(1);
    }
    return true;
  }

  /** Solicits published since the last call, decoded (what the netlink tile would receive). */
  takeSolicits(): { ip: number; ifindex: number }[] {
    const got: { ip: number; ifindex: number }[] = [];
    const f = this.solicitFields;
    while (
      this.solicits.poll(64, (offset) => {
        if (decodeSolicit(this.solicits.dv, offset, f) === SolicitCode.ok) got.push({ ip: f.ip, ifindex: f.ifindex });
        else got.push({ ip: -1, ifindex: -1 });
      }) > 0
    );
    return got;
  }

  /** What the netlink tile does for a solicit: an empty datagram that makes the kernel resolve ip. */
  probe(ip: number): number {
    return this.addon.probeSend(this.probeFd, ip >>> 0, this.xdp.ifindex, 9);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.net.close();
    } finally {
      this.addon.closeFd(this.nlFd);
      this.addon.closeFd(this.probeFd);
      tearDownXdp(this.xdp);
    }
  }
}
