// Drivers for the four AF_XDP rings over the mappings returned by xskMapRings, plus a UMEM frame
// pool. All allocation-free: the hot path reads and writes typed-array views only.
//
// Each ring is single-producer single-consumer between this process and the kernel. The
// producer and consumer indices are free-running u32 counters at the offsets the kernel gave;
// slot = index & (depth - 1). Fill and TX are produced by us; RX and completion by the kernel.
//
// Ordering: the kernel reads a slot only after it sees the producer index move past it, so our
// slot writes must be visible before our producer store; and we must read a slot only after
// loading the producer index that covers it, and finish reading before our consumer store
// hands the slot back. Atomics.load/store on an Int32Array view are sequentially consistent:
// V8 neither moves plain typed-array accesses across them nor lets the CPU do so (a store is a
// locked xchg on x86), which gives the release/acquire pairs the kernel side expects. Plain
// accesses are used for the slots themselves and for our own cached copies of the indices.
import type { XdpMmapOffsets, XskRings } from "../native";
import { XDP_ADDR_BYTES, XDP_DESC_BYTES, XDP_RING_NEED_WAKEUP } from "./abi";

const TWO_32 = 0x1_0000_0000;

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 0x4000_0000;
}

abstract class XskRing {
  readonly depth: number;
  protected readonly mask: number;
  protected readonly indices: Int32Array;
  protected readonly slots: Uint32Array;
  protected readonly producerAt: number;
  protected readonly consumerAt: number;
  protected readonly flagsAt: number;
  /** u32 words per slot: 2 for a u64 address, 4 for struct xdp_desc. */
  protected readonly slotWords: number;

  constructor(name: string, buf: ArrayBuffer, offsets: XdpMmapOffsets, depth: number, slotBytes: number) {
    if (!isPowerOfTwo(depth)) throw new RangeError(`xsk ${name} ring: depth ${depth} is not a power of two`);
    for (const key of ["producer", "consumer", "desc", "flags"] as const) {
      const v = offsets[key];
      if (!Number.isInteger(v) || v < 0 || v % 4 !== 0 || v + 4 > buf.byteLength)
        throw new RangeError(
          `xsk ${name} ring: ${key} offset ${v} is not a u32 inside the ${buf.byteLength}-byte ring`,
        );
    }
    if (offsets.desc + depth * slotBytes > buf.byteLength)
      throw new RangeError(
        `xsk ${name} ring: ${depth} slots from offset ${offsets.desc} exceed the ${buf.byteLength}-byte mapping`,
      );
    this.depth = depth;
    this.mask = depth - 1;
    this.indices = new Int32Array(buf, 0, buf.byteLength >>> 2);
    this.slots = new Uint32Array(buf, offsets.desc, (depth * slotBytes) >>> 2);
    this.producerAt = offsets.producer >>> 2;
    this.consumerAt = offsets.consumer >>> 2;
    this.flagsAt = offsets.flags >>> 2;
    this.slotWords = slotBytes >>> 2;
  }

  /** True when the kernel asked for a syscall (xskWakeup for fill/RX, xskKick for TX) to make progress. */
  needsWakeup(): boolean {
    return (Atomics.load(this.indices, this.flagsAt) & XDP_RING_NEED_WAKEUP) !== 0;
  }
}

/** A ring we produce into (fill, TX): reserve slots, write them, submit. */
abstract class XskProducerRing extends XskRing {
  /** Our producer index (published on submit). */
  private producer: number;
  /** Last consumer index seen, plus depth: slots below it are free. */
  private freeEnd: number;
  private reserved = 0;

  constructor(name: string, buf: ArrayBuffer, offsets: XdpMmapOffsets, depth: number, slotBytes: number) {
    super(name, buf, offsets, depth, slotBytes);
    this.producer = Atomics.load(this.indices, this.producerAt) >>> 0;
    this.freeEnd = ((Atomics.load(this.indices, this.consumerAt) >>> 0) + depth) >>> 0;
  }

  /** Free slots, reloading the kernel's consumer index only when the cached view has fewer than `want`. */
  free(want: number): number {
    let free = (this.freeEnd - this.producer) >>> 0;
    if (free < want) {
      this.freeEnd = ((Atomics.load(this.indices, this.consumerAt) >>> 0) + this.depth) >>> 0;
      free = (this.freeEnd - this.producer) >>> 0;
    }
    return free;
  }

  /** Reserves up to n slots (0 when the ring is full); write slots 0..k-1 then submit. */
  reserve(n: number): number {
    const free = this.free(n);
    const k = Math.min(n, free);
    this.reserved = k;
    return k;
  }

  /** Publishes the first k reserved slots to the kernel (k <= the last reserve's count). */
  submit(k: number): void {
    if (k > this.reserved || k < 0) throw new RangeError(`xsk ring: submit ${k} > reserved ${this.reserved}`);
    this.producer = (this.producer + k) >>> 0;
    this.reserved = 0;
    Atomics.store(this.indices, this.producerAt, this.producer | 0);
  }

  /** u32 word index of reserved slot i. */
  protected slotWord(i: number): number {
    return ((this.producer + i) & this.mask) * this.slotWords;
  }
}

/** A ring the kernel produces into (RX, completion): peek, read, release. */
abstract class XskConsumerRing extends XskRing {
  private consumer: number;
  private cachedProducer: number;

  constructor(name: string, buf: ArrayBuffer, offsets: XdpMmapOffsets, depth: number, slotBytes: number) {
    super(name, buf, offsets, depth, slotBytes);
    this.consumer = Atomics.load(this.indices, this.consumerAt) >>> 0;
    this.cachedProducer = Atomics.load(this.indices, this.producerAt) >>> 0;
  }

  /** Number of filled slots available (up to max); loads the kernel's producer index only when the cache is short. */
  peek(max: number): number {
    let avail = (this.cachedProducer - this.consumer) >>> 0;
    if (avail < max) {
      this.cachedProducer = Atomics.load(this.indices, this.producerAt) >>> 0;
      avail = (this.cachedProducer - this.consumer) >>> 0;
    }
    return Math.min(avail, max);
  }

  /** Hands the first k peeked slots back to the kernel. */
  release(k: number): void {
    const avail = (this.cachedProducer - this.consumer) >>> 0;
    if (k > avail || k < 0) throw new RangeError(`xsk ring: release ${k} > available ${avail}`);
    this.consumer = (this.consumer + k) >>> 0;
    Atomics.store(this.indices, this.consumerAt, this.consumer | 0);
  }

  protected slotWord(i: number): number {
    return ((this.consumer + i) & this.mask) * this.slotWords;
  }
}

/** Fill ring: UMEM frame addresses we give the kernel to receive into. */
export class XskFillRing extends XskProducerRing {
  constructor(buf: ArrayBuffer, offsets: XdpMmapOffsets, depth: number) {
    super("fill", buf, offsets, depth, XDP_ADDR_BYTES);
  }

  setAddr(i: number, addr: number): void {
    const w = this.slotWord(i);
    this.slots[w] = addr >>> 0;
    this.slots[w + 1] = (addr / TWO_32) >>> 0;
  }
}

/** TX ring: descriptors of frames in UMEM for the kernel to send. */
export class XskTxRing extends XskProducerRing {
  constructor(buf: ArrayBuffer, offsets: XdpMmapOffsets, depth: number) {
    super("tx", buf, offsets, depth, XDP_DESC_BYTES);
  }

  setDesc(i: number, addr: number, len: number): void {
    const w = this.slotWord(i);
    this.slots[w] = addr >>> 0;
    this.slots[w + 1] = (addr / TWO_32) >>> 0;
    this.slots[w + 2] = len;
    this.slots[w + 3] = 0;
  }
}

/** RX ring: descriptors of received frames (addr includes the kernel's headroom offset). */
export class XskRxRing extends XskConsumerRing {
  constructor(buf: ArrayBuffer, offsets: XdpMmapOffsets, depth: number) {
    super("rx", buf, offsets, depth, XDP_DESC_BYTES);
  }

  addr(i: number): number {
    const w = this.slotWord(i);
    return this.slots[w] + this.slots[w + 1] * TWO_32;
  }

  len(i: number): number {
    return this.slots[this.slotWord(i) + 2];
  }
}

/** Completion ring: addresses of frames the kernel has finished sending. */
export class XskCompletionRing extends XskConsumerRing {
  constructor(buf: ArrayBuffer, offsets: XdpMmapOffsets, depth: number) {
    super("completion", buf, offsets, depth, XDP_ADDR_BYTES);
  }

  addr(i: number): number {
    const w = this.slotWord(i);
    return this.slots[w] + this.slots[w + 1] * TWO_32;
  }
}

export interface XskRingDepths {
  fillDepth: number;
  completionDepth: number;
  rxDepth: number;
  txDepth: number;
}

export interface XskRingSet {
  fill: XskFillRing;
  completion: XskCompletionRing;
  rx: XskRxRing;
  tx: XskTxRing;
}

/** Wraps the mappings from xskMapRings; validates offsets against the mapping sizes. */
export function openXskRings(rings: XskRings, depths: XskRingDepths): XskRingSet {
  return {
    fill: new XskFillRing(rings.fill, rings.fillOffsets, depths.fillDepth),
    completion: new XskCompletionRing(rings.completion, rings.completionOffsets, depths.completionDepth),
    rx: new XskRxRing(rings.rx, rings.rxOffsets, depths.rxDepth),
    tx: new XskTxRing(rings.tx, rings.txOffsets, depths.txDepth),
  };
}

/**
 * UMEM frame allocator: a stack of free frame base addresses over frames [first, first + count).
 * free() accepts any address inside a frame (RX descriptors point past the kernel headroom) and
 * refuses addresses outside the pool or frames that are already free: both are caller bugs.
 */
export class UmemFramePool {
  readonly frameSize: number;
  readonly firstFrame: number;
  readonly frameCount: number;
  private readonly stack: Float64Array;
  private readonly isFree: Uint8Array;
  private top = 0;

  constructor(frameSize: number, firstFrame: number, frameCount: number) {
    if (!isPowerOfTwo(frameSize)) throw new RangeError(`umem pool: frame size ${frameSize} is not a power of two`);
    if (!Number.isInteger(firstFrame) || firstFrame < 0 || !Number.isInteger(frameCount) || frameCount <= 0)
      throw new RangeError(`umem pool: bad frame range ${firstFrame}+${frameCount}`);
    if ((firstFrame + frameCount) * frameSize > Number.MAX_SAFE_INTEGER)
      throw new RangeError("umem pool: addresses exceed 2^53");
    this.frameSize = frameSize;
    this.firstFrame = firstFrame;
    this.frameCount = frameCount;
    this.stack = new Float64Array(frameCount);
    this.isFree = new Uint8Array(frameCount);
    // Lowest address on top so a fresh pool hands frames out in address order.
    for (let i = frameCount - 1; i >= 0; i--) this.push(i);
  }

  private push(index: number): void {
    this.isFree[index] = 1;
    this.stack[this.top++] = (this.firstFrame + index) * this.frameSize;
  }

  get available(): number {
    return this.top;
  }

  /** A free frame's base address, or -1 when none is left. */
  alloc(): number {
    if (this.top === 0) return -1;
    const addr = this.stack[--this.top];
    this.isFree[addr / this.frameSize - this.firstFrame] = 0;
    return addr;
  }

  /** Returns the frame containing addr to the pool. */
  free(addr: number): void {
    const index = Math.floor(addr / this.frameSize) - this.firstFrame;
    if (!(index >= 0 && index < this.frameCount)) throw new RangeError(`umem pool: address ${addr} is not in the pool`);
    if (this.isFree[index] === 1) throw new Error(`umem pool: frame at ${addr} freed twice`);
    this.push(index);
  }
}
