// The capture regions (shared/capture): the filter, a round trip from the net tile's writer to the
// dump's reader, drops (counted) when the reader lags instead of overwriting, one reader at a time
// (a dead one is replaced), and a reader that survives a hostile ring (no read out of bounds).
import { describe, expect, it } from "vitest";
import {
  CAPTURE_CONTROL_BYTES,
  type CaptureFilter,
  CTL_ATTACHED,
  captureMatches,
  captureRingBytes,
  captureSlotBytes,
  DIRECTION_RX,
  DIRECTION_TX,
  DIRECTIONS_BOTH,
  initCaptureRegions,
  RING_PUBLISHED_AT,
  RING_SLOTS_AT,
  SLOT_CAP_LEN,
  SLOT_ORIG_LEN,
  validateCaptureShape,
} from "../shared/capture/layout";
import { CaptureAttachError, type CapturedFrame, CaptureReader } from "../shared/capture/reader";
import { CaptureWriter, OFFER_CAPTURED, OFFER_DROPPED, OFFER_FILTERED } from "../shared/capture/writer";

const SHAPE = { slotCount: 4, snapBytes: 64 };
const ANY: CaptureFilter = { port: 0, ipv4: 0, directions: DIRECTIONS_BOTH };
const A = 0xc6120001; // 198.18.0.1
const B = 0xc6120002;

function regions() {
  const control = new ArrayBuffer(CAPTURE_CONTROL_BYTES);
  const ring = new ArrayBuffer(captureRingBytes(SHAPE));
  initCaptureRegions(control, ring, SHAPE);
  return { control, ring, writer: new CaptureWriter(control, ring), reader: new CaptureReader(control, ring) };
}

function frame(len: number, tag: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (i + tag) & 255);
}

function drain(reader: CaptureReader): { dir: number; orig: number; bytes: number[] }[] {
  const got: { dir: number; orig: number; bytes: number[] }[] = [];
  reader.poll(100, (f: CapturedFrame) => got.push({ dir: f.direction, orig: f.origLen, bytes: [...f.bytes] }));
  return got;
}

describe("capture filter", () => {
  it("matches a port or an address on either side, and the direction", () => {
    const port: CaptureFilter = { port: 7000, ipv4: 0, directions: DIRECTIONS_BOTH };
    expect(captureMatches(port, DIRECTION_RX, A, B, 40000, 7000)).toBe(true);
    expect(captureMatches(port, DIRECTION_TX, B, A, 7000, 40000)).toBe(true);
    expect(captureMatches(port, DIRECTION_RX, A, B, 40000, 53)).toBe(false);
    const host: CaptureFilter = { port: 0, ipv4: B, directions: DIRECTION_RX };
    expect(captureMatches(host, DIRECTION_RX, A, B, 1, 2)).toBe(true);
    expect(captureMatches(host, DIRECTION_RX, B, A, 1, 2)).toBe(true);
    expect(captureMatches(host, DIRECTION_TX, B, A, 1, 2)).toBe(false);
    expect(captureMatches(host, DIRECTION_RX, A, A, 1, 2)).toBe(false);
    // Both criteria must hold.
    expect(captureMatches({ port: 53, ipv4: B, directions: 3 }, DIRECTION_RX, A, B, 1, 2)).toBe(false);
  });

  it("refuses shapes the layout cannot hold", () => {
    expect(() => validateCaptureShape({ slotCount: 3, snapBytes: 64 })).toThrow(/power of two/);
    expect(() => validateCaptureShape({ slotCount: 4, snapBytes: 70000 })).toThrow(/snapBytes/);
    expect(captureSlotBytes(2048)).toBe(2112);
    expect(captureRingBytes({ slotCount: 1024, snapBytes: 2048 })).toBe(RING_SLOTS_AT + 1024 * 2112);
  });
});

describe("capture ring", () => {
  it("copies nothing while detached; while attached, the matching frames, truncated at the snap length", () => {
    const { writer, reader } = regions();
    expect(writer.attached()).toBe(false);
    reader.attach({ port: 7000, ipv4: 0, directions: DIRECTIONS_BOTH }, 4242, () => true);
    expect(writer.attached()).toBe(true);
    expect(writer.offerUdp(DIRECTION_RX, frame(60, 1), 0, 60, A, B, 40000, 7000)).toBe(OFFER_CAPTURED);
    expect(writer.offerUdp(DIRECTION_RX, frame(60, 2), 0, 60, A, B, 40000, 53)).toBe(OFFER_FILTERED);
    expect(writer.offerUnparsed(DIRECTION_RX, frame(60, 3), 0, 60)).toBe(OFFER_FILTERED);
    const big = frame(100, 4);
    expect(writer.offerUdp(DIRECTION_TX, big, 10, 90, B, A, 7000, 40000)).toBe(OFFER_CAPTURED);
    const got = drain(reader);
    expect(got.map((g) => [g.dir, g.orig, g.bytes.length])).toEqual([
      [DIRECTION_RX, 60, 60],
      [DIRECTION_TX, 90, 64],
    ]);
    expect(got[0]?.bytes).toEqual([...frame(60, 1)]);
    expect(got[1]?.bytes).toEqual([...big.subarray(10, 74)]);
    reader.detach();
    expect(writer.attached()).toBe(false);
    expect(reader.counters()).toEqual({ captured: 2, dropped: 0 });
  });

  it("drops (counted) instead of overwriting frames the reader has not read", () => {
    const { writer, reader } = regions();
    reader.attach(ANY, 1, () => true);
    writer.attached();
    const results = Array.from({ length: 6 }, (_, i) => writer.offerUnparsed(DIRECTION_RX, frame(20, i), 0, 20));
    expect(results).toEqual([0, 0, 0, 0, OFFER_DROPPED, OFFER_DROPPED]);
    expect(drain(reader).map((g) => g.bytes[0])).toEqual([0, 1, 2, 3]);
    expect(writer.offerUnparsed(DIRECTION_RX, frame(20, 9), 0, 20)).toBe(OFFER_CAPTURED);
    expect(reader.counters()).toEqual({ captured: 5, dropped: 2 });
  });

  it("admits one reader at a time, replaces a dead one, and skips frames left from an earlier capture", () => {
    const { control, ring, writer, reader } = regions();
    reader.attach(ANY, 100, () => true);
    writer.attached();
    writer.offerUnparsed(DIRECTION_RX, frame(20, 7), 0, 20);
    const second = new CaptureReader(control, ring);
    expect(() => second.attach(ANY, 200, () => true)).toThrow(CaptureAttachError);
    // Pid 100 died without detaching: the next dump takes over and starts after the stale frame.
    second.attach(ANY, 200, (pid) => pid !== 100);
    expect(drain(second)).toEqual([]);
    second.detach();
    expect(new Int32Array(control)[CTL_ATTACHED / 4]).toBe(0);
  });

  it("survives a hostile ring: lengths beyond the slot and nonsense positions are skipped", () => {
    const { ring, writer, reader } = regions();
    reader.attach(ANY, 1, () => true);
    writer.attached();
    writer.offerUnparsed(DIRECTION_RX, frame(20, 0), 0, 20);
    writer.offerUnparsed(DIRECTION_RX, frame(20, 1), 0, 20);
    const v = new DataView(ring);
    const slotBytes = captureSlotBytes(SHAPE.snapBytes);
    v.setUint32(RING_SLOTS_AT + SLOT_CAP_LEN, 1 << 30, true);
    v.setUint32(RING_SLOTS_AT + slotBytes + SLOT_ORIG_LEN, 3, true); // captured > original
    expect(drain(reader)).toEqual([]);
    expect(reader.invalid).toBe(2);
    new Int32Array(ring)[RING_PUBLISHED_AT / 4] = 1_000_000; // far beyond the ring's depth
    expect(drain(reader)).toEqual([]);
    expect(reader.invalid).toBe(3);
  });
});
