// Overrun on unreliable rings: a lapped or stalled consumer counts exactly what it lost,
// resynchronises, and never hands a torn message to its handler (payloads carry a self-check).
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";
import { RingConsumer, type RingConsumerOptions } from "../shared/ring/consumer";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { RingProducer } from "../shared/ring/producer";
import { checkPayload, writePayload } from "./fixtures/ring-payload";
import type { ConsumerResult, PeerConfig, ProducerResult } from "./fixtures/ring-peer";
import { fixture, makeRing, resultOf, runChild } from "./fixtures/ring-spawn";

const SPEC: RingSpec = { kind: "unreliable", depth: 16, slotSize: 32 };

function ring(opts: RingConsumerOptions = {}) {
  const addon = native();
  const sizes = ringRegionSizes(SPEC);
  const pfd = addon.memfdCreate("overrun-p", sizes.producerBytes);
  const cfd = addon.memfdCreate("overrun-c", sizes.consumerBytes);
  const pbuf = addon.mapFd(pfd, 0, true);
  const cbuf = addon.mapFd(cfd, 0, true);
  addon.closeFd(pfd);
  addon.closeFd(cfd);
  initRingRegions(pbuf, cbuf, SPEC);
  const producer = new RingProducer("overrun", pbuf, cbuf, SPEC);
  const consumer = new RingConsumer("overrun", pbuf, cbuf, SPEC, opts);
  return { producer, consumer };
}

function publish(p: RingProducer, count: number): void {
  for (let i = 0; i < count; i++) {
    const off = p.claim();
    writePayload(p.i32, off, p.claimedSeq(0), SPEC.slotSize);
    p.publish();
  }
}

/** A handler that records message numbers and counts payloads that fail their self-check. */
function recorder(c: () => RingConsumer) {
  const seqs: number[] = [];
  let bad = 0;
  return {
    seqs,
    bad: () => bad,
    handler: (off: number, seq: number): void => {
      if (!checkPayload(c().i32, off, seq, SPEC.slotSize)) bad++;
      seqs.push(seq);
    },
  };
}

describe("unreliable ring overrun", () => {
  it("a consumer lapped by the producer counts the lost messages and resyncs half a ring behind", () => {
    const { producer, consumer } = ring();
    const rec = recorder(() => consumer);
    publish(producer, 50); // 50 messages into 16 slots, nobody reading
    expect(consumer.poll(0, rec.handler)).toBe(0); // asking for nothing counts nothing
    expect(consumer.lostCount).toBe(0);
    expect(consumer.poll(64, rec.handler)).toBe(8);
    expect(consumer.overrunCount).toBe(1);
    expect(consumer.lostCount).toBe(42);
    expect(rec.seqs).toEqual([42, 43, 44, 45, 46, 47, 48, 49]);
    expect(rec.bad()).toBe(0);
    publish(producer, 3);
    expect(consumer.poll(64, rec.handler)).toBe(3);
    expect(consumer.overrunCount).toBe(1);
    expect(consumer.consumed + consumer.lostCount).toBe(53);
  });

  it("detects slots rewritten while it copies them and delivers only intact ones", () => {
    let during: () => void = () => {};
    const { producer, consumer } = ring({ debugAfterCopy: () => during() });
    const rec = recorder(() => consumer);
    publish(producer, 8);
    // While the consumer holds copies of 0..7, the producer laps 0..3 (messages 16..19).
    during = () => publish(producer, 12);
    expect(consumer.poll(8, rec.handler)).toBe(4);
    expect(rec.seqs).toEqual([4, 5, 6, 7]);
    expect(consumer.tornCount).toBe(4);
    expect(consumer.lostCount).toBe(4);
    expect(consumer.overrunCount).toBe(1);
    during = () => {};
    expect(consumer.poll(64, rec.handler)).toBe(12);
    expect(rec.seqs.slice(4)).toEqual([8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(rec.bad()).toBe(0);
  });

  it("rejects a slot whose rewrite is in progress (claimed, payload half written, not published)", () => {
    let during: () => void = () => {};
    const { producer, consumer } = ring({ debugAfterCopy: () => during() });
    const rec = recorder(() => consumer);
    publish(producer, 16);
    during = () => {
      // Message 16 reuses message 0's slot: claim it and scribble, but do not publish.
      const off = producer.claim();
      producer.i32.fill(-1, off >> 2, (off >> 2) + 4);
    };
    // The copy happened before the scribble, but the re-check cannot know what was read when.
    expect(consumer.poll(4, rec.handler)).toBe(3);
    expect(rec.seqs).toEqual([1, 2, 3]);
    expect(consumer.tornCount).toBe(1);
    expect(rec.bad()).toBe(0);
  });

  it("the producer never waits: it laps a consumer that does not read, and claims at most a ring unpublished", () => {
    const { producer, consumer } = ring();
    publish(producer, 1000);
    expect(producer.published).toBe(1000);
    expect(producer.backpressureCount).toBe(0);
    expect(producer.available()).toBe(SPEC.depth);
    expect(producer.waitForCredits(SPEC.depth, 0, 1)).toBe(true);
    expect(producer.claimBatch(100)).toBe(SPEC.depth);
    expect(producer.claim()).toBe(-1);
    producer.publish();
    expect(producer.claim()).toBeGreaterThanOrEqual(0);
    expect(consumer.poll(64, () => {})).toBe(8);
    expect(consumer.lostCount).toBe(1016 - 8);
  });

  it("a stalled consumer in another process loses messages, counts them, and never sees a torn one", async () => {
    const count = 2_000_000;
    const r = makeRing("stalled", { kind: "unreliable", depth: 256, slotSize: 64 });
    try {
      const peer = fixture("ring-peer");
      const base = { name: "stalled", count, deadlineMs: 20_000 };
      const consumer: PeerConfig = { ...base, role: "consumer", pollMax: 64, stallEvery: 64, stallUs: 300 };
      const producer: PeerConfig = { ...base, role: "producer", batchMax: 8 };
      const [c, p] = await Promise.all([
        runChild(peer, JSON.stringify(consumer), r.consumerSide),
        runChild(peer, JSON.stringify(producer), r.producerSide),
      ]);
      const cons = resultOf<ConsumerResult>(c);
      const prod = resultOf<ProducerResult>(p);
      expect(prod.published).toBe(count);
      expect(prod.backpressureCount).toBe(0);
      expect(cons.timedOut).toBe(false);
      expect(cons.lost).toBeGreaterThan(0);
      expect(cons.overruns).toBeGreaterThan(0);
      expect(cons.delivered).toBeGreaterThan(0);
      expect(cons.delivered + cons.lost).toBe(count);
      expect(cons.badPayload).toBe(0);
      expect(cons.badOrder).toBe(0);
    } finally {
      r.close();
    }
  }, 30_000);
});
