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
import type { IdleMode, TilePlacement } from "../shared/tile/idle";
import { metricsRegionName, type RegionUse } from "../shared/tile/regions";
import {
  UDP_DEFAULT_MAX_PAYLOAD,
  type UdpDirection,
  udpChannelRegionNames,
  udpChannelSizes,
} from "../shared/udp/channel";
import { DOORBELL_BYTES } from "../shared/udp/doorbell";
import type { XdpSetupOptions } from "../shared/xdp/attach";
import { umemBytes } from "../shared/xdp/geometry";
import { type AppChannel, type AppTileConfig, appMetrics, appRegions, appWakeRole } from "../tiles/app/definition";
import { NET_FDS, type NetAppPorts, type NetTileConfig, netMetrics, netRegions } from "../tiles/net/definition";
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
import type { InstanceConfig } from "./config";
import type { QueueCoverage, RegionKind } from "./manifest";
import { stagedAppModulePath, stagedBundlePath } from "./stage";
import {
  channelKey,
  doorbellName,
  type NetInterface,
  type NetTileSlot,
  netTileSlots,
  netWakeName,
  queueMissRegionName,
  replicaNames,
  solicitRingName,
  solicitRingSpec,
} from "./topology-names";

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
  /** A replica's doorbell (zeroed at creation: nothing to initialise). */
  | { kind: "doorbell"; region: RegionDesc }
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
  /** bindIfindex: the one interface probes may leave through (0 = unbound: several interfaces). */
  | { name: string; kind: "probe" | "probe6"; bindIfindex: number }
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

/** An AF_XDP socket on one queue (options.queueId) of interface options.ifname; its UMEM is a
 *  region of its own. */
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
  /** Per interface, its XDP program (provider xdp). */
  xdpInterfaces: XdpInterfaceDesc[];
  xsks: XskDesc[];
  tiles: TileDesc[];
}

/** One interface's XDP program: it redirects owned ports to the socket of each served queue and
 *  counts (region `missRegion`, the program's map) what arrives on the other queues. */
export interface XdpInterfaceDesc {
  ifname: string;
  queueCount: number;
  /** The queues with a net tile (and so a socket). */
  served: number[];
  /** Name under which the miss counters are granted to the interface's first net tile. */
  missRegion: string;
}

export interface DescribeInput {
  instance: string;
  config: InstanceConfig;
  /** Where the runtime is staged (bundles and app modules are named inside it). */
  runtimeDir: string;
  /** The interfaces net tiles serve, one net tile per served queue of each. */
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

/** Both directions of one UDP channel (udpChannelRegionNames names them; see channelKey). */
export function channelGroups(channel: string, depth: number, maxPayload: number): RegionGroup[] {
  const sizes = udpChannelSizes(depth, maxPayload, channel);
  return (["rx", "tx"] as const).map((dir) => {
    const names = udpChannelRegionNames(dir, channel);
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

/** A replica's doorbell: one zeroed cache line its net tiles ring (shared/udp/doorbell.ts). */
export function doorbellGroup(name: string): RegionGroup {
  return { kind: "doorbell", region: { name, kind: "data", size: DOORBELL_BYTES } };
}

// ------------------------------------------------------------------------------ tiles

export {
  channelKey,
  doorbellName,
  type NetInterface,
  type NetTileSlot,
  netTileSlots,
  netWakeName,
  queueMissRegionName,
  replicaNames,
  solicitRingName,
  solicitRingSpec,
} from "./topology-names";

function describeNetlink(input: DescribeInput, nets: readonly NetTileSlot[], into: InstanceTopology): void {
  const { config, runtimeDir } = input;
  const solicitRings = nets.map((n) => solicitRingName(n.index));
  const { ringDepth: _ring, ...handlerSettings } = config.solicit;
  into.sockets.push(
    { name: "netlink.events", kind: "netlink", groups: RTMGRP_TILENET, rcvbufBytes: config.netlink.rcvbufBytes },
    { name: "netlink.requests", kind: "netlink", groups: 0, rcvbufBytes: 0 },
    // Bound to the net tiles' interface: probes leave through it only (see netlinkPolicy).
    {
      name: "probe",
      kind: "probe",
      bindIfindex: input.interfaces.length === 1 ? (input.interfaces[0]?.ifindex ?? 0) : 0,
    },
    // Its IPv6 twin (an empty datagram to [next hop]:9 makes the kernel send the Neighbor
    // Solicitation: measured to work with no capability, tiles/netlink/solicit-probe6.ts).
    {
      name: "probe6",
      kind: "probe6",
      bindIfindex: input.interfaces.length === 1 ? (input.interfaces[0]?.ifindex ?? 0) : 0,
    },
  );
  into.groups.push(metricsGroup("netlink", "netlink", netlinkMetrics));
  into.tiles.push({
    name: "netlink",
    kind: "netlink",
    bundle: stagedBundlePath(runtimeDir, "netlink"),
    // The writer keeps its route model and, during a resync, a full dump in its heap.
    // IPv6 routes cost its heap about 3 KiB each (the LPM's per-node bookkeeping: shared/netbase/lpm6.ts).
    heapMb:
      64 +
      Math.ceil((config.netbase.routes + config.netbase.neighbors) / 512) +
      Math.ceil(config.netbase.routes6 / 256),
    keepNetAdmin: config.netlink.keepNetAdmin,
    regions: netlinkRegions("netlink", solicitRings),
    fds: [
      { role: NETLINK_FDS.events, socket: "netlink.events" },
      { role: NETLINK_FDS.requests, socket: "netlink.requests" },
      { role: NETLINK_FDS.probe, socket: "probe" },
      { role: NETLINK_FDS.probe6, socket: "probe6" },
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

/** What every net tile serves: each app with the channel (and doorbell) of each of its replicas. */
function servedApps(apps: InstanceConfig["apps"], net: string, netTiles: number): NetAppPorts[] {
  return apps.map((a) => ({
    name: a.name,
    ports: a.ports,
    replicas: replicaNames(a).map((r) => ({
      channel: channelKey(r, net, netTiles),
      ...(netTiles > 1 ? { doorbell: doorbellName(r) } : {}),
    })),
  }));
}

/** Net tile `slot`: an AF_XDP socket on its queue; it serves every replica of every app. */
function describeNet(input: DescribeInput, slot: NetTileSlot, netTiles: number): { tile: TileDesc; xsk: XskDesc } {
  const { config, instance } = input;
  const { name, iface } = slot;
  const suffix = slot.index === 0 ? "" : `-${slot.index}`;
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
  const apps = servedApps(config.apps, name, netTiles);
  const options: XdpSetupOptions = {
    umemName: `tilenet:${instance}:${umem.name}`,
    netnsPath: net.netns,
    ifname: iface.name,
    ports: config.apps.flatMap((a) => a.ports),
    dstIp: net.dstIp ? parseIp(net.dstIp) : undefined,
    mode: net.xdpMode,
    zeroCopy: net.xdpZeroCopy,
    ...(net.busyPoll ? { busyPoll: net.busyPoll } : {}),
    queueId: slot.queue,
    ...geometry,
  };
  const queueCount = iface.queueCount ?? slot.queue + 1;
  const served = iface.queues ?? [slot.queue];
  const misses = slot.firstOfInterface ? queueMissRegionName(iface.name) : undefined;
  const tile: TileDesc = {
    name,
    kind: "net",
    bundle: stagedBundlePath(input.runtimeDir, "net"),
    regions: netRegions({
      tile: name,
      umem: umem.name,
      solicitRing: solicitRingName(slot.index),
      apps: apps.map((a) => ({ name: a.name, replicas: a.replicas ?? [{ channel: a.name }] })),
      ...(misses !== undefined ? { queueMisses: misses } : {}),
    }),
    fds: [
      { role: NET_FDS.xsk, socket },
      { role: NET_FDS.wake, socket: netWakeName(name) },
    ],
    files: [],
    config: {
      ifindex: iface.ifindex,
      queueId: slot.queue,
      ...geometry,
      apps,
      channelDepth: config.rings.depth,
      maxPayload: UDP_DEFAULT_MAX_PAYLOAD,
      solicitRing: solicitRingSpec(config),
      ...(misses !== undefined
        ? { queueMisses: { queueCount, queues: range(queueCount).filter((q) => !served.includes(q)) } }
        : {}),
      ...placementOf(net.placement, config.tiles.idle),
    },
  };
  return { tile, xsk: { socket, umem, options } };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The socket provider's net tile `slot`: one UDP socket per port (SO_REUSEPORT: with several
 *  socket net tiles the kernel spreads flows over them). */
function describeNetSocket(
  input: DescribeInput,
  slot: NetTileSlot,
  netTiles: number,
): { tile: TileDesc; sockets: SocketDesc[] } {
  const { config } = input;
  const { name, iface } = slot;
  const bindIp = config.net.dstIp ? (parseIp(config.net.dstIp) ?? 0) : 0;
  const ports = config.apps.flatMap((a) => a.ports);
  const apps = servedApps(config.apps, name, netTiles);
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
      apps.map((a) => ({ name: a.name, replicas: a.replicas ?? [{ channel: a.name }] })),
    ),
    fds: [
      ...ports.map((port) => ({ role: netSocketFdRole(port), socket: socketName(port) })),
      { role: NET_SOCKET_FDS.wake, socket: netWakeName(name) },
    ],
    files: [],
    config: {
      apps,
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

/**
 * Replica `replica` of `app` (its tile name; the app's name when it has one replica), joined to
 * every net tile in `nets` by a channel pair; with several, it sleeps on a doorbell, and with
 * several interfaces its send() routes through netbase to pick the interface's net tile.
 */
export function describeApp(
  app: InstanceConfig["apps"][number],
  channel: { depth: number; maxPayload: number },
  runtimeDir: string,
  defaultIdle: IdleMode = "adaptive",
  replica: string = app.name,
  nets: readonly Pick<NetTileSlot, "name" | "iface">[] = [{ name: "net", iface: { name: "", ifindex: 0 } }],
): TileDesc {
  const builtin = app.module.startsWith("builtin:");
  const target = builtin ? app.module : stagedAppModulePath(runtimeDir, app.name, app.module);
  const channels: AppChannel[] = nets.map((n) => ({
    channel: channelKey(replica, n.name, nets.length),
    netTile: n.name,
    ifindex: n.iface.ifindex,
  }));
  const routeByNetbase = new Set(channels.map((c) => c.ifindex)).size > 1;
  const doorbell = nets.length > 1 ? doorbellName(replica) : undefined;
  return {
    name: replica,
    kind: "app",
    bundle: stagedBundlePath(runtimeDir, "app"),
    regions: appRegions(replica, {
      channels: channels.map((c) => c.channel),
      ...(doorbell !== undefined ? { doorbell } : {}),
      ...(routeByNetbase ? { netbase: true } : {}),
    }),
    fds: nets.map((n, k) => ({ role: appWakeRole(k), socket: netWakeName(n.name) })),
    files: builtin ? [] : [{ source: app.module, target }],
    config: {
      name: app.name,
      modulePath: target,
      ports: app.ports,
      settings: app.settings,
      channelDepth: channel.depth,
      maxPayload: channel.maxPayload,
      channels,
      ...(app.replicas !== undefined && app.replicas > 1
        ? { replica: replicaNames(app).indexOf(replica), replicas: app.replicas }
        : {}),
      ...(doorbell !== undefined ? { doorbell } : {}),
      ...(routeByNetbase ? { routeByNetbase } : {}),
      ...placementOf(app.placement, defaultIdle),
    },
  };
}

/** The XDP net tiles, their sockets and each interface's program (provider xdp). */
function describeXdpPlane(input: DescribeInput, nets: readonly NetTileSlot[], topology: InstanceTopology): void {
  for (const iface of input.interfaces) {
    const served = nets.filter((n) => n.iface === iface).map((n) => n.queue);
    const queueCount = Math.max(iface.queueCount ?? 1, ...served.map((q) => q + 1));
    topology.xdpInterfaces.push({
      ifname: iface.name,
      queueCount,
      served,
      missRegion: queueMissRegionName(iface.name),
    });
  }
  for (const slot of nets) {
    const { tile, xsk } = describeNet(input, slot, nets.length);
    topology.xsks.push(xsk);
    topology.groups.push(metricsGroup(tile.name, "net", netMetrics));
    topology.groups.push(captureGroup(tile.name));
    topology.tiles.push(tile);
  }
}

/**
 * The whole instance: netbase, the netlink tile (if enabled), one net tile per served queue of
 * each interface with its solicit ring (the AF_XDP one with one XDP program per interface, or
 * with provider "socket" the socket one and its UDP sockets), and per [[app]] replica an app tile
 * joined to every net tile by a UDP channel each way (the same channels whichever the provider).
 */
export function describeInstance(input: DescribeInput): InstanceTopology {
  const { config, instance } = input;
  const topology: InstanceTopology = {
    instance,
    netns: config.net.netns,
    groups: [],
    sockets: [],
    xdpInterfaces: [],
    xsks: [],
    tiles: [],
  };
  const nets = netTileSlots(input.interfaces, config.net.queue);
  topology.groups.push(netbaseGroup({ ...config.netbase }));
  for (const n of nets) topology.groups.push(ringGroup(solicitRingName(n.index), solicitRingSpec(config)));
  if (config.netlink.enabled) describeNetlink(input, nets, topology);
  if (!config.net.enabled || nets.length === 0) return topology;

  if (config.apps.length === 0) throw new Error("net tile without apps: add an [[app]] (or set net.enabled = false)");
  const channel = { depth: config.rings.depth, maxPayload: UDP_DEFAULT_MAX_PAYLOAD };
  const provider = input.provider ?? (config.net.provider === "socket" ? "socket" : "xdp");
  for (const n of nets) topology.sockets.push({ name: netWakeName(n.name), kind: "eventfd" });
  if (provider === "socket") {
    for (const slot of nets) {
      const { tile, sockets } = describeNetSocket(input, slot, nets.length);
      topology.sockets.push(...sockets);
      topology.groups.push(metricsGroup(tile.name, "net-socket", netSocketMetrics));
      topology.tiles.push(tile);
    }
  } else describeXdpPlane(input, nets, topology);
  for (const app of config.apps) {
    for (const replica of replicaNames(app)) {
      for (const n of nets) {
        topology.groups.push(
          ...channelGroups(channelKey(replica, n.name, nets.length), channel.depth, channel.maxPayload),
        );
      }
      if (nets.length > 1) topology.groups.push(doorbellGroup(doorbellName(replica)));
      topology.groups.push(metricsGroup(replica, "app", appMetrics));
      topology.tiles.push(describeApp(app, channel, input.runtimeDir, config.tiles.idle, replica, nets));
    }
  }
  return topology;
}

/** Per interface: its receive queues and the net tiles serving them (manifest, status). */
export function queueCoverage(topology: InstanceTopology, interfaces: readonly NetInterface[]): QueueCoverage[] {
  const nets = topology.tiles.filter((t) => t.kind === "net" || t.kind === "net-socket");
  const slots = netTileSlots(interfaces, 0);
  return interfaces.map((iface) => {
    const mine = slots.filter((s) => s.iface === iface && nets.some((t) => t.name === s.name));
    return {
      interface: iface.name,
      queueCount: iface.queueCount ?? 1,
      source: iface.queueCountSource ?? "not read",
      served: mine.map((s) => s.queue),
      tiles: mine.map((s) => s.name),
    };
  });
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
