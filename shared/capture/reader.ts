// The dump CLI's side of a capture (layout.ts): attaches (one reader at a time), reads frames, and
// detaches. Every word of the ring region comes from the net tile and is checked before use: a
// broken or hostile net tile can make the capture wrong, never make the reader read out of bounds.
import {
  CAPTURE_CONTROL_BYTES,
  CAPTURE_MAGIC,
  CAPTURE_MAX_SNAP_BYTES,
  CAPTURE_VERSION,
  type CaptureFilter,
  CTL_ATTACHED,
  CTL_CONSUMED,
  CTL_FILTER_DIRECTIONS,
  CTL_FILTER_IPV4,
  CTL_FILTER_PORT,
  CTL_MAGIC,
  CTL_READER_PID,
  CTL_VERSION,
  captureSlotBytes,
  RING_CNT_CAPTURED_AT,
  RING_MAGIC_AT,
  RING_PUBLISHED_AT,
  RING_SLOT_BYTES_AT,
  RING_SLOT_COUNT_AT,
  RING_SLOTS_AT,
  RING_SNAP_BYTES_AT,
  RING_VERSION_AT,
  SLOT_CAP_LEN,
  SLOT_DIRECTION,
  SLOT_HEADER_BYTES,
  SLOT_ORIG_LEN,
  SLOT_TS_NSEC,
  SLOT_TS_SEC,
  validateCaptureShape,
} from "./layout";

export interface CapturedFrame {
  tsSec: number;
  tsNsec: number;
  origLen: number;
  direction: number;
  /** A view into the ring: valid only during the handler call. */
  bytes: Uint8Array;
}

/** Largest original length believed (an IPv4 datagram plus an Ethernet header and VLAN tags). */
const MAX_ORIG_LEN = 65535 + 22;

export class CaptureAttachError extends Error {}

export class CaptureReader {
  private readonly ctl: Int32Array;
  private readonly ring: DataView;
  private readonly ringI32: Int32Array;
  private readonly u8: Uint8Array;
  readonly slotCount: number;
  readonly snapBytes: number;
  private readonly slotBytes: number;
  private consumed = 0;
  private pid = 0;
  /** Slots skipped as invalid, and frames lost to a position that made no sense. */
  invalid = 0;

  /** control: mapped read-write; ring: mapped read-only. */
  constructor(control: ArrayBuffer, ring: ArrayBuffer) {
    if (control.byteLength < CAPTURE_CONTROL_BYTES || ring.byteLength < RING_SLOTS_AT)
      throw new Error("capture regions are too small");
    const c = new DataView(control);
    const r = new DataView(ring);
    if (c.getUint32(CTL_MAGIC, true) !== CAPTURE_MAGIC || r.getUint32(RING_MAGIC_AT, true) !== CAPTURE_MAGIC)
      throw new Error("capture regions: bad magic");
    if (c.getUint32(CTL_VERSION, true) !== CAPTURE_VERSION || r.getUint32(RING_VERSION_AT, true) !== CAPTURE_VERSION)
      throw new Error(`capture regions: version is not ${CAPTURE_VERSION}`);
    this.slotCount = r.getUint32(RING_SLOT_COUNT_AT, true);
    this.snapBytes = r.getUint32(RING_SNAP_BYTES_AT, true);
    validateCaptureShape({ slotCount: this.slotCount, snapBytes: this.snapBytes });
    this.slotBytes = captureSlotBytes(this.snapBytes);
    if (r.getUint32(RING_SLOT_BYTES_AT, true) !== this.slotBytes) throw new Error("capture ring: bad slot size");
    if (ring.byteLength < RING_SLOTS_AT + this.slotCount * this.slotBytes)
      throw new Error("capture ring region is smaller than its header says");
    this.ctl = new Int32Array(control, 0, CAPTURE_CONTROL_BYTES / 4);
    this.ring = r;
    this.ringI32 = new Int32Array(ring, 0, RING_SLOTS_AT / 4);
    this.u8 = new Uint8Array(ring);
  }

  /** Takes the reader's place (fails while a live process holds it), then switches capture on
   *  with the filter, reading from the ring's current position (older frames are stale). */
  attach(filter: CaptureFilter, pid: number, isAlive: (pid: number) => boolean): void {
    const at = CTL_READER_PID / 4;
    for (;;) {
      const holder = Atomics.compareExchange(this.ctl, at, 0, pid);
      if (holder === 0) break;
      if (holder !== pid && isAlive(holder))
        throw new CaptureAttachError(`another dump (pid ${holder}) is attached to this net tile: one at a time`);
      // The holder died without detaching: take its place.
      if (Atomics.compareExchange(this.ctl, at, holder, pid) === holder) break;
    }
    this.pid = pid;
    Atomics.store(this.ctl, CTL_ATTACHED / 4, 0);
    this.consumed = Atomics.load(this.ringI32, RING_PUBLISHED_AT / 4);
    Atomics.store(this.ctl, CTL_CONSUMED / 4, this.consumed);
    Atomics.store(this.ctl, CTL_FILTER_PORT / 4, filter.port);
    Atomics.store(this.ctl, CTL_FILTER_IPV4 / 4, filter.ipv4 | 0);
    Atomics.store(this.ctl, CTL_FILTER_DIRECTIONS / 4, filter.directions);
    Atomics.store(this.ctl, CTL_ATTACHED / 4, 1);
  }

  /** Switches capture off and frees the reader's place (if still ours). Idempotent. */
  detach(): void {
    if (this.pid === 0) return;
    Atomics.store(this.ctl, CTL_ATTACHED / 4, 0);
    Atomics.compareExchange(this.ctl, CTL_READER_PID / 4, this.pid, 0);
    this.pid = 0;
  }

  /** Frames published since the last poll, at most max; returns how many were handed over. */
  poll(max: number, handler: (f: CapturedFrame) => void): number {
    const published = Atomics.load(this.ringI32, RING_PUBLISHED_AT / 4);
    const ready = (published - this.consumed) | 0;
    if (ready === 0) return 0;
    if (ready < 0 || ready > this.slotCount) {
      // Not what a working net tile writes: resynchronise rather than read garbage.
      this.invalid += 1;
      this.consumed = published;
      Atomics.store(this.ctl, CTL_CONSUMED / 4, published);
      return 0;
    }
    const n = Math.min(ready, max);
    let handed = 0;
    for (let i = 0; i < n; i++) {
      const frame = this.frameAt((this.consumed + i) & (this.slotCount - 1));
      if (frame) {
        handler(frame);
        handed++;
      } else this.invalid += 1;
    }
    this.consumed = (this.consumed + n) | 0;
    Atomics.store(this.ctl, CTL_CONSUMED / 4, this.consumed);
    return handed;
  }

  private frameAt(slot: number): CapturedFrame | undefined {
    const at = RING_SLOTS_AT + slot * this.slotBytes;
    const v = this.ring;
    const capLen = v.getUint32(at + SLOT_CAP_LEN, true);
    const origLen = v.getUint32(at + SLOT_ORIG_LEN, true);
    const tsNsec = v.getUint32(at + SLOT_TS_NSEC, true);
    const direction = v.getUint32(at + SLOT_DIRECTION, true);
    if (capLen > this.snapBytes || capLen > CAPTURE_MAX_SNAP_BYTES || capLen > origLen || origLen > MAX_ORIG_LEN)
      return undefined;
    if (tsNsec >= 1e9 || (direction !== 1 && direction !== 2)) return undefined;
    const start = at + SLOT_HEADER_BYTES;
    return {
      tsSec: v.getUint32(at + SLOT_TS_SEC, true),
      tsNsec,
      origLen,
      direction,
      bytes: this.u8.subarray(start, start + capLen),
    };
  }

  /** The net tile's counters: frames captured, frames dropped (ring full). */
  counters(): { captured: number; dropped: number } {
    const c = new Float64Array(this.ring.buffer, RING_CNT_CAPTURED_AT, 2);
    const ok = (x: number | undefined): number => (x !== undefined && Number.isFinite(x) && x >= 0 ? x : 0);
    return { captured: ok(c[0]), dropped: ok(c[1]) };
  }
}
