// Wrap-around: sequence numbers crossing 2^32 and slot indexes wrapping many times keep order,
// content and counts exact, in process and across processes, in both ring kinds.
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";
import { RingConsumer } from "../shared/ring/consumer";
import { initRingRegions, type RingSpec, readRingHeader, ringRegionSizes } from "../shared/ring/layout";
import { RingProducer } from "../shared/ring/producer";
import { checkPayload, writePayload } from "./fixtures/ring-payload";
import type { ConsumerResult, PeerConfig, ProducerResult } from "./fixtures/ring-peer";
import { fixture, makeRing, resultOf, runChild } from "./fixtures/ring-spawn";

const NEAR_WRAP = 2 ** 32 - 100; // u32; the ring stores it as the i32 -100

function inProcess(spec: RingSpec, initSeq: number) {
  const addon = native();
  const sizes = ringRegionSizes(spec);
  const pbuf = addon.mapFd(addon.memfdCreate("wrap-p", sizes.producerBytes), 0, true);
  const cbuf = addon.mapFd(addon.memfdCreate("wrap-c", sizes.consumerBytes), 0, true);
  initRingRegions(pbuf, cbuf, spec, { initSeq });
  return { pbuf, producer: new RingProducer("wrap", pbuf, cbuf), consumer: new RingConsumer("wrap", pbuf, cbuf) };
}

describe("ring wrap-around", () => {
  for (const kind of ["reliable", "unreliable"] as const) {
    it(`${kind}: crosses the 2^32 sequence wrap with mixed batches, in order`, () => {
      const spec: RingSpec = { kind, depth: 8, slotSize: 16 };
      const { pbuf, producer, consumer } = inProcess(spec, NEAR_WRAP);
      expect(readRingHeader(pbuf).initSeq).toBe(-100);
      const seen: number[] = [];
      let bad = 0;
      const handler = (off: number, seq: number): void => {
        if (!checkPayload(consumer.i32, off, seq, spec.slotSize)) bad++;
        seen.push(seq);
      };
      let sent = 0;
      for (let round = 0; sent < 1000; round++) {
        const n = producer.claimBatch(Math.min(1 + (round % 5), 1000 - sent));
        for (let i = 0; i < n; i++) writePayload(producer.i32, producer.slotOffset(i), producer.claimedSeq(i), 16);
        producer.publish();
        sent += n;
        // The unreliable consumer drains each round: this test is about the wrap, not overruns.
        consumer.poll(kind === "reliable" ? 1 + (round % 3) : 8, handler);
      }
      while (consumer.poll(8, handler) > 0) {}
      expect(bad).toBe(0);
      expect(consumer.lostCount).toBe(0);
      expect(seen.length).toBe(1000);
      for (let i = 0; i < seen.length; i++) expect(seen[i]).toBe((NEAR_WRAP + i) | 0);
      expect(seen).toContain(-1);
      expect(seen).toContain(0);
      expect(producer.nextSeq).toBe((NEAR_WRAP + 1000) | 0);
      expect(producer.published).toBe(1000);
      expect(consumer.consumed).toBe(1000);
    });
  }

  it("unreliable: an overrun across the wrap counts exactly what was lost", () => {
    const spec: RingSpec = { kind: "unreliable", depth: 16, slotSize: 16 };
    const { producer, consumer } = inProcess(spec, 2 ** 32 - 20);
    for (let i = 0; i < 100; i++) {
      producer.claim();
      writePayload(producer.i32, producer.slotOffset(0), producer.claimedSeq(0), 16);
      producer.publish();
    }
    const seen: number[] = [];
    while (consumer.poll(64, (_off, seq) => seen.push(seq)) > 0) {}
    expect(consumer.overrunCount).toBe(1);
    expect(consumer.lostCount + seen.length).toBe(100);
    expect(seen).toEqual([72, 73, 74, 75, 76, 77, 78, 79]);
  });

  for (const kind of ["reliable", "unreliable"] as const) {
    it(`${kind}: 400k messages across processes through the wrap in a 64-slot ring`, async () => {
      const count = 400_000;
      const initSeq = 2 ** 32 - count / 2;
      const r = makeRing(`wrap-${kind}`, { kind, depth: 64, slotSize: 32 }, { initSeq });
      try {
        const peer = fixture("ring-peer");
        const base = { name: `wrap-${kind}`, count, deadlineMs: 20_000 };
        const consumer: PeerConfig = { ...base, role: "consumer", pollMax: 20 };
        const producer: PeerConfig = { ...base, role: "producer", batchMax: 13 };
        const [c, p] = await Promise.all([
          runChild(peer, JSON.stringify(consumer), r.consumerSide),
          runChild(peer, JSON.stringify(producer), r.producerSide),
        ]);
        const cons = resultOf<ConsumerResult>(c);
        const prod = resultOf<ProducerResult>(p);
        expect(prod.published).toBe(count);
        expect(cons.timedOut).toBe(false);
        expect(cons.badPayload).toBe(0);
        expect(cons.badOrder).toBe(0);
        expect(cons.delivered + cons.lost).toBe(count);
        expect(cons.lastSeq).toBe((initSeq + count - 1) | 0);
        if (kind === "reliable") {
          expect(cons.lost).toBe(0);
          expect(cons.firstSeq).toBe(initSeq | 0);
        }
      } finally {
        r.close();
      }
    }, 30_000);
  }
});
