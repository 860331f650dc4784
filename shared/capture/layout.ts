// Packet capture of a net tile (`tilenet dump`), declared once: two regions per net tile, each
// written by one side only, so neither can corrupt what the other writes.
//
//   control region (the dump CLI writes, as root through the launcher's descriptor; the net tile
//   maps it read-only): whether a capture is attached, its filter, the reader's pid (one reader
//   at a time) and the reader's position (the ring's credits). A hostile writer of this region can
//   only switch capture on or off, change the filter, or make the net tile drop captured frames.
//
//   ring region (the net tile writes; the CLI maps it read-only): a header the launcher writes,
//   the net tile's position and counters, then `slotCount` slots of a fixed size. The net tile
//   never waits: a slot not yet read by the CLI means the frame is dropped (counted). The CLI
//   treats every word of this region as untrusted (lengths and positions are checked).
//
// Positions are 32-bit frame numbers that wrap; compared with (a - b) | 0.

export const CAPTURE_MAGIC = 0x544e4350; // "TNCP"
export const CAPTURE_VERSION = 1;

// Control region (i32 words, byte offsets). Header written by the launcher.
export const CTL_MAGIC = 0;
export const CTL_VERSION = 4;
/** 1 while a reader is attached (the net tile reads it once per batch). */
export const CTL_ATTACHED = 64;
/** Filter: UDP port (either side, 0 any), IPv4 address (either side, host order, 0 any), direction mask. */
export const CTL_FILTER_PORT = 68;
export const CTL_FILTER_IPV4 = 72;
export const CTL_FILTER_DIRECTIONS = 76;
/** Pid of the attached reader (0: none): taken with compare-exchange, one reader at a time. */
export const CTL_READER_PID = 80;
/** Next frame number the reader will read (its own cache line: written per read batch). */
export const CTL_CONSUMED = 128;
export const CAPTURE_CONTROL_BYTES = 4096;

// Ring region. Header (u32) written by the launcher.
export const RING_MAGIC_AT = 0;
export const RING_VERSION_AT = 4;
export const RING_SLOT_COUNT_AT = 8;
export const RING_SLOT_BYTES_AT = 12;
export const RING_SNAP_BYTES_AT = 16;
/** Next frame number the net tile publishes (i32). */
export const RING_PUBLISHED_AT = 64;
/** Counters (f64, net tile): frames captured, frames dropped because the ring was full. */
export const RING_CNT_CAPTURED_AT = 128;
export const RING_CNT_DROPPED_AT = 136;
export const RING_SLOTS_AT = 256;

// Slot: header (u32 words) then the frame's first capLen bytes.
export const SLOT_TS_SEC = 0;
export const SLOT_TS_NSEC = 4;
export const SLOT_ORIG_LEN = 8;
export const SLOT_CAP_LEN = 12;
export const SLOT_DIRECTION = 16;
export const SLOT_HEADER_BYTES = 32;

export const DIRECTION_RX = 1;
export const DIRECTION_TX = 2;
export const DIRECTIONS_BOTH = DIRECTION_RX | DIRECTION_TX;

/** Default shape: 1024 slots of 32 + 2048 bytes (about 2 MiB per net tile, made only at start). */
export const CAPTURE_DEFAULT_SLOTS = 1024;
export const CAPTURE_DEFAULT_SNAP_BYTES = 2048;
export const CAPTURE_MAX_SNAP_BYTES = 65535;

export interface CaptureShape {
  slotCount: number;
  snapBytes: number;
}

export interface CaptureFilter {
  /** UDP port on either side; 0: any. */
  port: number;
  /** IPv4 address on either side (host order, u32); 0: any. */
  ipv4: number;
  /** DIRECTION_RX | DIRECTION_TX bits. */
  directions: number;
}

/** Region names of net tile `tile`'s capture. */
export function captureRegionNames(tile: string): { control: string; ring: string } {
  return { control: `capture.${tile}.control`, ring: `capture.${tile}.ring` };
}

export function captureSlotBytes(snapBytes: number): number {
  return Math.ceil((SLOT_HEADER_BYTES + snapBytes) / 64) * 64;
}

export function captureRingBytes(shape: CaptureShape): number {
  return RING_SLOTS_AT + shape.slotCount * captureSlotBytes(shape.snapBytes);
}

export function validateCaptureShape(shape: CaptureShape): void {
  const { slotCount, snapBytes } = shape;
  if (!Number.isInteger(slotCount) || slotCount < 2 || slotCount > 1 << 16 || (slotCount & (slotCount - 1)) !== 0)
    throw new Error(`capture ring: slotCount ${slotCount} must be a power of two from 2 to 65536`);
  if (!Number.isInteger(snapBytes) || snapBytes < 64 || snapBytes > CAPTURE_MAX_SNAP_BYTES)
    throw new Error(`capture ring: snapBytes ${snapBytes} must be from 64 to ${CAPTURE_MAX_SNAP_BYTES}`);
}

/** Writes both headers into fresh (zeroed) regions: the launcher, at set-up. */
export function initCaptureRegions(control: ArrayBuffer, ring: ArrayBuffer, shape: CaptureShape): void {
  validateCaptureShape(shape);
  if (control.byteLength < CAPTURE_CONTROL_BYTES) throw new Error("capture control region too small");
  if (ring.byteLength < captureRingBytes(shape)) throw new Error("capture ring region too small");
  const c = new DataView(control);
  c.setUint32(CTL_MAGIC, CAPTURE_MAGIC, true);
  c.setUint32(CTL_VERSION, CAPTURE_VERSION, true);
  c.setUint32(CTL_FILTER_DIRECTIONS, DIRECTIONS_BOTH, true);
  const r = new DataView(ring);
  r.setUint32(RING_MAGIC_AT, CAPTURE_MAGIC, true);
  r.setUint32(RING_VERSION_AT, CAPTURE_VERSION, true);
  r.setUint32(RING_SLOT_COUNT_AT, shape.slotCount, true);
  r.setUint32(RING_SLOT_BYTES_AT, captureSlotBytes(shape.snapBytes), true);
  r.setUint32(RING_SNAP_BYTES_AT, shape.snapBytes, true);
}

/** The filter test both the net tile and tests use: all of the set criteria must hold. */
export function captureMatches(
  f: CaptureFilter,
  direction: number,
  srcIp: number,
  dstIp: number,
  srcPort: number,
  dstPort: number,
): boolean {
  if ((f.directions & direction) === 0) return false;
  if (f.port !== 0 && srcPort !== f.port && dstPort !== f.port) return false;
  if (f.ipv4 !== 0 && srcIp >>> 0 !== f.ipv4 && dstIp >>> 0 !== f.ipv4) return false;
  return true;
}
