// Plans an instance's topology and makes every privileged resource the tiles will hold: shared
// regions (metrics per tile, netbase, rings), rtnetlink and probe sockets in the instance's
// network namespace. Each resource is registered with the undo stack as soon as it exists.
import type { Logger } from "../shared/log";
import { withCommonMetrics } from "../shared/metrics/common";
import { initMetricsRegion, metricsRegionSize } from "../shared/metrics/region";
import type { MetricDecl } from "../shared/metrics/schema";
import { inNetns, native } from "../shared/native";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { RTMGRP_TILENET } from "../shared/netlink/constants";
import { parseIp } from "../shared/netmodel";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { SOLICIT_BYTES } from "../shared/solicit/message";
import { initUdpChannel, UDP_DEFAULT_MAX_PAYLOAD, udpChannelSizes } from "../shared/udp/channel";
import { setUpXdp, tearDownXdp } from "../shared/xdp/attach";
import { type AppTileConfig, appMetrics, appRegionRoles } from "../tiles/app/definition";
import { NET_FDS, type NetTileConfig, netMetrics, netRegionRoles } from "../tiles/net/definition";
import { NETLINK_FDS, type NetlinkTileConfig, netlinkMetrics } from "../tiles/netlink/definition";
import type { InstanceConfig } from "./config";
import type { RegionSet } from "./regions";
import type { StagedRuntime } from "./stage";
import type { TileLaunch, TileRegionGrant } from "./tile-process";

export interface Undo {
  push(what: string, run: () => void): void;
}

export interface InstancePlan {
  tiles: TileLaunch[];
  metricsRegionOf(tile: string): string;
  /** Copies files tiles load (app modules) into the staged runtime and points the configs at them. */
  stageFiles(staged: StagedRuntime): void;
}

/** The probe datagrams go to the discard port: nothing answers, the kernel ARPs on the way. */
const PROBE_PORT = 9;

export function planInstance(
  instance: string,
  config: InstanceConfig,
  regions: RegionSet,
  undo: Undo,
  log: Logger,
): InstancePlan {
  const addon = native();
  const ns = config.net.netns;
  const tiles: TileLaunch[] = [];
  const metricsOf = new Map<string, string>();

  const rw = (role: string, name: string): TileRegionGrant => {
    const r = regions.get(name);
    return { role, launcherFd: r.fd, size: r.size, writable: true };
  };
  const ro = (role: string, name: string): TileRegionGrant => {
    const r = regions.get(name);
    return { role, launcherFd: regions.readOnlyFd(name), size: r.size, writable: false };
  };
  const metricsRegion = (tile: string, kind: string, decls: readonly MetricDecl[]): TileRegionGrant => {
    const all = withCommonMetrics(decls);
    const name = `metrics.${tile}`;
    const region = regions.create(name, "metrics", metricsRegionSize(all));
    initMetricsRegion(region.buf, tile, kind, all);
    metricsOf.set(tile, name);
    return rw("metrics", name);
  };
  const ring = (prefix: string, spec: RingSpec): void => {
    const sizes = ringRegionSizes(spec);
    const p = regions.create(`${prefix}.producer`, "ring-producer", sizes.producerBytes);
    const c = regions.create(`${prefix}.consumer`, "ring-consumer", sizes.consumerBytes);
    initRingRegions(p.buf, c.buf, spec);
  };
  const ownFd = (what: string, fd: number): number => {
    undo.push(`close ${what}`, () => addon.closeFd(fd));
    return fd;
  };

  // The interface the net tile serves, looked up in its namespace.
  const netIfindexes: number[] = [];
  if (config.net.interface) {
    const ifindex = inNetns(ns, () => addon.ifNameToIndex(config.net.interface));
    if (ifindex === 0)
      throw new Error(`net.interface: no interface named ${config.net.interface}${ns ? ` in ${ns}` : ""}`);
    netIfindexes.push(ifindex);
  }

  // netbase: written by the netlink tile only.
  const caps = {
    routes: config.netbase.routes,
    neighbors: config.netbase.neighbors,
    interfaces: config.netbase.interfaces,
    addrsPerInterface: config.netbase.addrsPerInterface,
  };
  const netbase = regions.create("netbase", "netbase", netbaseRegionSize(caps));
  initNetbase(netbase.buf, caps, { alreadyZero: true }); // a fresh memfd

  // One solicit ring per net tile (producer: the net tile; consumer: the netlink tile).
  const solicitRings = netIfindexes.map((_, i) => `solicit.${i}`);
  for (const prefix of solicitRings)
    ring(prefix, { kind: "unreliable", depth: config.solicit.ringDepth, slotSize: SOLICIT_BYTES });

  if (config.netlink.enabled) {
    const events = ownFd(
      "netlink event socket",
      inNetns(ns, () => addon.netlinkOpen(RTMGRP_TILENET, config.netlink.rcvbufBytes)),
    );
    const requests = ownFd(
      "netlink request socket",
      inNetns(ns, () => addon.netlinkOpen(0, 0)),
    );
    const probe = ownFd(
      "probe socket",
      // Bound to the net tile's interface: probes leave through it only (see netlinkPolicy).
      inNetns(ns, () => addon.probeSocketOpen(netIfindexes.length === 1 ? netIfindexes[0] : 0)),
    );
    const netlinkConfig: NetlinkTileConfig = {
      solicit: {
        netIfindexes,
        capacity: config.solicit.pendingCapacity,
        dedupeIntervalMs: config.solicit.dedupeIntervalMs,
        perHostIntervalMs: config.solicit.perHostIntervalMs,
        ratePerS: config.solicit.ratePerS,
        burst: config.solicit.burst,
      },
      solicitRings,
      verifyIntervalMs: config.netlink.verifyIntervalS * 1000,
      probePort: PROBE_PORT,
      resolveWith: config.netlink.keepNetAdmin ? "ntf-use" : "udp-probe",
    };
    tiles.push({
      name: "netlink",
      kind: "netlink",
      bundle: "",
      // The writer keeps its route model and, during a resync, a full dump in its heap.
      heapMb: 64 + Math.ceil((config.netbase.routes + config.netbase.neighbors) / 512),
      keepNetAdmin: config.netlink.keepNetAdmin,
      regions: [
        metricsRegion("netlink", "netlink", netlinkMetrics),
        rw("netbase", "netbase"),
        ...solicitRings.flatMap((p) => [ro(`${p}.producer`, `${p}.producer`), rw(`${p}.consumer`, `${p}.consumer`)]),
      ],
      fds: [
        { role: NETLINK_FDS.events, launcherFd: events },
        { role: NETLINK_FDS.requests, launcherFd: requests },
        { role: NETLINK_FDS.probe, launcherFd: probe },
      ],
      config: netlinkConfig,
    });
  }

  // The data plane: one net tile on the interface (AF_XDP, queue config.net.queue) and an app
  // tile per [[app]], joined by a UDP channel each way (ring + payload region).
  const appLaunches: { launch: TileLaunch; app: InstanceConfig["apps"][number] }[] = [];
  if (config.net.enabled && netIfindexes.length > 0) {
    const ports = config.apps.flatMap((a) => a.ports);
    if (ports.length === 0) throw new Error("net tile without apps: add an [[app]] (or set net.enabled = false)");
    const xdp = setUpXdp({
      umemName: `tilenet:${instance}:umem`,
      netnsPath: ns,
      ifname: config.net.interface,
      ports,
      dstIp: config.net.dstIp ? parseIp(config.net.dstIp) : undefined,
      mode: config.net.xdpMode,
      queueId: config.net.queue,
      frameSize: config.net.frameSize,
      frameCount: config.net.frameCount,
      fillDepth: config.net.ringDepth,
      completionDepth: config.net.ringDepth,
      rxDepth: config.net.ringDepth,
      txDepth: config.net.ringDepth,
    });
    undo.push("detach XDP and close the AF_XDP socket", () => tearDownXdp(xdp));
    log.info({ mode: xdp.mode, ifindex: xdp.ifindex, ports }, "XDP attached");

    const depth = config.rings.depth;
    const maxPayload = UDP_DEFAULT_MAX_PAYLOAD;
    const sizes = udpChannelSizes(depth, maxPayload);
    for (const app of config.apps) {
      for (const dir of ["rx", "tx"] as const) {
        const p = regions.create(`${dir}.${app.name}.producer`, "ring-producer", sizes.producerBytes);
        const c = regions.create(`${dir}.${app.name}.consumer`, "ring-consumer", sizes.consumerBytes);
        const d = regions.create(`${dir}.${app.name}.data`, "data", sizes.dataBytes);
        initUdpChannel(p.buf, c.buf, d.buf, dir, depth, maxPayload);
      }
    }
    const solicitRing = { kind: "unreliable" as const, depth: config.solicit.ringDepth, slotSize: SOLICIT_BYTES };
    const netConfig: NetTileConfig = {
      ifindex: xdp.ifindex,
      queueId: xdp.queueId,
      frameSize: xdp.frameSize,
      frameCount: xdp.frameCount,
      fillDepth: xdp.fillDepth,
      completionDepth: xdp.completionDepth,
      rxDepth: xdp.rxDepth,
      txDepth: xdp.txDepth,
      apps: config.apps.map((a) => ({ name: a.name, ports: a.ports })),
      channelDepth: depth,
      maxPayload,
      solicitRing,
    };
    const netMetricsGrant = metricsRegion("net", "net", netMetrics);
    const regionFor: Record<string, string> = {
      "solicit.producer": "solicit.0.producer",
      "solicit.consumer": "solicit.0.consumer",
    };
    tiles.push({
      name: "net",
      kind: "net",
      bundle: "",
      regions: netRegionRoles(config.apps.map((a) => a.name)).map(({ role, writable }) => {
        if (role === "metrics") return netMetricsGrant;
        if (role === "umem")
          return { role, launcherFd: xdp.umemFd, size: xdp.frameSize * xdp.frameCount, writable: true };
        const name = regionFor[role] ?? role;
        return writable ? rw(role, name) : ro(role, name);
      }),
      fds: [{ role: NET_FDS.xsk, launcherFd: xdp.xskFd }],
      config: netConfig,
    });
    for (const app of config.apps) {
      const metrics = metricsRegion(app.name, "app", appMetrics);
      const appConfig: AppTileConfig = {
        name: app.name,
        modulePath: app.module,
        ports: app.ports,
        settings: app.settings,
        channelDepth: depth,
        maxPayload,
      };
      const launch: TileLaunch = {
        name: app.name,
        kind: "app",
        bundle: "",
        regions: appRegionRoles().map(({ role, writable }) => {
          if (role === "metrics") return metrics;
          const [dir, part] = role.split(".");
          const name = `${dir}.${app.name}.${part}`;
          return writable ? rw(role, name) : ro(role, name);
        }),
        fds: [],
        config: appConfig,
      };
      tiles.push(launch);
      appLaunches.push({ launch, app });
    }
  }

  log.debug({ tiles: tiles.map((t) => t.name) }, "planned");
  return {
    tiles,
    metricsRegionOf(tile) {
      const name = metricsOf.get(tile);
      if (!name) throw new Error(`no metrics region for tile ${tile}`);
      return name;
    },
    stageFiles(staged) {
      for (const { launch, app } of appLaunches) {
        if (app.module.startsWith("builtin:")) continue;
        (launch.config as AppTileConfig).modulePath = staged.stageAppModule(app.name, app.module);
      }
    },
  };
}
