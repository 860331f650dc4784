// flowReplica: a flow's replica is a pure function of its 4-tuple (every net tile agrees), always
// inside 0 .. replicas - 1, and many random flows spread evenly enough over the replicas.
import { describe, expect, it } from "vitest";
import { flowReplica } from "../shared/udp/flow-hash";

/** Deterministic pseudo-random u32s (xorshift32): the test is reproducible. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

describe("flowReplica", () => {
  it("gives the same replica for the same flow, every time", () => {
    const next = rng(7);
    for (let i = 0; i < 1000; i++) {
      const [a, b, p, q] = [next(), next(), next() & 0xffff, next() & 0xffff];
      const r = flowReplica(a, p, b, q, 5);
      expect(flowReplica(a, p, b, q, 5)).toBe(r);
      // Signed and unsigned spellings of an address are the same flow.
      expect(flowReplica(a | 0, p, b | 0, q, 5)).toBe(r);
    }
  });

  it("stays inside 0 .. replicas - 1, and is 0 for one replica", () => {
    const next = rng(11);
    for (const replicas of [1, 2, 3, 4, 7, 16]) {
      for (let i = 0; i < 2000; i++) {
        const r = flowReplica(next(), next() & 0xffff, next(), next() & 0xffff, replicas);
        expect(Number.isInteger(r) && r >= 0 && r < replicas).toBe(true);
        if (replicas === 1) expect(r).toBe(0);
      }
    }
  });

  it("spreads 10k random flows over 4 replicas, each between 15% and 35%", () => {
    const next = rng(12345);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 10_000; i++) counts[flowReplica(next(), next() & 0xffff, next(), next() & 0xffff, 4)]++;
    for (const c of counts) expect(c / 10_000).toBeGreaterThan(0.15);
    for (const c of counts) expect(c / 10_000).toBeLessThan(0.35);
  });

  it("spreads flows that differ only in the client port (one client, one server)", () => {
    const counts = [0, 0, 0, 0];
    for (let port = 1024; port < 1024 + 4000; port++) counts[flowReplica(0xc6120002, port, 0xc6120001, 53, 4)]++;
    for (const c of counts) expect(c / 4000).toBeGreaterThan(0.15);
  });
});
