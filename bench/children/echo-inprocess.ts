// Profiling aid for the echo benchmark: the net tile body and the echo app body in ONE process
// (no sandbox, no cross-process wake-ups), on an AF_XDP socket in a namespace pair this script
// makes, for `seconds`, while the C load generator (path given) hammers it from the peer side.
// Run under `node --cpu-prof` to see where the data plane's time goes. Prints one JSON line.
//   node echo-inprocess.js <echo_load path> <seconds> <window> [skb|drv]
import { execFileSync, spawn } from "node:child_process";
import { withCommonMetrics } from "../../shared/metrics/common";
import { initMetricsRegion, metricsRegionSize } from "../../shared/metrics/region";
import type { MetricDecl } from "../../shared/metrics/schema";
import { MetricsWriter } from "../../shared/metrics/writer";
import { inNetns, native } from "../../shared/native";
import { initNetbase, netbaseRegionSize } from "../../shared/netbase/layout";
import { NetbaseWriter } from "../../shared/netbase/writer";
import { NetlinkClient } from "../../shared/netlink";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../../shared/ring/layout";
import { SOLICIT_BYTES } from "../../shared/solicit/message";
import { initUdpChannel, type UdpChannelRegions, type UdpDirection, udpChannelSizes } from "../../shared/udp/channel";
import { setUpXdp, tearDownXdp } from "../../shared/xdp/attach";
import { AppTileBody } from "../../tiles/app/body";
import { appMetrics } from "../../tiles/app/definition";
import { echoApp } from "../../tiles/app/echo";
import { NetTileBody } from "../../tiles/net/body";
import { netMetrics } from "../../tiles/net/definition";

const [loadExe, secondsText, windowText, modeText] = process.argv.slice(2);
const seconds = Number(secondsText ?? 5);
const window = Number(windowText ?? 64);
const mode = modeText === "drv" ? "drv" : "skb";
const ip = (args: string[]): void => {
  execFileSync("ip", args, { stdio: "ignore" });
};
const tag = `${process.pid}`;
const tns = `tn-prof-t-${tag}`;
const pns = `tn-prof-p-${tag}`;
const quiet = { info() {}, warn() {}, error() {} };
const metrics = (name: string, kind: string, decls: readonly MetricDecl[]): MetricsWriter => {
  const all = withCommonMetrics(decls);
  const buf = new ArrayBuffer(metricsRegionSize(all));
  initMetricsRegion(buf, name, kind, all);
  return new MetricsWriter(buf);
};
const channel = (dir: UdpDirection, depth: number): UdpChannelRegions => {
  const s = udpChannelSizes(depth, 1472);
  const r = {
    producer: new ArrayBuffer(s.producerBytes),
    consumer: new ArrayBuffer(s.consumerBytes),
    data: new ArrayBuffer(s.dataBytes),
  };
  initUdpChannel(r.producer, r.consumer, r.data, dir, depth, 1472);
  return r;
};
ip(["netns", "add", tns]);
ip(["netns", "add", pns]);
try {
  ip(["-n", tns, "link", "add", "t0", "type", "veth", "peer", "name", "p0", "netns", pns]);
  ip(["-n", tns, "addr", "add", "198.18.63.1/24", "dev", "t0"]);
  ip(["-n", pns, "addr", "add", "198.18.63.2/24", "dev", "p0"]);
  for (const [ns, dev] of [
    [tns, "t0"],
    [pns, "p0"],
  ]) {
    ip(["netns", "exec", ns, "ethtool", "-K", dev, "tx", "off"]);
    ip(["-n", ns, "link", "set", dev, "up"]);
  }
  ip(["netns", "exec", pns, "ping", "-c", "1", "-W", "2", "198.18.63.1"]);
  const g = { frameSize: 2048, frameCount: 4096, fillDepth: 2048, completionDepth: 2048, rxDepth: 2048, txDepth: 2048 };
  const xdp = setUpXdp({ netnsPath: `/run/netns/${tns}`, ifname: "t0", ports: [7000], mode, queueId: 0, ...g });
  const addon = native();
  const caps = { routes: 256, neighbors: 256, interfaces: 16, addrsPerInterface: 4 };
  const netbase = new ArrayBuffer(netbaseRegionSize(caps));
  initNetbase(netbase, caps);
  const nl = inNetns(`/run/netns/${tns}`, () => addon.netlinkOpen(0, 0));
  new NetbaseWriter(netbase).resync(new NetlinkClient(nl).fullSnapshot());
  const spec: RingSpec = { kind: "unreliable", depth: 128, slotSize: SOLICIT_BYTES };
  const ss = ringRegionSizes(spec);
  const solicit = { producer: new ArrayBuffer(ss.producerBytes), consumer: new ArrayBuffer(ss.consumerBytes) };
  initRingRegions(solicit.producer, solicit.consumer, spec);
  const ch = { rx: channel("rx", 4096), tx: channel("tx", 4096) };
  const netM = metrics("net", "net", netMetrics);
  const net = new NetTileBody({
    config: {
      ifindex: xdp.ifindex,
      queueId: 0,
      ...g,
      apps: [{ name: "echo", ports: [7000] }],
      channelDepth: 4096,
      maxPayload: 1472,
      solicitRing: spec,
    },
    metrics: netM,
    netbase,
    umem: addon.mapFd(xdp.umemFd, g.frameSize * g.frameCount, true),
    xskFd: xdp.xskFd,
    xskRings: addon.xskMapRings(xdp.xskFd, g.fillDepth, g.completionDepth, g.rxDepth, g.txDepth),
    solicit,
    apps: [ch],
  });
  const appM = metrics("echo", "app", appMetrics);
  const app = new AppTileBody({
    config: {
      name: "echo",
      modulePath: "builtin:echo",
      ports: [7000],
      settings: {},
      channelDepth: 4096,
      maxPayload: 1472,
    },
    metrics: appM,
    module: echoApp,
    log: quiet,
    rx: ch.rx,
    tx: ch.tx,
  });
  const load = spawn(
    "ip",
    [
      "netns",
      "exec",
      pns,
      loadExe ?? "",
      "198.18.63.1",
      "7000",
      String(seconds),
      "0.5",
      "20000000",
      "64",
      String(window),
      "32",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  load.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  let exited = false;
  load.on("exit", () => {
    exited = true;
  });
  const pump = (): void => {
    const end = performance.now() + 20;
    while (performance.now() < end) {
      const now = performance.now();
      net.poll(now);
      app.poll(now);
    }
    net.housekeeping(performance.now());
    if (!exited) setImmediate(pump);
    else {
      const get = (m: MetricsWriter, n: string): number => m.get(m.index(n));
      process.stdout.write(
        `${JSON.stringify({ load: JSON.parse(out.trim() || "{}"), rx: get(netM, "rx_packets"), tx: get(netM, "tx_packets"), kicks: get(netM, "xsk_tx_kicks") })}\n`,
      );
      net.close();
      tearDownXdp(xdp);
      addon.closeFd(nl);
      ip(["netns", "del", tns]);
      ip(["netns", "del", pns]);
    }
  };
  setImmediate(pump);
} catch (e) {
  ip(["netns", "del", tns]);
  ip(["netns", "del", pns]);
  throw e;
}
