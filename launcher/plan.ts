// Turns an instance's description (topology.ts) into the privileged resources its tiles hold:
// shared regions (created, initialised), rtnetlink and probe sockets in the instance's network
// namespace, AF_XDP sockets with their XDP programs; then each tile's launch with the descriptors
// it is granted. Each resource is registered with the undo stack as soon as it exists.
import { initCaptureRegions } from "../shared/capture/layout";
import type { Logger } from "../shared/log";
import { initMetricsRegion } from "../shared/metrics/region";
import { inNetns, native } from "../shared/native";
import { initNetbase } from "../shared/netbase/layout";
import { NetState } from "../shared/netstate/session";
import { initRingRegions } from "../shared/ring/layout";
import { initUdpChannel } from "../shared/udp/channel";
import {
  attachXdpInterface,
  bindXskQueue,
  setUpXdpInterface,
  tearDownXdpInterface,
  tearDownXdpQueue,
  type XdpInterfaceHandles,
  type XdpQueueHandles,
  type XdpSetupOptions,
  ZeroCopyRefusedError,
} from "../shared/xdp/attach";
import { xskGeometryOf } from "../shared/xdp/geometry";
import { queueMissMapBytes } from "../shared/xdp/queue-misses";
import { readAppFiles } from "./app-files";
import type { InstanceConfig, NetProvider } from "./config";
import type { XdpAttachment } from "./manifest";
import { readNapiSettings } from "./napi-settings";
import type { RegionSet } from "./regions";
import type { StagedRuntime } from "./stage";
import type { TileLaunch, TileRegionGrant } from "./tile-process";
import type {
  InstanceTopology,
  NetInterface,
  RegionGroup,
  ResolvedNetProvider,
  SocketDesc,
  TileDesc,
  XskDesc,
} from "./topology";

export interface Undo {
  push(what: string, run: () => void): void;
}

/** Undo steps run newest first; every step runs even when an earlier one fails. A privileged
 *  step (a namespace, a root-owned directory) is skipped once the launcher has dropped its
 *  privileges: the keeper's teardown (launcher/keeper.ts) does it then. */
export class UndoStack implements Undo {
  private readonly steps: { what: string; run: () => void; privileged: boolean }[] = [];
  push(what: string, run: () => void, privileged = false): void {
    this.steps.push({ what, run, privileged });
  }
  unwind(log: Pick<Logger, "error">, privilegesDropped = false): string[] {
    const problems: string[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (!step) break;
      if (step.privileged && privilegesDropped) continue;
      try {
        step.run();
      } catch (e) {
        problems.push(`${step.what}: ${(e as Error).message}`);
      }
    }
    for (const p of problems) log.error(`cleanup: ${p}`);
    return problems;
  }
}

/**
 * The interfaces the config's net tiles serve, looked up in the instance's namespace, each with
 * its receive queue count (ethtool netlink's channels: combined + rx; the link's allocated
 * queues for drivers without channels) and the queues its net tiles serve ([net] queue, queues).
 */
export async function resolveInterfaces(config: InstanceConfig): Promise<NetInterface[]> {
  const { interfaces, netns, queue, queues } = config.net;
  if (interfaces.length === 0) return [];
  const net = await NetState.open(netns ? { netns } : {});
  try {
    const out: NetInterface[] = [];
    for (const name of interfaces) {
      const link = await net.getLink(name).catch((e: unknown) => {
        throw new Error(
          `net.interfaces: no interface named ${name}${netns ? ` in ${netns}` : ""} (${(e as Error).message})`,
        );
      });
      const { count, source } = await receiveQueueCount(net, name, link.numRxQueues);
      // A queue beyond the count is not refused here: the kernel's bind refusal is the authority
      // (a driver may report fewer channels than it takes), and provider "auto" falls back on it.
      const served = queues === "all" ? count : queues;
      const ids = Array.from({ length: served }, (_, i) => queue + i);
      out.push({ name, ifindex: link.ifindex, queueCount: count, queues: ids, queueCountSource: source });
    }
    return out;
  } finally {
    net.close();
  }
}

/** Receive queues in use: ethtool's channel counts when the driver reports them, else the
 *  link's allocated queue count (IFLA_NUM_RX_QUEUES), else 1. */
async function receiveQueueCount(
  net: NetState,
  name: string,
  linkRxQueues: number | undefined,
): Promise<{ count: number; source: string }> {
  const ch = await net.getChannels(name).catch(() => undefined);
  const fromChannels = (ch?.combinedCount ?? 0) + (ch?.rxCount ?? 0);
  if (fromChannels > 0) return { count: fromChannels, source: "ethtool channels" };
  if (linkRxQueues !== undefined && linkRxQueues > 0) return { count: linkRxQueues, source: "link rx queues" };
  return { count: 1, source: "no queue count reported" };
}

/** Copies the files the description's tiles load (app modules) into the staged runtime. */
export function stageTileFiles(staged: StagedRuntime, topology: InstanceTopology): void {
  const done = new Set<string>();
  for (const tile of topology.tiles) {
    for (const file of tile.files) {
      // Replicas of an app load one staged copy (named after the app).
      if (done.has(file.target)) continue;
      done.add(file.target);
      const at = staged.stageAppModule(tile.kind === "app" ? tile.config.name : tile.name, file.source);
      if (at !== file.target) throw new Error(`staged ${file.source} at ${at}, the description expects ${file.target}`);
    }
  }
}

/** Reads each app's data files ([[app]] files) into its tile's config, where the app finds them
 *  as app.files (launcher/app-files.ts says how carefully). */
export function loadAppDataFiles(config: InstanceConfig, topology: InstanceTopology): void {
  for (const [i, app] of config.apps.entries()) {
    if (!app.files) continue;
    const tile = topology.tiles.find((t) => t.kind === "app" && t.name === app.name);
    if (tile?.kind === "app") tile.config.files = readAppFiles(app.files, `app[${i}].files`);
  }
}

function createGroup(group: RegionGroup, regions: RegionSet): void {
  const make = (r: { name: string; kind: Parameters<RegionSet["create"]>[1]; size: number }): ArrayBuffer =>
    regions.create(r.name, r.kind, r.size).buf;
  switch (group.kind) {
    case "metrics":
      initMetricsRegion(make(group.region), group.tile, group.tileKind, group.decls);
      return;
    case "netbase":
      initNetbase(make(group.region), group.caps, { alreadyZero: true }); // a fresh memfd
      return;
    case "ring":
      initRingRegions(make(group.producer), make(group.consumer), group.spec);
      return;
    case "doorbell":
      make(group.region); // a fresh memfd: zero, as a doorbell starts
      return;
    case "capture":
      initCaptureRegions(make(group.control), make(group.ring), group.shape);
      return;
    case "udp-channel":
      initUdpChannel(
        make(group.producer),
        make(group.consumer),
        make(group.data),
        group.dir,
        group.depth,
        group.maxPayload,
      );
      return;
  }
}

/** One socket of the description, in the calling thread's namespace. */
function openSocket(s: Exclude<SocketDesc, { kind: "eventfd" }>): number {
  const addon = native();
  switch (s.kind) {
    case "netlink":
      return addon.netlinkOpen(s.groups, s.rcvbufBytes);
    case "probe":
      return addon.probeSocketOpen(s.bindIfindex);
    case "probe6":
      return addon.probeSocketOpen6(s.bindIfindex);
    case "udp": {
      const fd = addon.udpSocketOpen(s.bindIp, s.port, s.ifindex, s.bufferBytes);
      try {
        if (s.busyPoll) addon.socketSetBusyPoll(fd, s.busyPoll);
      } catch (e) {
        addon.closeFd(fd);
        throw e;
      }
      return fd;
    }
  }
}

/** Opens the description's sockets in its namespace; returns their descriptors by name. */
function openSockets(topology: InstanceTopology, undo: Undo): Map<string, number> {
  const addon = native();
  const fds = new Map<string, number>();
  for (const s of topology.sockets) {
    const fd = s.kind === "eventfd" ? addon.eventfdOpen() : inNetns(topology.netns, () => openSocket(s));
    undo.push(`close socket ${s.name}`, () => addon.closeFd(fd));
    fds.set(s.name, fd);
  }
  return fds;
}

/** setUpXdp refused (the kernel, the driver, a missing capability): what [net] provider "auto"
 *  falls back on. Other set-up errors (huge pages required and missing) are not this. */
export class XdpAttachError extends Error {}

/** AF_XDP sockets by name; their UMEMs and each interface's miss counters by region name (fds a
 *  tile maps like regions); each interface's program; what each socket is attached to. */
export interface AttachedXdp {
  sockets: Map<string, number>;
  umems: Map<string, { fd: number; size: number }>;
  xdp: XdpInterfaceHandles[];
  attachments: (XdpAttachment & { tile: string })[];
}

/** Per interface: its program and maps, then one AF_XDP socket per served queue (its UMEM a
 *  region only its net tile maps), then the link (last: nothing is redirected before every
 *  socket is in the map). */
export function attachXdp(topology: InstanceTopology, regions: RegionSet, undo: Undo, log: Logger): AttachedXdp {
  // Its own stack: a refusal leaves nothing of the attempt behind (provider "auto" goes on).
  const made = new UndoStack();
  try {
    const attached = attachEveryInterface(topology, regions, made, log);
    undo.push("detach XDP and close the AF_XDP sockets", () => {
      const problems = made.unwind(log);
      if (problems.length > 0) throw new Error(problems.join("; "));
    });
    return attached;
  } catch (e) {
    made.unwind(log);
    throw e;
  }
}

function attachEveryInterface(topology: InstanceTopology, regions: RegionSet, undo: Undo, log: Logger): AttachedXdp {
  const attached: AttachedXdp = { sockets: new Map(), umems: new Map(), xdp: [], attachments: [] };
  for (const desc of topology.xdpInterfaces) {
    const xsks = topology.xsks.filter((x) => x.options.ifname === desc.ifname);
    const first = xsks[0];
    if (!first) continue;
    const { ifname, netnsPath, ports, dstIp, mode } = first.options;
    let iface: XdpInterfaceHandles;
    try {
      iface = setUpXdpInterface({ ifname, netnsPath, ports, dstIp, mode, queueCount: desc.queueCount });
    } catch (e) {
      throw new XdpAttachError((e as Error).message);
    }
    undo.push(`detach XDP from ${ifname}`, () => tearDownXdpInterface(iface));
    attached.xdp.push(iface);
    attached.umems.set(desc.missRegion, { fd: iface.missMapFd, size: queueMissMapBytes(desc.queueCount) });
    const queues = xsks.map((x) => bindQueue(x, iface, regions, undo, attached));
    try {
      attachXdpInterface(iface);
    } catch (e) {
      throw new XdpAttachError((e as Error).message);
    }
    if (iface.fallbackReason !== undefined)
      log.warn(
        { interface: ifname, reason: iface.fallbackReason },
        "native XDP (drv) refused: attached in generic (skb) mode",
      );
    xsks.forEach((x, i) => {
      const q = queues[i];
      if (!q) return;
      const tile = topology.tiles.find((t) => t.fds.some((f) => f.socket === x.socket))?.name ?? x.socket;
      const attachment = attachmentOf(x.options, iface, q);
      // Info, not a warning: with the default "auto" most drivers (virtio, veth) end here.
      if (q.zeroCopyFallback !== undefined)
        log.info({ netTile: tile, reason: q.zeroCopyFallback }, "AF_XDP zero-copy not available: bound in copy mode");
      log.info({ netTile: tile, ...attachment, ports }, "XDP attached");
      attached.attachments.push({ tile, ...attachment });
    });
  }
  return attached;
}

/** One queue's AF_XDP socket, its UMEM on huge pages when the instance has them. */
function bindQueue(
  x: XskDesc,
  iface: XdpInterfaceHandles,
  regions: RegionSet,
  undo: Undo,
  into: AttachedXdp,
): XdpQueueHandles {
  // bindXskQueue owns the UMEM fd from here, also when it fails.
  const umemFd = regions.hugeMemfd(x.umem.name, "umem", x.umem.size);
  const o = x.options;
  let q: XdpQueueHandles;
  try {
    q = bindXskQueue(iface, {
      queueId: o.queueId,
      ...xskGeometryOf(o),
      ...(o.umemName !== undefined ? { umemName: o.umemName } : {}),
      ...(umemFd !== undefined ? { umemFd } : {}),
      ...(o.zeroCopy !== undefined ? { zeroCopy: o.zeroCopy } : {}),
      ...(o.busyPoll ? { busyPoll: o.busyPoll } : {}),
    });
  } catch (e) {
    // The UMEM memfd is closed: it is no longer a region on huge pages.
    const huge = regions.hugePages.regions;
    if (umemFd !== undefined && huge.includes(x.umem.name)) huge.splice(huge.indexOf(x.umem.name), 1);
    // Asked for explicitly: no fallback to the socket provider either.
    if (e instanceof ZeroCopyRefusedError)
      throw new Error(`[net] xdp_zero_copy = true on ${o.ifname}: ${e.message} (use "auto" to fall back to copy)`);
    throw new XdpAttachError((e as Error).message);
  }
  undo.push(`close the AF_XDP socket of ${o.ifname} queue ${o.queueId}`, () => tearDownXdpQueue(q));
  into.sockets.set(x.socket, q.xskFd);
  into.umems.set(x.umem.name, { fd: q.umemFd, size: x.umem.size });
  return q;
}

/** The data plane an instance runs, and why (manifest, status, metrics). */
export interface ProviderChoice {
  topology: InstanceTopology;
  provider: ResolvedNetProvider;
  reason: string;
  /** XDP, attached (provider "xdp"). */
  xdp?: AttachedXdp;
}

/**
 * Resolves [net] provider: "socket" as configured; "xdp" attaches or fails; "auto" attaches XDP
 * and, when setUpXdp refuses, describes the instance again with the socket provider (nothing of
 * the XDP attempt is left: setUpXdp closes what it opened). Before anything else is provisioned,
 * so the regions and sockets made are those of the provider that runs.
 */
export function chooseProvider(
  configured: NetProvider,
  describe: (provider: ResolvedNetProvider) => InstanceTopology,
  regions: RegionSet,
  undo: Undo,
  log: Logger,
): ProviderChoice {
  if (configured === "socket") return { topology: describe("socket"), provider: "socket", reason: "configured" };
  const topology = describe("xdp");
  try {
    const xdp = attachXdp(topology, regions, undo, log);
    return { topology, provider: "xdp", reason: configured === "auto" ? "auto: XDP attached" : "configured", xdp };
  } catch (e) {
    if (configured !== "auto" || !(e instanceof XdpAttachError)) throw e;
    const reason = `auto: XDP attach failed: ${e.message}`;
    log.warn({ reason }, "XDP could not attach: the net tile runs over UDP sockets (provider socket)");
    return { topology: describe("socket"), provider: "socket", reason };
  }
}

/** What an AF_XDP socket is attached to, for the manifest, status and metrics. */
function attachmentOf(options: XdpSetupOptions, iface: XdpInterfaceHandles, xdp: XdpQueueHandles): XdpAttachment {
  return {
    interface: options.ifname,
    ifindex: iface.ifindex,
    queue: xdp.queueId,
    mode: iface.mode ?? "skb",
    requestedMode: options.mode,
    zeroCopy: xdp.zeroCopy,
    requestedZeroCopy: options.zeroCopy ?? false,
    ...(xdp.zeroCopyFallback !== undefined ? { zeroCopyFallback: xdp.zeroCopyFallback } : {}),
    needWakeup: xdp.needWakeup,
    ...(options.busyPoll ? { busyPoll: xdp.busyPoll } : {}),
    ...(iface.fallbackReason !== undefined ? { fallbackReason: iface.fallbackReason } : {}),
    napi: readNapiSettings(options.ifname, options.netnsPath),
  };
}

function launchOf(
  tile: TileDesc,
  regions: RegionSet,
  sockets: Map<string, number>,
  umems: Map<string, { fd: number; size: number }>,
): TileLaunch {
  const grants = tile.regions.map(({ role, region, access, shared }): TileRegionGrant => {
    const writable = access === "write";
    if (shared && writable) {
      const r = regions.get(region);
      return { role, launcherFd: r.fd, size: r.size, writable, shared };
    }
    const umem = umems.get(region);
    if (umem) return { role, launcherFd: umem.fd, size: umem.size, writable };
    const r = regions.get(region);
    return { role, launcherFd: writable ? r.fd : regions.readOnlyFd(region), size: r.size, writable };
  });
  const fds = tile.fds.map(({ role, socket }) => {
    const fd = sockets.get(socket);
    if (fd === undefined) throw new Error(`tile ${tile.name}: no socket named ${socket}`);
    return { role, launcherFd: fd };
  });
  return {
    name: tile.name,
    kind: tile.kind,
    bundle: tile.bundle,
    regions: grants,
    fds,
    config: tile.config,
    ...(tile.heapMb !== undefined ? { heapMb: tile.heapMb } : {}),
    ...(tile.keepNetAdmin !== undefined ? { keepNetAdmin: tile.keepNetAdmin } : {}),
  };
}

export interface ProvisionedInstance {
  /** The tiles' launches, in the description's order. */
  launches: TileLaunch[];
  /** Each interface's XDP program as attached (the mode actually in use is in each). */
  xdp: XdpInterfaceHandles[];
  /** What each AF_XDP socket is attached to (mode actually attached, queue, copy or zero-copy). */
  attachments: (XdpAttachment & { tile: string })[];
}

/** Makes every resource the description names and returns the tiles' launches (XDP attached
 *  already by chooseProvider, or here). */
export function provisionInstance(
  topology: InstanceTopology,
  regions: RegionSet,
  undo: Undo,
  log: Logger,
  xdpAttached?: AttachedXdp,
): ProvisionedInstance {
  for (const group of topology.groups) createGroup(group, regions);
  const attached = xdpAttached ?? attachXdp(topology, regions, undo, log);
  const sockets = openSockets(topology, undo);
  for (const [name, fd] of attached.sockets) sockets.set(name, fd);
  const { umems, xdp, attachments } = attached;
  const launches = topology.tiles.map((t) => launchOf(t, regions, sockets, umems));
  log.debug({ tiles: launches.map((t) => t.name) }, "provisioned");
  return { launches, xdp, attachments };
}
