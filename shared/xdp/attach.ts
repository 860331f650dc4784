// Launcher side (root): everything privileged about XDP, done in the interface's namespace.
// Order: XSKMAP, program (it references the map), UMEM memfd, AF_XDP socket bound to the queue,
// socket into the map at the queue index, then the BPF link that attaches the program (last, so
// no packet is redirected before a socket is there). Closing the link fd detaches.
import { inNetns, native } from "../native";
import { BPF_MAP_TYPE_XSKMAP, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE } from "./abi";
import { type XskGeometry, xskGeometryOf } from "./geometry";
import { generateXdpProgram } from "./program";

export type XdpMode = "drv" | "skb";

/** SO_PREFER_BUSY_POLL, SO_BUSY_POLL (usecs) and SO_BUSY_POLL_BUDGET, the kernel's names. */
export interface BusyPollOptions {
  prefer: boolean;
  usecs: number;
  budget: number;
}

export interface XdpSetupOptions extends XskGeometry {
  /** Name of the UMEM memfd as /proc shows it (default "tilenet-umem"). */
  umemName?: string;
  /** Network namespace of the interface (e.g. /run/netns/NAME); the caller's own when omitted. */
  netnsPath?: string;
  ifname: string;
  /** UDP destination ports redirected to the socket (1..16). */
  ports: number[];
  /** Redirect only datagrams to this IPv4 address (host-order u32). */
  dstIp?: number;
  /** "auto" tries native (driver) mode, then generic (skb) mode. */
  mode: "auto" | XdpMode;
  queueId: number;
  /** true: require zero-copy (fails where the driver has none, e.g. veth); "auto": zero-copy
   *  where the driver takes it (not with mode "skb"), else copy with the reason; default false. */
  zeroCopy?: boolean | "auto";
  /** Busy-polling socket options set on the AF_XDP socket; the kernel's defaults when omitted. */
  busyPoll?: BusyPollOptions;
  /** A UMEM memfd the caller made (frameSize * frameCount bytes; the launcher's on huge pages);
   *  setUpXdp owns it from then on. Default: a fresh memfd on normal pages. */
  umemFd?: number;
}

/** What setUpXdp made; the geometry is exactly the one asked for. */
export interface XdpHandles extends XskGeometry {
  progFd: number;
  xskMapFd: number;
  linkFd: number;
  xskFd: number;
  /** memfd backing UMEM (frameSize * frameCount bytes): the net tile maps it read-write. */
  umemFd: number;
  ifindex: number;
  /** The attach mode actually in use. */
  mode: XdpMode;
  /** With mode "auto": why the native (drv) attach was refused before falling back to skb. */
  fallbackReason?: string;
  /** Zero-copy as the kernel holds it (XDP_OPTIONS). */
  zeroCopy: boolean;
  /** With zeroCopy "auto": why the socket is in copy mode. */
  zeroCopyFallback?: string;
  /** XDP_USE_NEED_WAKEUP: always asked for (the net tile kicks only when the kernel says so). */
  needWakeup: true;
  /** The busy-polling options as read back from the socket. */
  busyPoll: BusyPollOptions;
  queueId: number;
}

const XDP_FLAGS: Record<XdpMode, number> = { drv: XDP_FLAGS_DRV_MODE, skb: XDP_FLAGS_SKB_MODE };

function checkPowerOfTwo(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max || (v & (v - 1)) !== 0)
    throw new RangeError(`setUpXdp: ${name} ${v} must be a power of two in ${min}..${max}`);
}

function validate(o: XdpSetupOptions): void {
  checkPowerOfTwo("frameSize", o.frameSize, 2048, 4096);
  if (!Number.isInteger(o.frameCount) || o.frameCount < 1 || o.frameSize * o.frameCount > 2 ** 32)
    throw new RangeError(`setUpXdp: frameCount ${o.frameCount} must be >= 1 with UMEM <= 4 GiB`);
  checkPowerOfTwo("fillDepth", o.fillDepth, 1, 1 << 20);
  checkPowerOfTwo("completionDepth", o.completionDepth, 1, 1 << 20);
  checkPowerOfTwo("rxDepth", o.rxDepth, 1, 1 << 20);
  checkPowerOfTwo("txDepth", o.txDepth, 1, 1 << 20);
  if (!Number.isInteger(o.queueId) || o.queueId < 0 || o.queueId > 1023)
    throw new RangeError(`setUpXdp: queueId ${o.queueId} out of range`);
  if (!["auto", "drv", "skb"].includes(o.mode)) throw new RangeError(`setUpXdp: unknown mode ${o.mode}`);
  if (o.busyPoll) {
    const { usecs, budget } = o.busyPoll;
    if (!Number.isInteger(usecs) || usecs < 0 || usecs > 2 ** 31 - 1)
      throw new RangeError(`setUpXdp: busy-poll usecs ${usecs} out of range`);
    if (!Number.isInteger(budget) || budget < 0 || budget > 65535)
      throw new RangeError(`setUpXdp: busy-poll budget ${budget} out of range`);
  }
}

function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

/** How long setUpXdp retries a bind refused with EBUSY. */
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
  opts: XdpSetupOptions,
  ifindex: number,
  umemFd: number,
): { xskFd: number; zeroCopyFallback?: string } {
  const asked = opts.zeroCopy ?? false;
  const create = (zeroCopy: boolean): number =>
    createSocketRetryingBusy(() =>
      addon.xskCreate({ ifindex, queueId: opts.queueId, umemFd, ...xskGeometryOf(opts), zeroCopy, needWakeup: true }),
    );
  if (asked === "auto" && opts.mode === "skb") return { xskFd: create(false), zeroCopyFallback: SKB_HAS_NO_ZERO_COPY };
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
  opts: XdpSetupOptions,
  progFd: number,
  ifindex: number,
): { linkFd: number; mode: XdpMode; fallbackReason?: string } {
  if (opts.mode !== "auto")
    return { linkFd: addon.bpfLinkCreateXdp(progFd, ifindex, XDP_FLAGS[opts.mode]), mode: opts.mode };
  try {
    return { linkFd: addon.bpfLinkCreateXdp(progFd, ifindex, XDP_FLAGS.drv), mode: "drv" };
  } catch (drvError) {
    try {
      const linkFd = addon.bpfLinkCreateXdp(progFd, ifindex, XDP_FLAGS.skb);
      return { linkFd, mode: "skb", fallbackReason: (drvError as Error).message };
    } catch (skbError) {
      throw new Error(
        `setUpXdp(${opts.ifname}): native attach failed (${(drvError as Error).message}) and generic attach failed (${(skbError as Error).message})`,
      );
    }
  }
}

// Every descriptor opened is closed on any failure, so the steps stay in one try.
export function setUpXdp(opts: XdpSetupOptions): XdpHandles {
  validate(opts);
  const addon = native();
  return inNetns(opts.netnsPath, () => {
    const ifindex = addon.ifNameToIndex(opts.ifname);
    if (ifindex === 0)
      throw new Error(`setUpXdp: no interface '${opts.ifname}' in ${opts.netnsPath ?? "this namespace"}`);
    const opened: number[] = [];
    let xskFd = -1;
    try {
      const xskMapFd = addon.bpfMapCreate(BPF_MAP_TYPE_XSKMAP, 4, 4, opts.queueId + 1, "tn_xsks");
      opened.push(xskMapFd);
      const insns = generateXdpProgram({ ports: opts.ports, dstIp: opts.dstIp, xskMapFd });
      const progFd = addon.bpfProgLoadXdp(insns, "tn_xdp_udp", "Apache-2.0");
      opened.push(progFd);
      const umemFd =
        opts.umemFd ?? addon.memfdCreate(opts.umemName ?? "tilenet-umem", opts.frameSize * opts.frameCount);
      opened.push(umemFd);
      const bound = bindSocket(addon, opts, ifindex, umemFd);
      xskFd = bound.xskFd;
      if (opts.busyPoll) addon.socketSetBusyPoll(xskFd, opts.busyPoll);
      addon.bpfMapUpdate(xskMapFd, u32le(opts.queueId), u32le(xskFd));
      const attached = attachProgram(addon, opts, progFd, ifindex);
      opened.push(attached.linkFd);
      const kernel = addon.xskSocketOptions(xskFd);
      return {
        progFd,
        xskMapFd,
        linkFd: attached.linkFd,
        xskFd,
        umemFd,
        ifindex,
        mode: attached.mode,
        ...(attached.fallbackReason !== undefined ? { fallbackReason: attached.fallbackReason } : {}),
        zeroCopy: kernel.zeroCopy,
        ...(bound.zeroCopyFallback !== undefined ? { zeroCopyFallback: bound.zeroCopyFallback } : {}),
        needWakeup: true,
        busyPoll: {
          prefer: kernel.preferBusyPoll,
          usecs: kernel.busyPollUsecs,
          // Not readable on this kernel: what setsockopt accepted (0, the default, when unset).
          budget: kernel.busyPollBudget ?? opts.busyPoll?.budget ?? 0,
        },
        queueId: opts.queueId,
        ...xskGeometryOf(opts),
      };
    } catch (e) {
      if (xskFd >= 0) addon.xskClose(xskFd);
      // A caller's UMEM fd is ours even when the failure came before it was used.
      if (opts.umemFd !== undefined && !opened.includes(opts.umemFd)) opened.push(opts.umemFd);
      for (const fd of opened.reverse()) addon.closeFd(fd);
      throw e;
    }
  });
}

/** Detaches (closes the link) first, then releases the socket, map, program and UMEM. Throws the
 *  first failure after trying every step. */
export function tearDownXdp(h: XdpHandles): void {
  const addon = native();
  const steps: Array<[string, () => void]> = [
    ["link", () => addon.closeFd(h.linkFd)],
    ["xsk", () => addon.xskClose(h.xskFd)],
    ["xskmap", () => addon.closeFd(h.xskMapFd)],
    ["prog", () => addon.closeFd(h.progFd)],
    ["umem", () => addon.closeFd(h.umemFd)],
  ];
  let first: Error | undefined;
  for (const [name, step] of steps) {
    try {
      step();
    } catch (e) {
      first ??= new Error(`tearDownXdp: closing ${name} failed: ${(e as Error).message}`);
    }
  }
  if (first) throw first;
}
