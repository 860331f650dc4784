// Launcher side (root): everything privileged about XDP, done in the interface's namespace.
// Per interface: XSKMAP and miss counters (one entry per receive queue), then the program (it
// references both maps). Per queue: UMEM memfd, AF_XDP socket bound to the queue, socket into the
// map at the queue index. Last, once every queue is bound, the BPF link that attaches the program
// (so no packet is redirected before its socket is there). Closing the link fd detaches.
// setUpXdp/tearDownXdp are the one-queue shorthand over the same steps.
import { inNetns, native } from "../native";
import { BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_XSKMAP, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE } from "./abi";
import { type XskGeometry, xskGeometryOf } from "./geometry";
import { generateXdpProgram, validateXdpProgramSpec } from "./program";
import { QUEUE_MISS_COUNTER_BYTES, QUEUE_MISS_MAX_QUEUES } from "./queue-misses";

export type XdpMode = "drv" | "skb";

/** SO_PREFER_BUSY_POLL, SO_BUSY_POLL (usecs) and SO_BUSY_POLL_BUDGET, the kernel's names. */
export interface BusyPollOptions {
  prefer: boolean;
  usecs: number;
  budget: number;
}

/** One interface: the program and its maps, shared by every queue's socket. */
export interface XdpInterfaceOptions {
  /** Network namespace of the interface (e.g. /run/netns/NAME); the caller's own when omitted. */
  netnsPath?: string;
  ifname: string;
  /** UDP destination ports redirected to the sockets (1..16). */
  ports: number[];
  /** Redirect only IPv4 datagrams to this IPv4 address (host-order u32). */
  dstIp?: number;
  /** Redirect only IPv6 datagrams to this IPv6 address (four words, shared/ip6.ts). */
  dstIp6?: readonly number[] | Uint32Array;
  /** "auto" tries native (driver) mode, then generic (skb) mode. */
  mode: "auto" | XdpMode;
  /** Receive queues the program serves: entries of the XSKMAP and of the miss counters
   *  (1..QUEUE_MISS_MAX_QUEUES). */
  queueCount: number;
}

/** What setUpXdpInterface made; linkFd, mode and fallbackReason once attachXdpInterface ran. */
export interface XdpInterfaceHandles {
  readonly options: Readonly<XdpInterfaceOptions>;
  ifindex: number;
  xskMapFd: number;
  /** BPF array (BPF_F_MMAPABLE) of one u64 per queue: owned-port datagrams dropped on a queue
   *  with no socket (layout: queue-misses.ts). */
  missMapFd: number;
  progFd: number;
  queueCount: number;
  linkFd?: number;
  /** The attach mode actually in use. */
  mode?: XdpMode;
  /** With mode "auto": why the native (drv) attach was refused before falling back to skb. */
  fallbackReason?: string;
}

/** One receive queue's AF_XDP socket and UMEM. */
export interface XdpQueueOptions extends XskGeometry {
  /** Below the interface's queueCount. */
  queueId: number;
  /** Name of the UMEM memfd as /proc shows it (default "tilenet-umem"). */
  umemName?: string;
  /** A UMEM memfd the caller made (frameSize * frameCount bytes; the launcher's on huge pages);
   *  bindXskQueue owns it from then on, also when it fails. Default: a fresh memfd on normal pages. */
  umemFd?: number;
  /** true: require zero-copy (fails where the driver has none, e.g. veth); "auto": zero-copy
   *  where the driver takes it (not with mode "skb"), else copy with the reason; default false. */
  zeroCopy?: boolean | "auto";
  /** Busy-polling socket options set on the AF_XDP socket; the kernel's defaults when omitted. */
  busyPoll?: BusyPollOptions;
}

/** What bindXskQueue made; the geometry is exactly the one asked for. */
export interface XdpQueueHandles extends XskGeometry {
  queueId: number;
  xskFd: number;
  /** memfd backing UMEM (frameSize * frameCount bytes): the net tile maps it read-write. */
  umemFd: number;
  /** Zero-copy as the kernel holds it (XDP_OPTIONS). */
  zeroCopy: boolean;
  /** With zeroCopy "auto": why the socket is in copy mode. */
  zeroCopyFallback?: string;
  /** XDP_USE_NEED_WAKEUP: always asked for (the net tile kicks only when the kernel says so). */
  needWakeup: true;
  /** The busy-polling options as read back from the socket. */
  busyPoll: BusyPollOptions;
}

/** setUpXdp: one interface serving one queue (XSKMAP and miss counters sized queueId + 1). */
export interface XdpSetupOptions extends Omit<XdpInterfaceOptions, "queueCount">, XdpQueueOptions {}

/** What setUpXdp made; the geometry is exactly the one asked for. */
export interface XdpHandles extends XdpQueueHandles {
  progFd: number;
  xskMapFd: number;
  missMapFd: number;
  linkFd: number;
  ifindex: number;
  /** The attach mode actually in use. */
  mode: XdpMode;
  /** With mode "auto": why the native (drv) attach was refused before falling back to skb. */
  fallbackReason?: string;
}

const XDP_FLAGS: Record<XdpMode, number> = { drv: XDP_FLAGS_DRV_MODE, skb: XDP_FLAGS_SKB_MODE };

function checkPowerOfTwo(who: string, name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max || (v & (v - 1)) !== 0)
    throw new RangeError(`${who}: ${name} ${v} must be a power of two in ${min}..${max}`);
}

function validateInterface(who: string, o: Omit<XdpInterfaceOptions, "queueCount">, queueCount: number): void {
  if (!["auto", "drv", "skb"].includes(o.mode)) throw new RangeError(`${who}: unknown mode ${o.mode}`);
  if (!Number.isInteger(queueCount) || queueCount < 1 || queueCount > QUEUE_MISS_MAX_QUEUES)
    throw new RangeError(`${who}: queueCount ${queueCount} must be in 1..${QUEUE_MISS_MAX_QUEUES}`);
  // Ports and address before any map exists (the fds are placeholders).
  validateXdpProgramSpec({ ports: o.ports, dstIp: o.dstIp, dstIp6: o.dstIp6, xskMapFd: 0 });
}

function validateQueue(who: string, o: XdpQueueOptions, queueCount: number): void {
  checkPowerOfTwo(who, "frameSize", o.frameSize, 2048, 4096);
  if (!Number.isInteger(o.frameCount) || o.frameCount < 1 || o.frameSize * o.frameCount > 2 ** 32)
    throw new RangeError(`${who}: frameCount ${o.frameCount} must be >= 1 with UMEM <= 4 GiB`);
  checkPowerOfTwo(who, "fillDepth", o.fillDepth, 1, 1 << 20);
  checkPowerOfTwo(who, "completionDepth", o.completionDepth, 1, 1 << 20);
  checkPowerOfTwo(who, "rxDepth", o.rxDepth, 1, 1 << 20);
  checkPowerOfTwo(who, "txDepth", o.txDepth, 1, 1 << 20);
  if (!Number.isInteger(o.queueId) || o.queueId < 0 || o.queueId >= queueCount)
    throw new RangeError(`${who}: queueId ${o.queueId} out of range (queueCount ${queueCount})`);
  if (o.busyPoll) {
    const { usecs, budget } = o.busyPoll;
    if (!Number.isInteger(usecs) || usecs < 0 || usecs > 2 ** 31 - 1)
      throw new RangeError(`${who}: busy-poll usecs ${usecs} out of range`);
    if (!Number.isInteger(budget) || budget < 0 || budget > 65535)
      throw new RangeError(`${who}: busy-poll budget ${budget} out of range`);
  }
}

function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

/** How long bindXskQueue retries a bind refused with EBUSY. */
export const XSK_BIND_BUSY_RETRY_MS = 2000;

/** The kernel releases a closed socket's hold on its queue from a workqueue, tens of ms later:
 *  a bind right after a tear-down (a restart) gets EBUSY meanwhile. A socket that is still live
 *  keeps the queue, and the EBUSY comes through after the retry window. */
function createSocketRetryingBusy(create: () => number): number {
  const deadline = Date.now() + XSK_BIND_BUSY_RETRY_MS;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return create();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EBUSY" || Date.now() >= deadline) throw e;
      Atomics.wait(nap, 0, 0, 10);
    }
  }
}

/** Binds the AF_XDP socket (need-wakeup always), zero-copy as asked: true fails with the
 *  kernel's answer, "auto" tries it unless the program goes in generic mode and falls back to
 *  copy with that answer as the reason. */
function bindSocket(
  addon: ReturnType<typeof native>,
  q: XdpQueueOptions,
  iface: XdpInterfaceHandles,
  umemFd: number,
): { xskFd: number; zeroCopyFallback?: string } {
  const asked = q.zeroCopy ?? false;
  const create = (zeroCopy: boolean): number =>
    createSocketRetryingBusy(() =>
      addon.xskCreate({
        ifindex: iface.ifindex,
        queueId: q.queueId,
        umemFd,
        ...xskGeometryOf(q),
        zeroCopy,
        needWakeup: true,
      }),
    );
  if (asked === "auto" && iface.options.mode === "skb")
    return { xskFd: create(false), zeroCopyFallback: SKB_HAS_NO_ZERO_COPY };
  if (asked !== "auto") {
    try {
      return { xskFd: create(asked) };
    } catch (e) {
      if (asked) throw new ZeroCopyRefusedError(`zero-copy refused: ${(e as Error).message}`);
      throw e;
    }
  }
  try {
    return { xskFd: create(true) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EBUSY") throw e; // the queue, not zero-copy
    return { xskFd: create(false), zeroCopyFallback: (e as Error).message };
  }
}

const SKB_HAS_NO_ZERO_COPY = "generic (skb) mode: no zero-copy";

/** xdp_zero_copy = true could not be had: the start fails (no fallback to another provider). */
export class ZeroCopyRefusedError extends Error {}

/** Attaches the program: drv, skb, or with "auto" drv and then skb with the reason. */
function attachProgram(
  addon: ReturnType<typeof native>,
  iface: XdpInterfaceHandles,
): { linkFd: number; mode: XdpMode; fallbackReason?: string } {
  const { progFd, ifindex, options } = iface;
  if (options.mode !== "auto")
    return { linkFd: addon.bpfLinkCreateXdp(progFd, ifindex, XDP_FLAGS[options.mode]), mode: options.mode };
  try {
    return { linkFd: addon.bpfLinkCreateXdp(progFd, ifindex, XDP_FLAGS.drv), mode: "drv" };
  } catch (drvError) {
    try {
      const linkFd = addon.bpfLinkCreateXdp(progFd, ifindex, XDP_FLAGS.skb);
      return { linkFd, mode: "skb", fallbackReason: (drvError as Error).message };
    } catch (skbError) {
      throw new Error(
        `attachXdpInterface(${options.ifname}): native attach failed (${(drvError as Error).message}) and generic attach failed (${(skbError as Error).message})`,
      );
    }
  }
}

function closeAll(fds: number[]): void {
  const addon = native();
  for (const fd of fds.reverse()) {
    try {
      addon.closeFd(fd);
    } catch {
      // already reporting the failure that brought us here
    }
  }
}

/** XSKMAP, miss counters and program for one interface; nothing attached yet. */
export function setUpXdpInterface(opts: XdpInterfaceOptions): XdpInterfaceHandles {
  return setUpInterfaceAs("setUpXdpInterface", opts);
}

function setUpInterfaceAs(who: string, opts: XdpInterfaceOptions): XdpInterfaceHandles {
  validateInterface(who, opts, opts.queueCount);
  const addon = native();
  return inNetns(opts.netnsPath, () => {
    const ifindex = addon.ifNameToIndex(opts.ifname);
    if (ifindex === 0)
      throw new Error(`${who}: no interface '${opts.ifname}' in ${opts.netnsPath ?? "this namespace"}`);
    const opened: number[] = [];
    try {
      const xskMapFd = addon.bpfMapCreate(BPF_MAP_TYPE_XSKMAP, 4, 4, opts.queueCount, "tn_xsks");
      opened.push(xskMapFd);
      const missMapFd = addon.bpfMapCreate(
        BPF_MAP_TYPE_ARRAY,
        4,
        QUEUE_MISS_COUNTER_BYTES,
        opts.queueCount,
        "tn_xsk_misses",
        BPF_F_MMAPABLE,
      );
      opened.push(missMapFd);
      const insns = generateXdpProgram({
        ports: opts.ports,
        dstIp: opts.dstIp,
        dstIp6: opts.dstIp6,
        xskMapFd,
        missMapFd,
      });
      const progFd = addon.bpfProgLoadXdp(insns, "tn_xdp_udp", "Apache-2.0");
      opened.push(progFd);
      return {
        options: { ...opts, ports: [...opts.ports] },
        ifindex,
        xskMapFd,
        missMapFd,
        progFd,
        queueCount: opts.queueCount,
      };
    } catch (e) {
      closeAll(opened);
      throw e;
    }
  });
}

/** Makes (or takes) the queue's UMEM, binds its AF_XDP socket and puts it in the XSKMAP. */
export function bindXskQueue(iface: XdpInterfaceHandles, q: XdpQueueOptions): XdpQueueHandles {
  try {
    validateQueue("bindXskQueue", q, iface.queueCount);
  } catch (e) {
    if (q.umemFd !== undefined) closeAll([q.umemFd]); // ours even when refused before use
    throw e;
  }
  return bindQueueValidated(iface, q);
}

function bindQueueValidated(iface: XdpInterfaceHandles, q: XdpQueueOptions): XdpQueueHandles {
  const addon = native();
  return inNetns(iface.options.netnsPath, () => {
    let umemFd = q.umemFd ?? -1;
    let xskFd = -1;
    try {
      if (umemFd < 0) umemFd = addon.memfdCreate(q.umemName ?? "tilenet-umem", q.frameSize * q.frameCount);
      const bound = bindSocket(addon, q, iface, umemFd);
      xskFd = bound.xskFd;
      if (q.busyPoll) addon.socketSetBusyPoll(xskFd, q.busyPoll);
      addon.bpfMapUpdate(iface.xskMapFd, u32le(q.queueId), u32le(xskFd));
      const kernel = addon.xskSocketOptions(xskFd);
      return {
        queueId: q.queueId,
        xskFd,
        umemFd,
        zeroCopy: kernel.zeroCopy,
        ...(bound.zeroCopyFallback !== undefined ? { zeroCopyFallback: bound.zeroCopyFallback } : {}),
        needWakeup: true,
        busyPoll: {
          prefer: kernel.preferBusyPoll,
          usecs: kernel.busyPollUsecs,
          // Not readable on this kernel: what setsockopt accepted (0, the default, when unset).
          budget: kernel.busyPollBudget ?? q.busyPoll?.budget ?? 0,
        },
        ...xskGeometryOf(q),
      };
    } catch (e) {
      // Closing the socket also takes it out of the XSKMAP.
      if (xskFd >= 0) addon.xskClose(xskFd);
      if (umemFd >= 0) closeAll([umemFd]);
      throw e;
    }
  });
}

/** Creates the BPF link (last: every queue's socket is in the map by now); sets and returns
 *  linkFd, mode and fallbackReason on the handles. */
export function attachXdpInterface(iface: XdpInterfaceHandles): {
  linkFd: number;
  mode: XdpMode;
  fallbackReason?: string;
} {
  if (iface.linkFd !== undefined) throw new Error(`attachXdpInterface(${iface.options.ifname}): already attached`);
  const attached = inNetns(iface.options.netnsPath, () => attachProgram(native(), iface));
  iface.linkFd = attached.linkFd;
  iface.mode = attached.mode;
  if (attached.fallbackReason !== undefined) iface.fallbackReason = attached.fallbackReason;
  return attached;
}

/** Runs every step, then throws the first failure. */
function runAll(who: string, steps: Array<[string, () => void]>): void {
  let first: Error | undefined;
  for (const [name, step] of steps) {
    try {
      step();
    } catch (e) {
      first ??= new Error(`${who}: closing ${name} failed: ${(e as Error).message}`);
    }
  }
  if (first) throw first;
}

/** Closes the queue's socket (which leaves the XSKMAP with it) and its UMEM. */
export function tearDownXdpQueue(q: XdpQueueHandles): void {
  const addon = native();
  runAll("tearDownXdpQueue", [
    ["xsk", () => addon.xskClose(q.xskFd)],
    ["umem", () => addon.closeFd(q.umemFd)],
  ]);
}

/** Detaches (closes the link) first, then the XSKMAP, program and miss counters. */
export function tearDownXdpInterface(iface: XdpInterfaceHandles): void {
  const addon = native();
  const { linkFd } = iface;
  runAll("tearDownXdpInterface", [
    ["link", () => (linkFd === undefined ? undefined : addon.closeFd(linkFd))],
    ["xskmap", () => addon.closeFd(iface.xskMapFd)],
    ["prog", () => addon.closeFd(iface.progFd)],
    ["miss map", () => addon.closeFd(iface.missMapFd)],
  ]);
}

/** One interface serving one queue, attached: the three steps above in order. Every descriptor
 *  opened is closed on any failure. */
export function setUpXdp(opts: XdpSetupOptions): XdpHandles {
  try {
    validateQueue("setUpXdp", opts, QUEUE_MISS_MAX_QUEUES);
  } catch (e) {
    if (opts.umemFd !== undefined) closeAll([opts.umemFd]);
    throw e;
  }
  let iface: XdpInterfaceHandles;
  try {
    iface = setUpInterfaceAs("setUpXdp", { ...opts, queueCount: opts.queueId + 1 });
  } catch (e) {
    if (opts.umemFd !== undefined) closeAll([opts.umemFd]);
    throw e;
  }
  let queue: XdpQueueHandles | undefined;
  try {
    queue = bindQueueValidated(iface, opts);
    const attached = attachXdpInterface(iface);
    const { progFd, xskMapFd, missMapFd, ifindex } = iface;
    return { ...queue, progFd, xskMapFd, missMapFd, ifindex, ...attached };
  } catch (e) {
    if (queue) tearDownQuietly(() => tearDownXdpQueue(queue as XdpQueueHandles));
    tearDownQuietly(() => tearDownXdpInterface(iface));
    throw e;
  }
}

function tearDownQuietly(tearDown: () => void): void {
  try {
    tearDown();
  } catch {
    // the set-up failure is the one to report
  }
}

/** Detaches first, then releases the socket, UMEM, map, program and miss counters. Throws the
 *  first failure after trying every step. */
export function tearDownXdp(h: XdpHandles): void {
  const addon = native();
  runAll("tearDownXdp", [
    ["link", () => addon.closeFd(h.linkFd)],
    ["xsk", () => addon.xskClose(h.xskFd)],
    ["umem", () => addon.closeFd(h.umemFd)],
    ["xskmap", () => addon.closeFd(h.xskMapFd)],
    ["prog", () => addon.closeFd(h.progFd)],
    ["miss map", () => addon.closeFd(h.missMapFd)],
  ]);
}
