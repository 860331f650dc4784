// Read-only enforcement: each side gets the other side's region as a read-only descriptor and a
// read-only mapping; a child that writes there dies with SIGSEGV and the parent and ring live on.
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";
import { RingConsumer } from "../shared/ring/consumer";
import { RING_CONS_CONSUMED, RING_PROD_PUBLISHED } from "../shared/ring/layout";
import { RingProducer } from "../shared/ring/producer";
import { fixture, makeRing, runChild } from "./fixtures/ring-spawn";

describe("ring read-only sides", () => {
  for (const role of ["write-producer-region", "write-consumer-region"] as const) {
    it(`${role}: the writer dies with SIGSEGV, the region is unchanged, the parent lives`, async () => {
      const r = makeRing("ro", { kind: "reliable", depth: 64, slotSize: 64 });
      try {
        const fds = role === "write-producer-region" ? r.consumerSide : r.producerSide;
        const out = await runChild(fixture("ring-peer"), JSON.stringify({ role, name: "ro", count: 0 }), fds);
        expect(out.signal).toBe("SIGSEGV");
        // It could not even get a writable mapping of the read-only descriptor.
        expect(out.stdout).toMatch(/writable mapping: mmap\(fd [34], \d+ bytes, read-write\): EACCES/);
        expect(out.stdout).not.toContain("survived");
        const addon = native();
        const pbuf = addon.mapFd(r.fds.producerFd, 0, true);
        const cbuf = addon.mapFd(r.fds.consumerFd, 0, true);
        expect(new Int32Array(pbuf)[(RING_PROD_PUBLISHED >> 2) + 1]).toBe(0);
        expect(new Int32Array(cbuf)[RING_CONS_CONSUMED >> 2]).toBe(0);
        // The ring still works for the living.
        const producer = new RingProducer("ro", pbuf, cbuf);
        const consumer = new RingConsumer("ro", pbuf, cbuf);
        producer.claim();
        producer.publish();
        expect(consumer.poll(4, () => {})).toBe(1);
      } finally {
        r.close();
      }
    });
  }
});
