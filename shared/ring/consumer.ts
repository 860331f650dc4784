// The consumer side of a ring: producer region read-only, consumer region read-write.
// poll() delivers messages to a handler created once by the caller (no closure per call).
// Reliable rings are read in place (the producer cannot rewrite a slot before the credit comes
// back); unreliable rings are copied into private scratch memory and re-validated, so a handler
// never sees a torn message. See ordering.ts for the memory-ordering argument.
import { native } from "../native";
import {
  checkRingPair,
  RING_CONS_CNT_CONSUMED,
  RING_CONS_CNT_LOST,
  RING_CONS_CNT_OVERRUNS,
  RING_CONS_CNT_SLEEPS,
  RING_CONS_CNT_TORN,
  RING_CONS_CNT_WAKES,
  RING_CONS_CONSUMED,
  RING_CONS_SLEEP_EXPECT,
  RING_CONS_SLEEPING,
  RING_PROD_PUBLISHED,
  RING_PROD_SLEEP_EXPECT,
  RING_PROD_SLEEPING,
  RING_PROD_WAITING,
  RING_SEQ_OFFSET,
  type RingSpec,
} from "./layout";
import { nowMs, SPIN_CLOCK_EVERY } from "./ordering";

const PUBLISHED = RING_PROD_PUBLISHED >> 2;
const PROD_WAITING = RING_PROD_WAITING >> 2;
const PROD_SLEEPING = RING_PROD_SLEEPING >> 2;
const PROD_SLEEP_EXPECT = RING_PROD_SLEEP_EXPECT >> 2;
const CONSUMED = RING_CONS_CONSUMED >> 2;
const CONS_SLEEPING = RING_CONS_SLEEPING >> 2;
const CONS_SLEEP_EXPECT = RING_CONS_SLEEP_EXPECT >> 2;
const SEQ_BASE = RING_SEQ_OFFSET >> 2;
const CNT_CONSUMED = RING_CONS_CNT_CONSUMED >> 3;
const CNT_OVERRUNS = RING_CONS_CNT_OVERRUNS >> 3;
const CNT_LOST = RING_CONS_CNT_LOST >> 3;
const CNT_TORN = RING_CONS_CNT_TORN >> 3;
const CNT_SLEEPS = RING_CONS_CNT_SLEEPS >> 3;
const CNT_WAKES = RING_CONS_CNT_WAKES >> 3;

/** Called once per delivered message: its byte offset in the consumer's views, and its number. */
export type RingHandler = (offset: number, seq: number) => void;

export interface RingConsumerOptions {
  /** Largest batch poll() delivers (unreliable rings copy a batch into scratch of this many slots). Default 64. */
  maxBatch?: number;
  /** Return credits (store the position) once this many messages are consumed; also when the ring
   *  is found empty while the producer waits for credits, and before sleeping. Default depth / 4. */
  releaseEvery?: number;
  /** Test hook: runs between copying a batch and re-validating it (unreliable rings). */
  debugAfterCopy?: () => void;
}

export class RingConsumer {
  readonly name: string;
  readonly spec: RingSpec;
  /** Views over the memory handlers read: the producer region (reliable) or scratch (unreliable). */
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly dv: DataView;
  private readonly prod: Int32Array;
  private readonly prodF64: Float64Array;
  private readonly cons: Int32Array;
  private readonly counters: Float64Array;
  private readonly reliable: boolean;
  private readonly depth: number;
  private readonly mask: number;
  private readonly slotSize: number;
  private readonly slotWords: number;
  private readonly slotsOffset: number;
  private readonly maxBatch: number;
  private readonly releaseEvery: number;
  private readonly afterCopy: (() => void) | undefined;
  /** Number of the next message to read. */
  private next: number;
  /** Position last stored in the consumer region (credits returned). */
  private released: number;
  /** The `consumed` value a sleeping producer was last woken from (NaN: none yet). */
  private lastWokenFrom = Number.NaN;
  private idlePolls = 0;

  /** producerBuf must be mapped read-only, consumerBuf read-write. Validates both headers. */
  constructor(
    name: string,
    producerBuf: ArrayBuffer,
    consumerBuf: ArrayBuffer,
    expected?: RingSpec,
    opts: RingConsumerOptions = {},
  ) {
    const header = checkRingPair(name, producerBuf, consumerBuf, expected);
    this.name = name;
    this.spec = { kind: header.kind, depth: header.depth, slotSize: header.slotSize };
    this.reliable = header.kind === "reliable";
    this.depth = header.depth;
    this.mask = header.depth - 1;
    this.slotSize = header.slotSize;
    this.slotWords = header.slotSize >> 3;
    this.slotsOffset = header.slotsOffset;
    this.maxBatch = Math.max(1, Math.min(opts.maxBatch ?? 64, header.depth));
    this.releaseEvery = Math.max(1, Math.min(opts.releaseEvery ?? header.depth >> 2, header.depth));
    this.afterCopy = opts.debugAfterCopy;
    this.prod = new Int32Array(producerBuf, 0, producerBuf.byteLength >> 2);
    this.prodF64 = new Float64Array(producerBuf, 0, producerBuf.byteLength >> 3);
    this.cons = new Int32Array(consumerBuf, 0, consumerBuf.byteLength >> 2);
    this.counters = new Float64Array(consumerBuf, 0, consumerBuf.byteLength >> 3);
    const data = this.reliable ? producerBuf : new ArrayBuffer(this.maxBatch * header.slotSize);
    this.u8 = new Uint8Array(data);
    this.i32 = new Int32Array(data, 0, data.byteLength >> 2);
    this.f64 = new Float64Array(data, 0, data.byteLength >> 3);
    this.dv = new DataView(data);
    // Resume where the region says: a restarted consumer continues after the position it last
    // stored (at most releaseEvery messages before what it had read: at-least-once on restart).
    this.next = Atomics.load(this.cons, CONSUMED);
    this.released = this.next;
  }

  /**
   * Delivers up to maxBatch available messages, in order, to handler; returns how many were
   * delivered. Messages lost to an overrun (or, on an unreliable ring, rewritten while being
   * copied) are counted, never delivered.
   */
  poll(maxBatch: number, handler: RingHandler): number {
    const max = Math.min(maxBatch, this.maxBatch);
    if (!(max > 0)) return 0;
    const first = this.next;
    // Availability from the per-slot seq, with plain loads (no Atomics on the fast paths).
    if (((this.prod[SEQ_BASE + (first & this.mask)] - first) | 0) < 0) {
      // Empty: the slot at `next` still holds an older message (or its rewrite is underway).
      if (first !== this.released && this.prod[PROD_WAITING] !== 0) this.release();
      else if ((++this.idlePolls & 63) === 0 && Atomics.load(this.prod, PUBLISHED) !== first && !this.slotCaughtUp())
        this.resync(); // published, yet the slot looks older: lapped by more than 2^31 (a long stall)
      return 0;
    }
    let taken = this.reliable ? this.deliverInPlace(max, handler) : this.copyVisible(max);
    if (taken === 0) {
      // The slot at `next` holds a later message (we were lapped), or we raced the producer's
      // stores: check the authoritative position, then scan again.
      if (!this.resync()) return 0;
      taken = this.reliable ? this.deliverInPlace(max, handler) : this.copyVisible(max);
      if (taken === 0) {
        // Published, yet the slot at `next` already holds a later message (an unreliable ring
        // lapped us mid-batch, or a broken producer): count it lost and move on.
        this.skipTo((this.next + 1) | 0);
        return 0;
      }
    }
    const delivered = this.reliable ? taken : this.deliverCopies(taken, handler);
    const next = (this.next + taken) | 0;
    this.next = next;
    this.counters[CNT_CONSUMED] += delivered;
    if (((next - this.released) | 0) >= this.releaseEvery) this.release();
    return delivered;
  }

  /**
   * Compares `next` with the producer's `published` (an Atomics load, hence also a barrier
   * after which slots are read afresh); skips what a lapping producer overwrote. Returns whether
   * messages are available.
   */
  private resync(): boolean {
    const published = Atomics.load(this.prod, PUBLISHED);
    const avail = (published - this.next) | 0;
    // Slightly negative: we read slots the producer published before storing `published`.
    if (avail <= 0 && avail >= -this.depth) return avail < 0;
    // Lapped (or, very negative, lapped by more than 2^31): what is older than the ring is gone.
    // Continue half a ring behind the producer.
    if (avail < 0 || avail > this.depth) this.skipTo((published - (this.depth >> 1)) | 0);
    return true;
  }

  /** Reliable rings: hands visible messages to handler in place; returns how many. */
  private deliverInPlace(max: number, handler: RingHandler): number {
    const prod = this.prod;
    const mask = this.mask;
    const next = this.next;
    const slotsOffset = this.slotsOffset;
    const slotSize = this.slotSize;
    let i = 0;
    for (; i < max; i++) {
      const seq = (next + i) | 0;
      const slot = seq & mask;
      if (prod[SEQ_BASE + slot] !== seq) break;
      handler(slotsOffset + slot * slotSize, seq);
    }
    return i;
  }

  /** Unreliable rings: copies visible messages into scratch; returns how many. */
  private copyVisible(max: number): number {
    const prod = this.prod;
    const src = this.prodF64;
    const dst = this.f64;
    const words = this.slotWords;
    const mask = this.mask;
    const slotsWord = this.slotsOffset >> 3;
    const next = this.next;
    let i = 0;
    for (; i < max; i++) {
      const seq = (next + i) | 0;
      const slot = seq & mask;
      if (prod[SEQ_BASE + slot] !== seq) break;
      const from = slotsWord + slot * words;
      const to = i * words;
      // 64 bytes per step, unrolled: per-element checks stay, per-iteration map/length reloads go.
      let w = 0;
      for (; w + 8 <= words; w += 8) {
        dst[to + w] = src[from + w];
        dst[to + w + 1] = src[from + w + 1];
        dst[to + w + 2] = src[from + w + 2];
        dst[to + w + 3] = src[from + w + 3];
        dst[to + w + 4] = src[from + w + 4];
        dst[to + w + 5] = src[from + w + 5];
        dst[to + w + 6] = src[from + w + 6];
        dst[to + w + 7] = src[from + w + 7];
      }
      for (; w < words; w++) dst[to + w] = src[from + w];
    }
    return i;
  }

  /** Unreliable rings: re-validates the n copies and delivers the intact ones; returns how many. */
  private deliverCopies(n: number, handler: RingHandler): number {
    if (this.afterCopy !== undefined) this.afterCopy();
    const prod = this.prod;
    Atomics.load(prod, PUBLISHED); // barrier: the seq re-reads below come after the copy
    const mask = this.mask;
    const next = this.next;
    const slotSize = this.slotSize;
    let delivered = 0;
    for (let i = 0; i < n; i++) {
      const seq = (next + i) | 0;
      if (prod[SEQ_BASE + (seq & mask)] === seq) {
        handler(i * slotSize, seq);
        delivered++;
      }
    }
    if (delivered !== n) {
      this.counters[CNT_OVERRUNS]++;
      this.counters[CNT_LOST] += n - delivered;
      this.counters[CNT_TORN] += n - delivered;
    }
    return delivered;
  }

  /** Counts messages [next, target) as lost to an overrun and continues at target. */
  private skipTo(target: number): void {
    this.counters[CNT_OVERRUNS]++;
    this.counters[CNT_LOST] += (target - this.next) >>> 0;
    this.next = target;
  }

  /** The slot at `next` holds message `next` or a later one (a plain load: see ordering.ts). */
  private slotCaughtUp(): boolean {
    const next = this.next;
    return ((this.prod[SEQ_BASE + (next & this.mask)] - next) | 0) >= 0;
  }

  /** True when at least one message (or an overrun) is waiting. */
  hasData(): boolean {
    return this.slotCaughtUp() || ((Atomics.load(this.prod, PUBLISHED) - this.next) | 0) > 0;
  }

  /**
   * Waits for data: spins spinUs, then returns credits, raises the sleeping flag, re-checks and
   * sleeps on the producer's `published` word (FUTEX_WAIT) until woken or timeoutMs passes.
   * Returns true when data is available.
   */
  sleepUntilData(spinUs: number, timeoutMs: number): boolean {
    const start = nowMs();
    if (this.hasData()) return true;
    const spinUntil = start + spinUs / 1000;
    for (let i = 1; spinUs > 0; i++) {
      // Cheap checks; the clock read every SPIN_CLOCK_EVERY turns is a call, hence a compiler barrier.
      if (this.slotCaughtUp()) return true;
      if (this.next !== this.released && this.prod[PROD_WAITING] !== 0) this.release();
      if (i % SPIN_CLOCK_EVERY === 0 && nowMs() >= spinUntil) break;
    }
    if (this.next !== this.released) this.release();
    const deadline = start + timeoutMs;
    const addon = native();
    const cons = this.cons;
    for (;;) {
      const published = Atomics.load(this.prod, PUBLISHED);
      if (this.slotCaughtUp() || ((published - this.next) | 0) > 0) return true;
      const left = deadline - nowMs();
      if (left <= 0) return false;
      // Dekker with the producer's publish(): store our flag, then re-read `published`.
      cons[CONS_SLEEP_EXPECT] = published;
      Atomics.store(cons, CONS_SLEEPING, 1);
      if (Atomics.load(this.prod, PUBLISHED) === published) {
        this.counters[CNT_SLEEPS]++;
        addon.futexWait(this.prod, PUBLISHED, published, Math.ceil(left));
      }
      Atomics.store(cons, CONS_SLEEPING, 0);
    }
  }

  /**
   * For a consumer that sleeps somewhere else than on this ring's futex (the net tile in poll(2)
   * over its socket and an eventfd its producers signal): returns credits, raises the sleeping flag
   * (the producer then wakes it through its `wake`), and re-checks. Returns false, flag lowered,
   * when data is available already (do not sleep). Call disarmSleep after the wait.
   */
  armSleep(): boolean {
    if (this.next !== this.released) this.release();
    const published = Atomics.load(this.prod, PUBLISHED);
    if (this.slotCaughtUp() || ((published - this.next) | 0) > 0) return false;
    // Dekker with the producer's publish(), as in sleepUntilData.
    this.cons[CONS_SLEEP_EXPECT] = published;
    Atomics.store(this.cons, CONS_SLEEPING, 1);
    if (Atomics.load(this.prod, PUBLISHED) === published) {
      this.counters[CNT_SLEEPS]++;
      return true;
    }
    Atomics.store(this.cons, CONS_SLEEPING, 0);
    return false;
  }

  /** Lowers the sleeping flag raised by armSleep. */
  disarmSleep(): void {
    Atomics.store(this.cons, CONS_SLEEPING, 0);
  }

  /** Stores the consumer position now (returns credits; wakes a producer sleeping on a full ring). */
  release(): void {
    const next = this.next;
    Atomics.store(this.cons, CONSUMED, next);
    this.released = next;
    if (this.reliable && this.prod[PROD_SLEEPING] !== 0) this.wakeProducer(next); // fresh: after the xchg
  }

  /** Same rule as RingProducer.wakeConsumer: one wake per `consumed` value the producer waits on. */
  private wakeProducer(consumed: number): void {
    const expect = this.prod[PROD_SLEEP_EXPECT];
    if (expect === consumed || expect === this.lastWokenFrom) return;
    this.lastWokenFrom = expect;
    this.counters[CNT_WAKES]++;
    native().futexWake(this.cons, CONSUMED, 1);
  }

  /** Number of the next message this consumer will read. */
  get nextSeq(): number {
    return this.next;
  }
  /** Messages delivered to handlers. */
  get consumed(): number {
    return this.counters[CNT_CONSUMED];
  }
  /** Overrun events (the producer lapped this consumer, or rewrote slots it was copying). */
  get overrunCount(): number {
    return this.counters[CNT_OVERRUNS];
  }
  /** Messages lost to overruns (never delivered). */
  get lostCount(): number {
    return this.counters[CNT_LOST];
  }
  /** Of lostCount, messages found rewritten after being copied (caught by the seq re-check). */
  get tornCount(): number {
    return this.counters[CNT_TORN];
  }
  /** Times this consumer went to sleep on the futex. */
  get sleepCount(): number {
    return this.counters[CNT_SLEEPS];
  }
  /** FUTEX_WAKE calls made for a producer sleeping on a full ring. */
  get wakeCount(): number {
    return this.counters[CNT_WAKES];
  }
}
