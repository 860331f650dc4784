// Backpressure on reliable rings: a slow consumer makes the producer wait (counted, timed), a
// stalled one makes it sleep on the futex until credits come back; nothing is ever lost.
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";
import { RingConsumer } from "../shared/ring/consumer";
import { readRingCounters } from "../shared/ring/counters";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { RingProducer } from "../shared/ring/producer";
import type { ConsumerResult, PeerConfig, ProducerResult } from "./fixtures/ring-peer";
import { fixture, makeRing, resultOf, runChild } from "./fixtures/ring-spawn";

async function slowConsumer(
  count: number,
  consumerCfg: Partial<PeerConfig>,
  producerSpinUs: number,
  producerCfg: Partial<PeerConfig> = {},
) {
  const spec: RingSpec = { kind: "reliable", depth: 64, slotSize: 64 };
  const r = makeRing("backpressure", spec);
  try {
    const peer = fixture("ring-peer");
    const base = { name: "backpressure", count, deadlineMs: 20_000 };
    const consumer: PeerConfig = { ...base, role: "consumer", pollMax: 16, ...consumerCfg };
    const producer: PeerConfig = { ...base, role: "producer", batchMax: 8, spinUs: producerSpinUs, ...producerCfg };
    const [c, p] = await Promise.all([
      runChild(peer, JSON.stringify(consumer), r.consumerSide),
      runChild(peer, JSON.stringify(producer), r.producerSide),
    ]);
    return { cons: resultOf<ConsumerResult>(c), prod: resultOf<ProducerResult>(p) };
  } finally {
    r.close();
  }
}

function expectAllDelivered(cons: ConsumerResult, count: number): void {
  expect(cons.timedOut).toBe(false);
  expect(cons.delivered).toBe(count);
  expect(cons.lost).toBe(0);
  expect(cons.overruns).toBe(0);
  expect(cons.badPayload).toBe(0);
  expect(cons.badOrder).toBe(0);
  expect(cons.lastSeq).toBe(count - 1);
}

describe("reliable ring backpressure", () => {
  it("counts backpressure (events and time) against a slow consumer and loses nothing", async () => {
    const count = 100_000;
    const { cons, prod } = await slowConsumer(count, { stallEvery: 100, stallUs: 200 }, 50);
    expect(prod.timedOut).toBe(false);
    expect(prod.published).toBe(count);
    expect(prod.backpressureCount).toBeGreaterThan(0);
    expect(prod.backpressureNs).toBeGreaterThan(0);
    expectAllDelivered(cons, count);
  }, 30_000);

  it("a producer facing a stalled consumer sleeps on the futex and is woken by returned credits", async () => {
    const count = 50_000;
    const { cons, prod } = await slowConsumer(count, { stallEvery: 10_000, stallUs: 50_000 }, 20);
    expect(prod.timedOut).toBe(false);
    expect(prod.sleepCount).toBeGreaterThan(0);
    expect(cons.wakes).toBeGreaterThan(0);
    // The stalls alone are 4 x 50 ms; the producer spent them waiting.
    expect(prod.backpressureNs).toBeGreaterThan(150e6);
    expectAllDelivered(cons, count);
  }, 30_000);

  it("a producer waiting for a whole ring of credits gets the remainder as soon as the consumer runs dry", async () => {
    // releaseEvery 24 does not divide the depth 64: the last 16 credits of each ring come back only
    // because the consumer sees the producer waiting when it finds the ring empty. It spins (2 s)
    // instead of sleeping, so the release before sleeping cannot be what saves the producer.
    const count = 20_000;
    const { cons, prod } = await slowConsumer(count, { releaseEvery: 24, spinUs: 2_000_000 }, 2_000_000, {
      waitFor: 64,
    });
    expect(prod.timedOut).toBe(false);
    expect(prod.backpressureCount).toBeGreaterThan(0);
    expect(cons.sleeps).toBe(0);
    expectAllDelivered(cons, count);
  }, 30_000);

  it("never claims more than the credits: a full ring refuses until the consumer returns them", () => {
    const spec: RingSpec = { kind: "reliable", depth: 8, slotSize: 8 };
    const addon = native();
    const sizes = ringRegionSizes(spec);
    const pbuf = addon.mapFd(addon.memfdCreate("bp-p", sizes.producerBytes), 0, true);
    const cbuf = addon.mapFd(addon.memfdCreate("bp-c", sizes.consumerBytes), 0, true);
    initRingRegions(pbuf, cbuf, spec);
    const producer = new RingProducer("bp", pbuf, cbuf, spec);
    const consumer = new RingConsumer("bp", pbuf, cbuf, spec, { releaseEvery: 4 });
    expect(producer.claimBatch(5)).toBe(5);
    producer.publish();
    expect(producer.claimBatch(5)).toBe(3);
    producer.publish();
    expect(producer.available()).toBe(0);
    expect(producer.claim()).toBe(-1);
    expect(producer.waitForCredits(1, 0, 20)).toBe(false); // nobody consumes: times out
    expect(producer.backpressureCount).toBe(1);
    expect(producer.backpressureNs).toBeGreaterThanOrEqual(15e6);
    const seen: number[] = [];
    const record = (_off: number, seq: number): void => {
      seen.push(seq);
    };
    expect(consumer.poll(3, record)).toBe(3);
    expect(producer.available()).toBe(0); // 3 < releaseEvery: credits not returned yet
    expect(consumer.poll(1, record)).toBe(1);
    expect(producer.available()).toBe(4);
    expect(consumer.poll(8, record)).toBe(4);
    expect(producer.available()).toBe(8);
    expect(producer.claimBatch(2)).toBe(2);
    producer.publish();
    expect(consumer.poll(8, record)).toBe(2);
    expect(consumer.poll(8, record)).toBe(0); // empty, but nobody waits for credits: no store
    expect(producer.available()).toBe(6);
    expect(consumer.sleepUntilData(0, 1)).toBe(false); // returns credits before sleeping
    expect(producer.available()).toBe(8);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // What a monitor mapping both regions read-only sees.
    expect(readRingCounters("bp", pbuf, cbuf)).toMatchObject({
      published: 10,
      consumed: 10,
      backpressureCount: 1,
      lost: 0,
      overruns: 0,
      backlog: 0,
    });
  });
});
