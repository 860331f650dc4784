// The producer side of a ring: producer region read-write, consumer region read-only.
// Hot path (claim, write through the views, publish) allocates nothing and makes no native call
// unless the consumer sleeps. See ordering.ts for why each Atomics call is where it is.
import { native } from "../native";
import {
  checkRingPair,
  RING_CONS_CONSUMED,
  RING_CONS_SLEEP_EXPECT,
  RING_CONS_SLEEPING,
  RING_PROD_CLAIMED,
  RING_PROD_CNT_BACKPRESSURE,
  RING_PROD_CNT_BACKPRESSURE_NS,
  RING_PROD_CNT_PUBLISHED,
  RING_PROD_CNT_SLEEPS,
  RING_PROD_CNT_WAKES,
  RING_PROD_PUBLISHED,
  RING_PROD_SLEEP_EXPECT,
  RING_PROD_SLEEPING,
  RING_PROD_WAITING,
  RING_SEQ_OFFSET,
  type RingSpec,
} from "./layout";
import { nowMs, SPIN_CLOCK_EVERY } from "./ordering";

const PUBLISHED = RING_PROD_PUBLISHED >> 2;
const CLAIMED = RING_PROD_CLAIMED >> 2;
const PROD_WAITING = RING_PROD_WAITING >> 2;
const PROD_SLEEPING = RING_PROD_SLEEPING >> 2;
const PROD_SLEEP_EXPECT = RING_PROD_SLEEP_EXPECT >> 2;
const CONSUMED = RING_CONS_CONSUMED >> 2;
const CONS_SLEEPING = RING_CONS_SLEEPING >> 2;
const CONS_SLEEP_EXPECT = RING_CONS_SLEEP_EXPECT >> 2;
const SEQ_BASE = RING_SEQ_OFFSET >> 2;
const CNT_PUBLISHED = RING_PROD_CNT_PUBLISHED >> 3;
const CNT_BACKPRESSURE = RING_PROD_CNT_BACKPRESSURE >> 3;
const CNT_BACKPRESSURE_NS = RING_PROD_CNT_BACKPRESSURE_NS >> 3;
const CNT_WAKES = RING_PROD_CNT_WAKES >> 3;
const CNT_SLEEPS = RING_PROD_CNT_SLEEPS >> 3;

export class RingProducer {
  readonly name: string;
  readonly spec: RingSpec;
  /** Views over the whole producer region; slot offsets are byte offsets into them. */
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly dv: DataView;
  private readonly cons: Int32Array;
  private readonly reliable: boolean;
  private readonly depth: number;
  private readonly mask: number;
  private readonly slotSize: number;
  private readonly slotsOffset: number;
  /** Number of the next message to claim. */
  private next: number;
  /** Number of the first claimed, not yet published message (== `published` in the region). */
  private pending: number;
  /** First message number we may not claim (reliable): last seen consumer position + depth. */
  private limit: number;
  /** The `published` value a sleeping consumer was last woken from (NaN: none yet). */
  private lastWokenFrom = Number.NaN;
  /** How a sleeping consumer is woken: FUTEX_WAKE on `published` unless the consumer sleeps
   *  elsewhere (the net tile sleeps in poll(2) on its socket and an eventfd this signals). */
  private readonly wake: (() => void) | undefined;

  /** producerBuf must be mapped read-write, consumerBuf read-only. Validates both headers. */
  constructor(
    name: string,
    producerBuf: ArrayBuffer,
    consumerBuf: ArrayBuffer,
    expected?: RingSpec,
    wake?: () => void,
  ) {
    this.wake = wake;
    const header = checkRingPair(name, producerBuf, consumerBuf, expected);
    this.name = name;
    this.spec = { kind: header.kind, depth: header.depth, slotSize: header.slotSize };
    this.u8 = new Uint8Array(producerBuf);
    this.i32 = new Int32Array(producerBuf, 0, producerBuf.byteLength >> 2);
    this.f64 = new Float64Array(producerBuf, 0, producerBuf.byteLength >> 3);
    this.dv = new DataView(producerBuf);
    this.cons = new Int32Array(consumerBuf, 0, consumerBuf.byteLength >> 2);
    this.reliable = header.kind === "reliable";
    this.depth = header.depth;
    this.mask = header.depth - 1;
    this.slotSize = header.slotSize;
    this.slotsOffset = header.slotsOffset;
    // Resume where the region says (a restarted producer continues the sequence).
    this.next = Atomics.load(this.i32, PUBLISHED);
    this.pending = this.next;
    this.limit = (Atomics.load(this.cons, CONSUMED) + this.depth) | 0;
  }

  /**
   * Claims the next slot and returns its byte offset in the views, or -1 when a reliable ring
   * has no credit (see waitForCredits; an unreliable ring never refuses unless a whole ring is
   * claimed and unpublished). Write the payload, then publish().
   */
  claim(): number {
    const seq = this.next;
    if (this.reliable) {
      if (((this.limit - seq) | 0) <= 0 && this.refreshCredits() <= 0) return -1;
    } else if (((seq - this.pending) | 0) >= this.depth) {
      return -1; // a whole ring claimed and not published: publish first
    }
    this.next = (seq + 1) | 0;
    const slot = seq & this.mask;
    if (!this.reliable) {
      this.i32[SEQ_BASE + slot] = (seq - 1) | 0; // in progress: stored before the payload
      this.i32[CLAIMED] = this.next;
    }
    return this.slotsOffset + slot * this.slotSize;
  }

  /**
   * Claims up to max slots (fewer if a reliable ring lacks credits; 0 if it has none). Their
   * offsets are slotOffset(0 .. n-1). Write the payloads, then publish() them all at once.
   */
  claimBatch(max: number): number {
    let n = max;
    if (this.reliable) {
      let credits = (this.limit - this.next) | 0;
      if (credits < n) credits = this.refreshCredits();
      if (credits < n) n = Math.max(credits, 0);
    } else {
      n = Math.min(n, this.depth - ((this.next - this.pending) | 0)); // at most a ring unpublished
    }
    if (n <= 0) return 0;
    const first = this.next;
    this.next = (first + n) | 0;
    if (!this.reliable) {
      const i32 = this.i32;
      const mask = this.mask;
      for (let i = 0; i < n; i++) {
        const seq = (first + i) | 0;
        i32[SEQ_BASE + (seq & mask)] = (seq - 1) | 0; // in progress: stored before the payloads
      }
      i32[CLAIMED] = this.next;
    }
    return n;
  }

  /** Byte offset of the i-th message claimed since the last publish. */
  slotOffset(i: number): number {
    return this.slotsOffset + ((this.pending + i) & this.mask) * this.slotSize;
  }

  /** Sequence number of the i-th message claimed since the last publish. */
  claimedSeq(i: number): number {
    return (this.pending + i) | 0;
  }

  /** Publishes every claimed message: one Atomics store, plus a FUTEX_WAKE only if the consumer sleeps. */
  publish(): void {
    const from = this.pending;
    const to = this.next;
    if (from === to) return;
    const i32 = this.i32;
    const mask = this.mask;
    for (let seq = from; seq !== to; seq = (seq + 1) | 0) i32[SEQ_BASE + (seq & mask)] = seq;
    Atomics.store(i32, PUBLISHED, to);
    this.pending = to;
    this.f64[CNT_PUBLISHED] += (to - from) | 0;
    if (this.cons[CONS_SLEEPING] !== 0) this.wakeConsumer(to); // fresh: after the xchg above
  }

  /**
   * The consumer sleeps (or is about to) on `published` having seen the value `expect`. One wake
   * per such value is enough: once `published` differs from it, a FUTEX_WAIT on it returns at
   * once. A consumer that saw `published` (the value just stored) is waiting for the next one.
   */
  private wakeConsumer(published: number): void {
    const expect = this.cons[CONS_SLEEP_EXPECT];
    if (expect === published || expect === this.lastWokenFrom) return;
    this.lastWokenFrom = expect;
    this.f64[CNT_WAKES]++;
    if (this.wake !== undefined) this.wake();
    else native().futexWake(this.i32, PUBLISHED, 1);
  }

  /** Free slots: for a reliable ring the credits (re-read from the consumer); otherwise depth. */
  available(): number {
    return this.reliable ? this.refreshCredits() : this.depth;
  }

  /**
   * Reliable rings: waits until at least n (<= depth) slots are free, spinning spinUs then
   * sleeping on the consumer's position. Returns false on timeout. A wait that was needed is
   * counted as one backpressure event and its duration added to backpressureNs.
   */
  waitForCredits(n: number, spinUs: number, timeoutMs: number): boolean {
    if (!this.reliable) return true;
    if (n > this.depth) throw new Error(`ring ${this.name}: waiting for ${n} credits in a ring of depth ${this.depth}`);
    if (((this.limit - this.next) | 0) >= n || this.refreshCredits() >= n) return true;
    const f64 = this.f64;
    f64[CNT_BACKPRESSURE]++;
    const start = nowMs();
    // Tell the consumer we wait: it then returns credits as soon as it runs out of messages.
    Atomics.store(this.i32, PROD_WAITING, 1);
    let ok = this.spinForCredits(n, start + spinUs / 1000);
    if (!ok) ok = this.sleepForCredits(n, start + timeoutMs);
    Atomics.store(this.i32, PROD_WAITING, 0);
    f64[CNT_BACKPRESSURE_NS] += Math.round((nowMs() - start) * 1e6);
    return ok;
  }

  private spinForCredits(n: number, untilMs: number): boolean {
    if (untilMs <= nowMs()) return false;
    for (let i = 1; ; i++) {
      if (this.refreshCredits() >= n) return true;
      if (i % SPIN_CLOCK_EVERY === 0 && nowMs() >= untilMs) return false;
    }
  }

  private sleepForCredits(n: number, deadlineMs: number): boolean {
    const i32 = this.i32;
    const addon = native();
    for (;;) {
      const consumed = Atomics.load(this.cons, CONSUMED);
      this.limit = (consumed + this.depth) | 0;
      if (((this.limit - this.next) | 0) >= n) return true;
      const left = deadlineMs - nowMs();
      if (left <= 0) return false;
      // Dekker with the consumer's release(): store our flag, then re-read its position.
      i32[PROD_SLEEP_EXPECT] = consumed;
      Atomics.store(i32, PROD_SLEEPING, 1);
      if (Atomics.load(this.cons, CONSUMED) === consumed) {
        this.f64[CNT_SLEEPS]++;
        addon.futexWait(this.cons, CONSUMED, consumed, Math.ceil(left));
      }
      Atomics.store(i32, PROD_SLEEPING, 0);
    }
  }

  /** Re-reads the consumer position; returns the credits. */
  private refreshCredits(): number {
    this.limit = (Atomics.load(this.cons, CONSUMED) + this.depth) | 0;
    return (this.limit - this.next) | 0;
  }

  /** Number of the next message this producer will claim. */
  get nextSeq(): number {
    return this.next;
  }
  get published(): number {
    return this.f64[CNT_PUBLISHED];
  }
  get backpressureCount(): number {
    return this.f64[CNT_BACKPRESSURE];
  }
  get backpressureNs(): number {
    return this.f64[CNT_BACKPRESSURE_NS];
  }
  /** FUTEX_WAKE calls made for a sleeping consumer. */
  get wakeCount(): number {
    return this.f64[CNT_WAKES];
  }
  /** Times this producer went to sleep on a full reliable ring. */
  get sleepCount(): number {
    return this.f64[CNT_SLEEPS];
  }
}
