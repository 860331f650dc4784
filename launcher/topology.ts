// An instance described as data: its tiles, the regions they share (with sizes and kinds), who
// maps which region how, and the sockets they hold. describeInstance is pure (no descriptor, no
// file, no namespace is touched); plan.ts turns a description into resources. The launcher,
// `npm run bench -- echo` and the sandboxed data-plane test all start tiles from a description,
// so they wire tiles the same way. N tiles of a kind is a matter of the lists below.

import {
  CAPTURE_CONTROL_BYTES,
  CAPTURE_DEFAULT_SLOTS,
  CAPTURE_DEFAULT_SNAP_BYTES,
  type CaptureShape,
  captureRegionNames,
  captureRingBytes,
} from "../shared/capture/layout";
import { withCommonMetrics } from "../shared/metrics/common";
import { metricsRegionSize } from "../shared/metrics/region";
import type { MetricDecl } from "../shared/metrics/schema";
import { type NetbaseCapacities, netbaseRegionSize } from "../shared/netbase/layout";
import { RTMGRP_TILENET } from "../shared/netlink/constants";
import { parseIp } from "../shared/netmodel";
import { type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { SOLICIT_BYTES } from "../shared/solicit/message";
import type { IdleMode, TilePlacement } from "../shared/tile/idle";
import { metricsRegionName, type RegionUse } from "../shared/tile/regions";
import {
  UDP_DEFAULT_MAX_PAYLOAD,
  type UdpDirection,
  udpChannelRegionNames,
  udpChannelSizes,
} from "../shared/udp/channel";
import type { XdpSetupOptions } from "../shared/xdp/attach";
import { umemBytes } from "../shared/xdp/geometry";
import { APP_FDS, type AppTileConfig, appMetrics, appRegions } from "../tiles/app/definition";
import { NET_FDS, type NetTileConfig, netMetrics, netRegions } from "../tiles/net/definition";
import {
  NET_SOCKET_FDS,
  type NetSocketTileConfig,
  netSocketFdRole,
  netSocketMetrics,
  netSocketRegions,
} from "../tiles/net-socket/definition";
import {
  NETLINK_FDS,
  type NetlinkTileConfig,
  netlinkMetrics,
  netlinkRegions,
  netlinkTileConfig,
} from "../tiles/netlink/definition";
import { type AppConfig, defaultRestartPolicy, type InstanceConfig } from "./config";
import { LAB_ECHO_PORT } from "./lab";
import type { RegionKind } from "./manifest";
import { stagedAppModulePath, stagedBundlePath } from "./stage";

export interface RegionDesc {
  name: string;
  kind: RegionKind;
  size: number;
}

/** Regions made and initialised together (a ring's two sides, a channel's three regions). */
export type RegionGroup =
  | { kind: "metrics"; region: RegionDesc; tile: string; tileKind: string; decls: readonly MetricDecl[] }
  | { kind: "netbase"; region: RegionDesc; caps: Partial<NetbaseCapacities> }
  | { kind: "ring"; producer: RegionDesc; consumer: RegionDesc; spec: RingSpec }
  /** A net tile's capture (tilenet dump): made at start, since the launcher drops privileges. */
  | { kind: "capture"; control: RegionDesc; ring: RegionDesc; shape: CaptureShape }
  | {
      kind: "udp-channel";
      producer: RegionDesc;
      consumer: RegionDesc;
      data: RegionDesc;
      dir: UdpDirection;
      depth: number;
      maxPayload: number;
    };

/** A socket opened in the instance's namespace and granted to a tile. */
export type SocketDesc =
  | { name: string; kind: "netlink"; groups: number; rcvbufBytes: number }
  /** bindIfindex: the one interface probes may leave through (0 = unbound: several net tiles). */
  | { name: string; kind: "probe"; bindIfindex: number }
  /** Not a socket: the eventfd a net tile sleeps on with its AF_XDP socket; its apps signal it. */
  | { name: string; kind: "eventfd" }
  /** A socket provider's UDP socket for one app port: bound to bindIp (host order, 0: any) and
   *  to interface ifindex, SO_REUSEPORT; bufferBytes forces its buffer sizes. */
  | {
      name: string;
      kind: "udp";
      port: number;
      bindIp: number;
      ifindex: number;
      bufferBytes: number;
      /** [net] busy_poll_*: set on the socket when configured. */
      busyPoll?: { prefer: boolean; usecs: number; budget: number };
    };

/** An AF_XDP socket with the XDP program feeding it; its UMEM is a region of its own. */
export interface XskDesc {
  socket: string;
  umem: RegionDesc;
  options: XdpSetupOptions;
}

/** A file a tile loads, copied into the staged runtime (target is where the tile finds it). */
export interface StagedFile {
  source: string;
  target: string;
}

interface TileCommonDesc {
  name: string;
  /** The staged bundle the tile runs. */
  bundle: string;
  regions: RegionUse[];
  /** Descriptor roles and the sockets behind them. */
  fds: { role: string; socket: string }[];
  files: StagedFile[];
  /** V8 old-space limit in MB (default 64). */
  heapMb?: number;
  /** Keep CAP_NET_ADMIN (only the netlink tile, only when configured). */
  keepNetAdmin?: boolean;
}

export type TileDesc =
  | (TileCommonDesc & { kind: "netlink"; config: NetlinkTileConfig })
  | (TileCommonDesc & { kind: "net"; config: NetTileConfig })
  | (TileCommonDesc & { kind: "net-socket"; config: NetSocketTileConfig })
  | (TileCommonDesc & { kind: "app"; config: AppTileConfig });

export interface InstanceTopology {
  instance: string;
  /** Network namespace the sockets are made in (undefined: the launcher's). */
  netns?: string;
  groups: RegionGroup[];
  sockets: SocketDesc[];
  xsks: XskDesc[];
  tiles: TileDesc[];
}

/** An interface a net tile serves, as found in the instance's namespace. */
export interface NetInterface {
  name: string;
  ifindex: number;
}

export interface DescribeInput {
  instance: string;
  config: InstanceConfig;
  /** Where the runtime is staged (bundles and app modules are named inside it). */
  runtimeDir: string;
  /** The interfaces net tiles serve, one net tile each (the config names at most one today). */
  interfaces: NetInterface[];
  /** The data plane, resolved: "auto" is decided by the launcher (it tries XDP first). Default:
   *  "socket" when the config says so, else "xdp". */
  provider?: ResolvedNetProvider;
}

export type ResolvedNetProvider = "xdp" | "socket";

/** Socket buffers of the socket provider (both directions): a burst waits here while the tile
 *  is descheduled. Forced (SO_*BUFFORCE) by the launcher, which is root at set-up. */
export const NET_SOCKET_BUFFER_BYTES = 4 << 20;

// ------------------------------------------------------------------------------ region groups

export function metricsGroup(tile: string, tileKind: string, decls: readonly MetricDecl[]): RegionGroup {
  const all = withCommonMetrics(decls);
  const region: RegionDesc = { name: metricsRegionName(tile), kind: "metrics", size: metricsRegionSize(all) };
  return { kind: "metrics", region, tile, tileKind, decls: all };
}

export function netbaseGroup(caps: Partial<NetbaseCapacities>): RegionGroup {
  return { kind: "netbase", region: { name: "netbase", kind: "netbase", size: netbaseRegionSize(caps) }, caps };
}

/** A ring named `name`: regions `<name>.producer` and `<name>.consumer`. */
export function ringGroup(name: string, spec: RingSpec): RegionGroup {
  const sizes = ringRegionSizes(spec);
  return {
    kind: "ring",
    producer: { name: `${name}.producer`, kind: "ring-producer", size: sizes.producerBytes },
    consumer: { name: `${name}.consumer`, kind: "ring-consumer", size: sizes.consumerBytes },
    spec,
  };
}

/** Both directions of one app's UDP channel (udpChannelRegionNames names them). */
export function channelGroups(app: string, depth: number, maxPayload: number): RegionGroup[] {
  const sizes = udpChannelSizes(depth, maxPayload, app);
  return (["rx", "tx"] as const).map((dir) => {
    const names = udpChannelRegionNames(dir, app);
    return {
      kind: "udp-channel",
      producer: { name: names.producer, kind: "ring-producer", size: sizes.producerBytes },
      consumer: { name: names.consumer, kind: "ring-consumer", size: sizes.consumerBytes },
      data: { name: names.data, kind: "data", size: sizes.dataBytes },
      dir,
      depth,
      maxPayload,
    };
  });
}

/** The capture regions of net tile `tile` (about 2 MiB: the ring's slots; untouched while idle). */
export function captureGroup(tile: string): RegionGroup {
  const names = captureRegionNames(tile);
  const shape: CaptureShape = { slotCount: CAPTURE_DEFAULT_SLOTS, snapBytes: CAPTURE_DEFAULT_SNAP_BYTES };
  return {
    kind: "capture",
    control: { name: names.control, kind: "capture-control", size: CAPTURE_CONTROL_BYTES },
    ring: { name: names.ring, kind: "capture-ring", size: captureRingBytes(shape) },
    shape,
  };
}

/** The solicit ring of net tile `index` (producer: that net tile; consumer: the netlink tile). */
export function solicitRingName(index: number): string {
  return `solicit.${index}`;
}

export function solicitRingSpec(config: InstanceConfig): RingSpec {
  return { kind: "unreliable", depth: config.solicit.ringDepth, slotSize: SOLICIT_BYTES };
}

// ------------------------------------------------------------------------------ tiles

function describeNetlink(input: DescribeInput, into: InstanceTopology): void {
  const { config, runtimeDir } = input;
  const solicitRings = input.interfaces.map((_, i) => solicitRingName(i));
  const { ringDepth: _ring, ...handlerSettings } = config.solicit;
  into.sockets.push(
    { name: "netlink.events", kind: "netlink", groups: RTMGRP_TILENET, rcvbufBytes: config.netlink.rcvbufBytes },
    { name: "netlink.requests", kind: "netlink", groups: 0, rcvbufBytes: 0 },
    // Bound to the net tile's interface: probes leave through it only (see netlinkPolicy).
    {
      name: "probe",
      kind: "probe",
      bindIfindex: input.interfaces.length === 1 ? (input.interfaces[0]?.ifindex ?? 0) : 0,
    },
  );
  into.groups.push(metricsGroup("netlink", "netlink", netlinkMetrics));
  into.tiles.push({
    name: "netlink",
    kind: "netlink",
    bundle: stagedBundlePath(runtimeDir, "netlink"),
    // The writer keeps its route model and, during a resync, a full dump in its heap.
    heapMb: 64 + Math.ceil((config.netbase.routes + config.netbase.neighbors) / 512),
    keepNetAdmin: config.netlink.keepNetAdmin,
    regions: netlinkRegions("netlink", solicitRings),
    fds: [
      { role: NETLINK_FDS.events, socket: "netlink.events" },
      { role: NETLINK_FDS.requests, socket: "netlink.requests" },
      { role: NETLINK_FDS.probe, socket: "probe" },
    ],
    files: [],
    config: netlinkTileConfig({
      netIfindexes: input.interfaces.map((i) => i.ifindex),
      solicitRings,
      solicit: handlerSettings,
      verifyIntervalS: config.netlink.verifyIntervalS,
      keepNetAdmin: config.netlink.keepNetAdmin,
    }),
  });
}

/** The wake eventfd of net tile `index` (granted to it and to the apps it serves). */
export function netWakeName(index: number): string {
  return index === 0 ? "net.wake" : `net-${index}.wake`;
}

/** Net tile `index` on `iface`; it serves `apps` (all of them on the first net tile, for now). */
function describeNet(
  input: DescribeInput,
  index: number,
  iface: NetInterface,
  apps: InstanceConfig["apps"],
): { tile: TileDesc; xsk: XskDesc } {
  const { config, instance } = input;
  const suffix = index === 0 ? "" : `-${index}`;
  const name = `net${suffix}`;
  const net = config.net;
  const geometry = {
    frameSize: net.frameSize,
    frameCount: net.frameCount,
    fillDepth: net.ringDepth,
    completionDepth: net.ringDepth,
    rxDepth: net.ringDepth,
    txDepth: net.ringDepth,
  };
  const umem: RegionDesc = { name: `umem${suffix}`, kind: "umem", size: umemBytes(geometry) };
  const socket = `xsk${suffix}`;
  // One XDP program per interface: it redirects the ports of the apps this net tile serves.
  const ports = apps.flatMap((a) => a.ports);
  const options: XdpSetupOptions = {
    umemName: `tilenet:${instance}:${umem.name}`,
    netnsPath: net.netns,
    ifname: iface.name,
    ports,
    dstIp: net.dstIp ? parseIp(net.dstIp) : undefined,
    mode: net.xdpMode,
    zeroCopy: net.xdpZeroCopy,
    ...(net.busyPoll ? { busyPoll: net.busyPoll } : {}),
    queueId: net.queue,
    ...geometry,
  };
  const tile: TileDesc = {
    name,
    kind: "net",
    bundle: stagedBundlePath(input.runtimeDir, "net"),
    regions: netRegions({
      tile: name,
      umem: umem.name,
      solicitRing: solicitRingName(index),
      apps: apps.map((a) => a.name),
    }),
    fds: [
      { role: NET_FDS.xsk, socket },
      { role: NET_FDS.wake, socket: netWakeName(index) },
    ],
    files: [],
    config: {
      ifindex: iface.ifindex,
      queueId: net.queue,
      ...geometry,
      apps: apps.map((a) => ({ name: a.name, ports: a.ports })),
      channelDepth: config.rings.depth,
      maxPayload: UDP_DEFAULT_MAX_PAYLOAD,
      solicitRing: solicitRingSpec(config),
      ...placementOf(net.placement, config.tiles.idle),
    },
  };
  return { tile, xsk: { socket, umem, options } };
}

/** The socket provider's net tile `index` on `iface`: one UDP socket per port of `apps`. */
function describeNetSocket(
  input: DescribeInput,
  index: number,
  iface: NetInterface,
  apps: InstanceConfig["apps"],
): { tile: TileDesc; sockets: SocketDesc[] } {
  const { config } = input;
  const name = index === 0 ? "net" : `net-${index}`;
  const bindIp = config.net.dstIp ? (parseIp(config.net.dstIp) ?? 0) : 0;
  const ports = apps.flatMap((a) => a.ports);
  const socketName = (port: number): string => `${name}.udp.${port}`;
  const sockets: SocketDesc[] = ports.map((port) => ({
    name: socketName(port),
    kind: "udp",
    port,
    bindIp,
    ifindex: iface.ifindex,
    bufferBytes: NET_SOCKET_BUFFER_BYTES,
    ...(config.net.busyPoll ? { busyPoll: config.net.busyPoll } : {}),
  }));
  const tile: TileDesc = {
    name,
    kind: "net-socket",
    bundle: stagedBundlePath(input.runtimeDir, "net-socket"),
    regions: netSocketRegions(
      name,
      apps.map((a) => a.name),
    ),
    fds: [
      ...ports.map((port) => ({ role: netSocketFdRole(port), socket: socketName(port) })),
      { role: NET_SOCKET_FDS.wake, socket: netWakeName(index) },
    ],
    files: [],
    config: {
      apps: apps.map((a) => ({ name: a.name, ports: a.ports })),
      channelDepth: config.rings.depth,
      maxPayload: UDP_DEFAULT_MAX_PAYLOAD,
      ...placementOf(config.net.placement, config.tiles.idle),
    },
  };
  return { tile, sockets };
}

/** A tile's idle mode (its own, else the [tiles] default) and its CPU, if pinned. */
function placementOf(p: TilePlacement | undefined, defaultIdle: IdleMode): TilePlacement {
  return { idle: p?.idle ?? defaultIdle, ...(p?.cpu !== undefined ? { cpu: p.cpu } : {}) };
}

export function describeApp(
  app: InstanceConfig["apps"][number],
  channel: { depth: number; maxPayload: number },
  runtimeDir: string,
  defaultIdle: IdleMode = "adaptive",
): TileDesc {
  const builtin = app.module.startsWith("builtin:");
  const target = builtin ? app.module : stagedAppModulePath(runtimeDir, app.name, app.module);
  return {
    name: app.name,
    kind: "app",
    bundle: stagedBundlePath(runtimeDir, "app"),
    regions: appRegions(app.name),
    // Apps are served by the first net tile (describeInstance).
    fds: [{ role: APP_FDS.wake, socket: netWakeName(0) }],
    files: builtin ? [] : [{ source: app.module, target }],
    config: {
      name: app.name,
      modulePath: target,
      ports: app.ports,
      settings: app.settings,
      channelDepth: channel.depth,
      maxPayload: channel.maxPayload,
      ...placementOf(app.placement, defaultIdle),
    },
  };
}

/**
 * The whole instance: netbase, the netlink tile (if enabled), one solicit ring and one net tile
 * per interface (net tiles only when enabled; the AF_XDP one, or with provider "socket" the
 * socket one and its UDP sockets), and per [[app]] an app tile joined to the first net tile by a
 * UDP channel each way (the same channels whichever the provider).
 */
export function describeInstance(input: DescribeInput): InstanceTopology {
  const { config, instance } = input;
  const topology: InstanceTopology = {
    instance,
    netns: config.net.netns,
    groups: [],
    sockets: [],
    xsks: [],
    tiles: [],
  };
  topology.groups.push(netbaseGroup({ ...config.netbase }));
  input.interfaces.forEach((_, i) => {
    topology.groups.push(ringGroup(solicitRingName(i), solicitRingSpec(config)));
  });
  if (config.netlink.enabled) describeNetlink(input, topology);
  if (!config.net.enabled || input.interfaces.length === 0) return topology;

  if (config.apps.length === 0) throw new Error("net tile without apps: add an [[app]] (or set net.enabled = false)");
  const channel = { depth: config.rings.depth, maxPayload: UDP_DEFAULT_MAX_PAYLOAD };
  const provider = input.provider ?? (config.net.provider === "socket" ? "socket" : "xdp");
  input.interfaces.forEach((iface, i) => {
    const apps = i === 0 ? config.apps : [];
    topology.sockets.push({ name: netWakeName(i), kind: "eventfd" });
    if (provider === "socket") {
      if (apps.length === 0) return; // a socket net tile without ports has nothing to serve
      const { tile, sockets } = describeNetSocket(input, i, iface, apps);
      topology.sockets.push(...sockets);
      topology.groups.push(metricsGroup(tile.name, "net-socket", netSocketMetrics));
      topology.tiles.push(tile);
      return;
    }
    const { tile, xsk } = describeNet(input, i, iface, apps);
    topology.xsks.push(xsk);
    topology.groups.push(metricsGroup(tile.name, "net", netMetrics));
    topology.groups.push(captureGroup(tile.name));
    topology.tiles.push(tile);
  });
  for (const app of config.apps) {
    topology.groups.push(...channelGroups(app.name, channel.depth, channel.maxPayload));
    topology.groups.push(metricsGroup(app.name, "app", appMetrics));
    topology.tiles.push(describeApp(app, channel, input.runtimeDir, config.tiles.idle));
  }
  return topology;
}

/** The description with settings of one tile changed (benchmarks and tests tune tiles this way). */
export function withTileSettings(
  topology: InstanceTopology,
  tile: string,
  patch: Partial<NetTileConfig> | Partial<NetSocketTileConfig> | Partial<AppTileConfig>,
): InstanceTopology {
  if (!topology.tiles.some((t) => t.name === tile)) throw new Error(`no tile named ${tile}`);
  const tiles = topology.tiles.map((t) =>
    t.name === tile ? ({ ...t, config: { ...t.config, ...patch } } as TileDesc) : t,
  );
  return { ...topology, tiles };
}

/** The app `--lab` runs when the config has none. */
export function labEchoApp(): AppConfig {
  return {
    name: "echo",
    module: "builtin:echo",
    ports: [LAB_ECHO_PORT],
    settings: {},
    restart: defaultRestartPolicy(),
  };
}

/** The config as `--lab` runs it: its apps, the net tile on the lab's interface and namespace. */
export function labConfig(config: InstanceConfig, apps: AppConfig[], ifname: string, netns: string): InstanceConfig {
  return { ...config, apps, net: { ...config.net, interface: ifname, netns } };
}
