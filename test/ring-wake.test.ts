// Sleep and wake: a consumer asleep on the futex is woken by the producer, with no lost wake-up
// over 2,000 ping-pongs where both sides always sleep; no FUTEX_WAKE while nobody sleeps.
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";
import { RingConsumer } from "../shared/ring/consumer";
import { initRingRegions, type RingSpec, ringRegionSizes } from "../shared/ring/layout";
import { RingProducer } from "../shared/ring/producer";
import type { PingPongConfig, PingPongResult } from "./fixtures/ring-pingpong";
import { fixture, makeRing, resultOf, runChild } from "./fixtures/ring-spawn";

const ROUND_TRIPS = 2000;

function inProcessRing(spec: RingSpec) {
  const addon = native();
  const sizes = ringRegionSizes(spec);
  const pfd = addon.memfdCreate("wake-p", sizes.producerBytes);
  const cfd = addon.memfdCreate("wake-c", sizes.consumerBytes);
  const pbuf = addon.mapFd(pfd, 0, true);
  const cbuf = addon.mapFd(cfd, 0, true);
  addon.closeFd(pfd);
  addon.closeFd(cfd);
  initRingRegions(pbuf, cbuf, spec);
  return { producer: new RingProducer("wake", pbuf, cbuf), consumer: new RingConsumer("wake", pbuf, cbuf) };
}

describe("ring sleep and wake", () => {
  it("ping-pong 2,000 times across processes, both sides sleeping on the futex each time, no lost wake-up", async () => {
    const spec: RingSpec = { kind: "reliable", depth: 64, slotSize: 64 };
    const ab = makeRing("ab", spec);
    const ba = makeRing("ba", spec);
    try {
      const cfg = { iterations: ROUND_TRIPS, spinUs: 0, waitMs: 2000 };
      const script = fixture("ring-pingpong");
      const ping: PingPongConfig = { ...cfg, role: "ping" };
      const pong: PingPongConfig = { ...cfg, role: "pong" };
      const [a, b] = await Promise.all([
        runChild(script, JSON.stringify(ping), [...ab.producerSide, ...ba.consumerSide]),
        runChild(script, JSON.stringify(pong), [...ab.consumerSide, ...ba.producerSide]),
      ]);
      const pinger = resultOf<PingPongResult>(a);
      const ponger = resultOf<PingPongResult>(b);
      for (const side of [pinger, ponger]) {
        expect(side.roundTrips).toBe(ROUND_TRIPS);
        expect(side.badReplies).toBe(0);
        expect(side.timeouts).toBe(0); // a lost wake-up would sleep until waitMs
        expect(side.sleeps).toBeGreaterThan(0);
      }
      // The pinger sleeps waiting for most replies, and the ponger wakes it (on a loaded box a
      // reply can land before the pinger sleeps: 998 of 2,000 seen; a broken wake path gives ~0).
      expect(pinger.sleeps).toBeGreaterThan(ROUND_TRIPS / 4);
      expect(ponger.wakes).toBeGreaterThan(ROUND_TRIPS / 4);
      expect(pinger.wakes).toBeGreaterThan(0);
    } finally {
      ab.close();
      ba.close();
    }
  }, 30_000);

  it("makes no FUTEX_WAKE call while the consumer is awake", () => {
    const { producer, consumer } = inProcessRing({ kind: "reliable", depth: 16, slotSize: 8 });
    let got = 0;
    const count = (): void => {
      got++;
    };
    for (let i = 0; i < 1000; i++) {
      expect(producer.claim()).toBeGreaterThanOrEqual(0);
      producer.publish();
      expect(consumer.poll(16, count)).toBe(1);
    }
    expect(got).toBe(1000);
    expect(producer.wakeCount).toBe(0);
    expect(consumer.wakeCount).toBe(0);
  });

  it("times out a sleep with nothing published, and wakes at once when data is already there", () => {
    const { producer, consumer } = inProcessRing({ kind: "unreliable", depth: 16, slotSize: 8 });
    const t0 = performance.now();
    expect(consumer.sleepUntilData(0, 50)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(consumer.sleepCount).toBeGreaterThan(0);
    producer.claim();
    producer.publish();
    expect(consumer.sleepUntilData(0, 5000)).toBe(true);
  });
});
