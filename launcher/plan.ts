// Turns an instance's description (topology.ts) into the privileged resources its tiles hold:
// shared regions (created, initialised), rtnetlink and probe sockets in the instance's network
// namespace, AF_XDP sockets with their XDP programs; then each tile's launch with the descriptors
// it is granted. Each resource is registered with the undo stack as soon as it exists.
import { initCaptureRegions } from "../shared/capture/layout";
import type { Logger } from "../shared/log";
import { initMetricsRegion } from "../shared/metrics/region";
import { inNetns, native } from "../shared/native";
import { initNetbase } from "../shared/netbase/layout";
import { initRingRegions } from "../shared/ring/layout";
import { initUdpChannel } from "../shared/udp/channel";
import {
  setUpXdp,
  tearDownXdp,
  type XdpHandles,
  type XdpSetupOptions,
  ZeroCopyRefusedError,
} from "../shared/xdp/attach";
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

/** The interfaces the config's net tiles serve, looked up in the instance's namespace. */
export function resolveInterfaces(config: InstanceConfig): NetInterface[] {
  const name = config.net.interface;
  if (!name) return [];
  const ns = config.net.netns;
  const ifindex = inNetns(ns, () => native().ifNameToIndex(name));
  if (ifindex === 0) throw new Error(`net.interface: no interface named ${name}${ns ? ` in ${ns}` : ""}`);
  return [{ name, ifindex }];
}

/** Copies the files the description's tiles load (app modules) into the staged runtime. */
export function stageTileFiles(staged: StagedRuntime, topology: InstanceTopology): void {
  for (const tile of topology.tiles) {
    for (const file of tile.files) {
      const at = staged.stageAppModule(tile.name, file.source);
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

/** AF_XDP sockets by name, their UMEMs by region name, and what each is attached to. */
export interface AttachedXdp {
  sockets: Map<string, number>;
  umems: Map<string, { fd: number; size: number }>;
  xdp: XdpHandles[];
  attachments: XdpAttachment[];
}

/** Attaches XDP and makes each AF_XDP socket; its UMEM becomes a region only its net tile maps. */
export function attachXdp(topology: InstanceTopology, regions: RegionSet, undo: Undo, log: Logger): AttachedXdp {
  const sockets = new Map<string, number>();
  const umems = new Map<string, { fd: number; size: number }>();
  const handles: XdpHandles[] = [];
  const attachments: XdpAttachment[] = [];
  for (const x of topology.xsks) {
    // Huge pages for the UMEM when the instance has them; setUpXdp owns the fd (closes it with the rest).
    const umemFd = regions.hugeMemfd(x.umem.name, "umem", x.umem.size);
    let xdp: XdpHandles;
    try {
      xdp = setUpXdp(umemFd === undefined ? x.options : { ...x.options, umemFd });
    } catch (e) {
      // setUpXdp closed the UMEM memfd: it is no longer a region on huge pages.
      const huge = regions.hugePages.regions;
      if (umemFd !== undefined && huge.includes(x.umem.name)) huge.splice(huge.indexOf(x.umem.name), 1);
      // Asked for explicitly: no fallback to the socket provider either.
      if (e instanceof ZeroCopyRefusedError)
        throw new Error(
          `[net] xdp_zero_copy = true on ${x.options.ifname}: ${e.message} (use "auto" to fall back to copy)`,
        );
      throw new XdpAttachError((e as Error).message);
    }
    undo.push("detach XDP and close the AF_XDP socket", () => tearDownXdp(xdp));
    const attachment = attachmentOf(x.options, xdp);
    if (xdp.fallbackReason !== undefined)
      log.warn({ reason: xdp.fallbackReason }, "native XDP (drv) refused: attached in generic (skb) mode");
    // Info, not a warning: with the default "auto" most drivers (virtio, veth) end here.
    if (xdp.zeroCopyFallback !== undefined)
      log.info({ reason: xdp.zeroCopyFallback }, "AF_XDP zero-copy not available: bound in copy mode");
    log.info({ ...attachment, ports: x.options.ports }, "XDP attached");
    handles.push(xdp);
    attachments.push(attachment);
    sockets.set(x.socket, xdp.xskFd);
    umems.set(x.umem.name, { fd: xdp.umemFd, size: x.umem.size });
  }
  return { sockets, umems, xdp: handles, attachments };
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
function attachmentOf(options: XdpSetupOptions, xdp: XdpHandles): XdpAttachment {
  return {
    interface: options.ifname,
    ifindex: xdp.ifindex,
    queue: xdp.queueId,
    mode: xdp.mode,
    requestedMode: options.mode,
    zeroCopy: xdp.zeroCopy,
    requestedZeroCopy: options.zeroCopy ?? false,
    ...(xdp.zeroCopyFallback !== undefined ? { zeroCopyFallback: xdp.zeroCopyFallback } : {}),
    needWakeup: xdp.needWakeup,
    ...(options.busyPoll ? { busyPoll: xdp.busyPoll } : {}),
    ...(xdp.fallbackReason !== undefined ? { fallbackReason: xdp.fallbackReason } : {}),
    napi: readNapiSettings(options.ifname, options.netnsPath),
  };
}

function launchOf(
  tile: TileDesc,
  regions: RegionSet,
  sockets: Map<string, number>,
  umems: Map<string, { fd: number; size: number }>,
): TileLaunch {
  const grants = tile.regions.map(({ role, region, access }): TileRegionGrant => {
    const writable = access === "write";
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
  /** The XDP attachments made (the mode actually in use is in each). */
  xdp: XdpHandles[];
  /** What each AF_XDP socket is attached to (mode actually attached, queue, copy or zero-copy). */
  attachments: XdpAttachment[];
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
