// 10 million messages between two processes over real shared memory, every message checked
// (number and all 64 payload bytes), in both ring kinds, with mixed batch sizes on both sides.
import { describe, expect, it } from "vitest";
import type { ConsumerResult, PeerConfig, ProducerResult } from "./fixtures/ring-peer";
import { fixture, makeRing, resultOf, runChild } from "./fixtures/ring-spawn";

const COUNT = 10_000_000;

async function transfer(kind: "reliable" | "unreliable") {
  const ring = makeRing(`order-${kind}`, { kind, depth: 4096, slotSize: 64 });
  try {
    const base = { name: `order-${kind}`, count: COUNT, deadlineMs: 25_000 };
    const producer: PeerConfig = { ...base, role: "producer", batchMax: 37 };
    const consumer: PeerConfig = { ...base, role: "consumer", pollMax: 50 };
    const peer = fixture("ring-peer");
    const [c, p] = await Promise.all([
      runChild(peer, JSON.stringify(consumer), ring.consumerSide, 28_000),
      runChild(peer, JSON.stringify(producer), ring.producerSide, 28_000),
    ]);
    return { consumer: resultOf<ConsumerResult>(c), producer: resultOf<ProducerResult>(p) };
  } finally {
    ring.close();
  }
}

describe("ring message order and content across processes", () => {
  it("reliable: all 10M messages arrive once, in order, intact", async () => {
    const { consumer, producer } = await transfer("reliable");
    expect(producer.timedOut).toBe(false);
    expect(producer.published).toBe(COUNT);
    expect(consumer.timedOut).toBe(false);
    expect(consumer.delivered).toBe(COUNT);
    expect(consumer.lost).toBe(0);
    expect(consumer.badPayload).toBe(0);
    expect(consumer.badOrder).toBe(0);
    expect(consumer.firstSeq).toBe(0);
    expect(consumer.lastSeq).toBe(COUNT - 1);
  }, 30_000);

  it("unreliable: delivered messages are in order and intact; delivered + lost = 10M", async () => {
    const { consumer, producer } = await transfer("unreliable");
    expect(producer.published).toBe(COUNT);
    expect(producer.backpressureCount).toBe(0); // the producer of an unreliable ring never waits
    expect(consumer.timedOut).toBe(false);
    expect(consumer.badPayload).toBe(0);
    expect(consumer.badOrder).toBe(0);
    expect(consumer.delivered + consumer.lost).toBe(COUNT);
    expect(consumer.delivered).toBeGreaterThan(0);
    if (consumer.lost > 0) expect(consumer.overruns).toBeGreaterThan(0);
    expect(consumer.lastSeq).toBeLessThanOrEqual(COUNT - 1);
  }, 30_000);
});
