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
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { SOLICIT_BYTES } from "../shared/solicit/message";
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

export function planInstance(config: InstanceConfig, regions: RegionSet, undo: Undo, log: Logger): InstancePlan {
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
  initNetbase(netbase.buf, caps);

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
      inNetns(ns, () => addon.probeSocketOpen()),
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
    };
    tiles.push({
      name: "netlink",
      kind: "netlink",
      bundle: "",
      // The writer keeps its route model and, during a resync, a full dump in its heap.
      heapMb: 64 + Math.ceil((config.netbase.routes + config.netbase.neighbors) / 512),
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

  log.debug({ tiles: tiles.map((t) => t.name) }, "planned");
  return {
    tiles,
    metricsRegionOf(tile) {
      const name = metricsOf.get(tile);
      if (!name) throw new Error(`no metrics region for tile ${tile}`);
      return name;
    },
    stageFiles() {},
  };
}
