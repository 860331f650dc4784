// The net tile's side of a capture (layout.ts): checks the attached flag once per batch and, while
// a reader is attached, copies matching frames into the ring. Never waits: a slot the reader has
// not read yet means the frame is dropped (the caller counts it).
import {
  CAPTURE_MAGIC,
  CAPTURE_VERSION,
  type CaptureFilter,
  CTL_ATTACHED,
  CTL_CONSUMED,
  CTL_FILTER_DIRECTIONS,
  CTL_FILTER_IPV4,
  CTL_FILTER_PORT,
  CTL_MAGIC,
  CTL_VERSION,
  captureMatches,
  captureRingBytes,
  captureSlotBytes,
  RING_CNT_CAPTURED_AT,
  RING_MAGIC_AT,
  RING_PUBLISHED_AT,
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

export const OFFER_CAPTURED = 0;
export const OFFER_FILTERED = 1;
export const OFFER_DROPPED = 2;

/** Wall-clock time in ms with sub-ms precision (pcap wants the epoch, not a monotonic clock). */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export class CaptureWriter {
  private readonly ctl: Int32Array;
  private readonly pos: Int32Array;
  private readonly counters: Float64Array;
  private readonly u8: Uint8Array;
  private readonly view: DataView;
  private readonly slotCount: number;
  private readonly slotBytes: number;
  private readonly snapBytes: number;
  private published = 0;
  /** The filter as read at the last attached() that returned true. */
  readonly filter: CaptureFilter = { port: 0, ipv4: 0, directions: 0 };

  /** control: mapped read-only (the CLI writes it); ring: mapped read-write. */
  constructor(control: ArrayBuffer, ring: ArrayBuffer) {
    const c = new DataView(control);
    const r = new DataView(ring);
    for (const [what, v] of [
      ["control", c],
      ["ring", r],
    ] as const) {
      if (v.getUint32(what === "control" ? CTL_MAGIC : RING_MAGIC_AT, true) !== CAPTURE_MAGIC)
        throw new Error(`capture ${what} region: bad magic`);
      if (v.getUint32(what === "control" ? CTL_VERSION : RING_VERSION_AT, true) !== CAPTURE_VERSION)
        throw new Error(`capture ${what} region: version is not ${CAPTURE_VERSION}`);
    }
    this.slotCount = r.getUint32(RING_SLOT_COUNT_AT, true);
    this.snapBytes = r.getUint32(RING_SNAP_BYTES_AT, true);
    validateCaptureShape({ slotCount: this.slotCount, snapBytes: this.snapBytes });
    this.slotBytes = captureSlotBytes(this.snapBytes);
    if (ring.byteLength < captureRingBytes({ slotCount: this.slotCount, snapBytes: this.snapBytes }))
      throw new Error("capture ring region too small for its header");
    this.ctl = new Int32Array(control, 0, CTL_CONSUMED / 4 + 1);
    this.pos = new Int32Array(ring, 0, RING_SLOTS_AT / 4);
    this.counters = new Float64Array(ring, RING_CNT_CAPTURED_AT, 2);
    this.u8 = new Uint8Array(ring);
    this.view = r;
    this.published = Atomics.load(this.pos, RING_PUBLISHED_AT / 4);
  }

  /** Once per batch: one load while detached; the filter is read only while attached. */
  attached(): boolean {
    const ctl = this.ctl;
    if (Atomics.load(ctl, CTL_ATTACHED / 4) !== 1) return false;
    const f = this.filter;
    f.port = ctl[CTL_FILTER_PORT / 4] & 0xffff;
    f.ipv4 = ctl[CTL_FILTER_IPV4 / 4] >>> 0;
    f.directions = ctl[CTL_FILTER_DIRECTIONS / 4];
    return true;
  }

  /** A parsed UDP frame: captured if it matches the filter. */
  offerUdp(
    direction: number,
    frame: Uint8Array,
    offset: number,
    length: number,
    srcIp: number,
    dstIp: number,
    srcPort: number,
    dstPort: number,
  ): number {
    if (!captureMatches(this.filter, direction, srcIp, dstIp, srcPort, dstPort)) return OFFER_FILTERED;
    return this.write(direction, frame, offset, length);
  }

  /** A frame the parser refused: only a capture without port or address filter takes it. */
  offerUnparsed(direction: number, frame: Uint8Array, offset: number, length: number): number {
    const f = this.filter;
    if ((f.directions & direction) === 0 || f.port !== 0 || f.ipv4 !== 0) return OFFER_FILTERED;
    return this.write(direction, frame, offset, length);
  }

  private write(direction: number, frame: Uint8Array, offset: number, length: number): number {
    const n = this.published;
    const consumed = Atomics.load(this.ctl, CTL_CONSUMED / 4);
    // Also drops while the reader's position is nonsense (a hostile or broken reader).
    const unread = (n - consumed) | 0;
    if (unread < 0 || unread >= this.slotCount) {
      this.counters[1] += 1;
      return OFFER_DROPPED;
    }
    const at = RING_SLOTS_AT + (n & (this.slotCount - 1)) * this.slotBytes;
    const capLen = Math.min(length, this.snapBytes);
    const ms = wallClockMs();
    const sec = Math.floor(ms / 1000);
    const v = this.view;
    v.setUint32(at + SLOT_TS_SEC, sec, true);
    v.setUint32(at + SLOT_TS_NSEC, Math.min(999_999_999, Math.floor((ms - sec * 1000) * 1e6)), true);
    v.setUint32(at + SLOT_ORIG_LEN, length, true);
    v.setUint32(at + SLOT_CAP_LEN, capLen, true);
    v.setUint32(at + SLOT_DIRECTION, direction, true);
    this.u8.set(frame.subarray(offset, offset + capLen), at + SLOT_HEADER_BYTES);
    this.published = (n + 1) | 0;
    Atomics.store(this.pos, RING_PUBLISHED_AT / 4, this.published);
    this.counters[0] += 1;
    return OFFER_CAPTURED;
  }
}
