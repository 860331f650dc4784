// The ring layout: sizes and offsets, cache-line separation of the two sides, and clear errors
// for every kind of wrong layout (in process, and from a child process mapping a bad ring).
import { describe, expect, it } from "vitest";
import { ringLayoutConstants } from "../shared/layout/c-header";
import { native } from "../shared/native";
import { RingConsumer } from "../shared/ring/consumer";
import {
  checkRingPair,
  initRingRegions,
  RING_CACHE_LINE,
  RING_CONSUMER_BYTES,
  RING_HDR_DEPTH,
  RING_HDR_MAGIC,
  RING_HDR_SLOT_SIZE,
  RING_HDR_VERSION,
  RING_SEQ_OFFSET,
  type RingSpec,
  readRingHeader,
  ringRegionSizes,
  ringSlotsOffset,
} from "../shared/ring/layout";
import { RingProducer } from "../shared/ring/producer";
import { fixture, makeRing, runChild } from "./fixtures/ring-spawn";

const SPEC: RingSpec = { kind: "reliable", depth: 4096, slotSize: 64 };

function regions(spec: RingSpec = SPEC) {
  const sizes = ringRegionSizes(spec);
  const producer = new ArrayBuffer(sizes.producerBytes);
  const consumer = new ArrayBuffer(sizes.consumerBytes);
  initRingRegions(producer, consumer, spec);
  return { producer, consumer };
}

describe("ring layout", () => {
  it("sizes the regions: header, lines, seq array and slots, line aligned", () => {
    expect(ringRegionSizes(SPEC)).toEqual({ producerBytes: 256 + 4096 * 4 + 4096 * 64, consumerBytes: 256 });
    expect(ringSlotsOffset(4)).toBe(320); // 256 + 16 rounded up to a line
    expect(ringRegionSizes({ kind: "unreliable", depth: 4, slotSize: 8 }).producerBytes).toBe(320 + 32);
  });

  it("keeps fields written by the producer and by the consumer on separate cache lines", () => {
    const line = (offset: number) => Math.floor(offset / RING_CACHE_LINE);
    const entries = Object.entries(ringLayoutConstants);
    const prod = entries.filter(([k]) => k.startsWith("PROD_")).map(([, v]) => v);
    const cons = entries.filter(([k]) => k.startsWith("CONS_")).map(([, v]) => v);
    const hdr = entries.filter(([k]) => k.startsWith("HDR_")).map(([, v]) => v);
    expect(prod.length).toBeGreaterThan(0);
    expect(cons.length).toBeGreaterThan(0);
    for (const v of hdr) expect(line(v)).toBe(0); // written once by the launcher
    for (const v of [...prod, ...cons]) expect(line(v)).toBeGreaterThanOrEqual(1);
    for (const v of prod) expect(v).toBeLessThan(RING_SEQ_OFFSET);
    for (const v of cons) expect(v).toBeLessThan(RING_CONSUMER_BYTES);
    expect(RING_SEQ_OFFSET % RING_CACHE_LINE).toBe(0);
    // Words one side writes often and words the other side reads often never share a line.
    const c = ringLayoutConstants;
    const hot = [c.PROD_PUBLISHED, c.PROD_CLAIMED].map(line);
    const waitLine = [c.PROD_WAITING, c.PROD_SLEEPING, c.PROD_SLEEP_EXPECT].map(line);
    const prodCounters = line(c.PROD_CNT_PUBLISHED);
    expect(new Set(hot).size).toBe(1);
    expect(new Set(waitLine).size).toBe(1);
    expect(new Set([hot[0], waitLine[0], prodCounters]).size).toBe(3);
    expect(line(c.CONS_SLEEPING)).toBe(line(c.CONS_SLEEP_EXPECT));
    expect(new Set([line(c.CONS_CONSUMED), line(c.CONS_SLEEPING), line(c.CONS_CNT_CONSUMED)]).size).toBe(3);
    // No two fields of a region overlap (i32 words and f64 counters).
    const spans = (offs: number[], name: (i: number) => string) =>
      offs.map((o, i) => ({ o, size: name(i).includes("_CNT_") ? 8 : 4, k: name(i) }));
    for (const group of [prod, cons]) {
      const keys = entries.filter(([, v]) => group.includes(v)).map(([k]) => k);
      const s = spans(group, (i) => keys[i] ?? "").sort((a, b) => a.o - b.o);
      for (let i = 1; i < s.length; i++) expect(s[i].o).toBeGreaterThanOrEqual(s[i - 1].o + s[i - 1].size);
    }
  });

  it("reads back what the launcher wrote", () => {
    const { producer, consumer } = regions();
    const header = checkRingPair("ok", producer, consumer, SPEC);
    expect(header).toMatchObject({ ...SPEC, role: "producer", initSeq: 0, slotsOffset: ringSlotsOffset(4096) });
    expect(readRingHeader(consumer, "ok").role).toBe("consumer");
  });

  it("rejects bad specs at creation", () => {
    expect(() => ringRegionSizes({ kind: "reliable", depth: 3000, slotSize: 64 })).toThrow(
      /depth 3000 is not a power of two/,
    );
    expect(() => ringRegionSizes({ kind: "reliable", depth: 1, slotSize: 64 })).toThrow(/depth 1 is not a power/);
    expect(() => ringRegionSizes({ kind: "reliable", depth: 64, slotSize: 60 })).toThrow(
      /slot size 60 is not a multiple of 8/,
    );
    expect(() => ringRegionSizes({ kind: "reliable", depth: 1 << 24, slotSize: 1 << 20 })).toThrow(/exceeds/);
  });

  const corruptions: [string, (v: DataView) => void, RegExp][] = [
    [
      "bad magic",
      (v) => v.setUint32(RING_HDR_MAGIC, 0xdeadbeef, true),
      /ring t: bad magic 0xdeadbeef \(expected 0x544e5247\)/,
    ],
    [
      "zeroed region",
      (v) => v.setUint32(RING_HDR_MAGIC, 0, true),
      /ring t: bad magic 0x00000000 \(expected 0x544e5247\)/,
    ],
    ["version", (v) => v.setUint32(RING_HDR_VERSION, 7, true), /ring t: unsupported layout version 7 \(expected 1\)/],
    ["depth", (v) => v.setUint32(RING_HDR_DEPTH, 3000, true), /ring t: depth 3000 is not a power of two/],
    ["slot size", (v) => v.setUint32(RING_HDR_SLOT_SIZE, 12, true), /ring t: slot size 12 is not a multiple of 8/],
    ["grown slot size", (v) => v.setUint32(RING_HDR_SLOT_SIZE, 128, true), /ring t: header sizes .* do not match/],
  ];
  for (const [what, corrupt, message] of corruptions) {
    it(`rejects a producer region with a wrong ${what}`, () => {
      const { producer, consumer } = regions();
      corrupt(new DataView(producer));
      expect(() => new RingProducer("t", producer, consumer)).toThrow(message);
      expect(() => new RingConsumer("t", producer, consumer)).toThrow(message);
    });
  }

  it("rejects a slot size or depth other than the one expected", () => {
    const { producer, consumer } = regions();
    expect(() => new RingProducer("t", producer, consumer, { ...SPEC, slotSize: 128 })).toThrow(
      "ring t: slot size 64 does not match expected 128",
    );
    expect(() => new RingConsumer("t", producer, consumer, { ...SPEC, depth: 1024 })).toThrow(
      "ring t: depth 4096 does not match expected 1024",
    );
    expect(() => new RingConsumer("t", producer, consumer, { ...SPEC, kind: "unreliable" })).toThrow(
      "ring t: kind reliable (expected unreliable)",
    );
  });

  it("rejects regions that are too small, swapped, or from two different rings", () => {
    const { producer, consumer } = regions();
    expect(() => readRingHeader(producer.slice(0, 32), "t")).toThrow(
      "ring t: region too small: 32 bytes (a ring header needs 64)",
    );
    expect(() => readRingHeader(producer.slice(0, 4096), "t")).toThrow(
      `ring t: region too small: producer region of 4096 bytes, needs ${ringRegionSizes(SPEC).producerBytes}`,
    );
    expect(() => new RingProducer("t", consumer, producer)).toThrow(
      "ring t: expected the producer region, got the consumer region",
    );
    const other = regions({ ...SPEC, depth: 1024 });
    expect(() => new RingConsumer("t", producer, other.consumer)).toThrow(
      "ring t: producer and consumer regions disagree on depth (4096 vs 1024)",
    );
    expect(() => initRingRegions(new ArrayBuffer(1024), consumer, SPEC)).toThrow(/producer region of 1024 bytes/);
  });

  it("a child process mapping a ring with a bad header exits with the clear error", async () => {
    const r = makeRing("bad", { kind: "reliable", depth: 64, slotSize: 64 });
    try {
      new DataView(native().mapFd(r.fds.producerFd, 0, true)).setUint32(RING_HDR_MAGIC, 0x12345678, true);
      const out = await runChild(fixture("ring-peer"), JSON.stringify({ role: "consumer", name: "bad", count: 1 }), [
        ...r.consumerSide,
      ]);
      expect(out.code).toBe(1);
      expect(out.stderr).toContain("ring bad: bad magic 0x12345678 (expected 0x544e5247)");
    } finally {
      r.close();
    }
  });
});
