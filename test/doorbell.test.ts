// The doorbell a replica with several rx channels sleeps on: a producer in another thread rings
// it through its own read-write mapping and wakes a sleeper whose mapping is read-only (the app
// maps it so); the sleeper returns early, long before its timeout. A reader with data waiting
// keeps it from sleeping at all; with nothing coming it sleeps out its timeout.
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { addonPath, FUTEX_TIMED_OUT, FUTEX_VALUE_CHANGED, FUTEX_WOKEN, native } from "../shared/native";
import { UdpChannelReader, UdpChannelWriter } from "../shared/udp/channel";
import {
  DOORBELL_BYTES,
  DOORBELL_DATA_WAITING,
  doorbellView,
  ringDoorbell,
  sleepOnDoorbell,
} from "../shared/udp/doorbell";
import { makeChannel } from "./support/dataplane-helpers";

const DEPTH = 16;
const MAX_PAYLOAD = 64;

/** A worker thread that maps the doorbell memfd read-write and rings it after delayMs (as a net
 *  tile's ringDoorbell: add, then FUTEX_WAKE). */
function ringFromWorker(fd: number, delayMs: number): Worker {
  const code = `
    const { workerData } = require("node:worker_threads");
    const mod = { exports: {} };
    process.dlopen(mod, workerData.addon);
    const view = new Int32Array(mod.exports.mapFd(workerData.fd, 4096, true), 0, 16);
    setTimeout(() => { Atomics.add(view, 0, 1); mod.exports.futexWake(view, 0, 1); }, workerData.delayMs);
  `;
  return new Worker(code, { eval: true, workerData: { addon: addonPath(), fd, delayMs } });
}

function emptyReader(): UdpChannelReader {
  return new UdpChannelReader("rx.t", "rx", makeChannel("rx", DEPTH, MAX_PAYLOAD), DEPTH, MAX_PAYLOAD);
}

const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) native().closeFd(fd);
});

describe("doorbell", () => {
  it("wakes a sleeper on a read-only mapping when another thread rings it", async () => {
    const addon = native();
    const fd = addon.memfdCreate("doorbell-test", 4096);
    fds.push(fd);
    const view = doorbellView(addon.mapFd(fd, 4096, false));
    expect(view.byteLength).toBe(DOORBELL_BYTES);
    const worker = ringFromWorker(fd, 150);
    try {
      await new Promise((r) => worker.once("online", r));
      const start = performance.now();
      const woke = sleepOnDoorbell(view, [emptyReader(), emptyReader()], 10_000);
      const elapsedMs = performance.now() - start;
      // Woken (or, had the ring come before the wait, the counter changed): never the timeout.
      expect([FUTEX_WOKEN, FUTEX_VALUE_CHANGED]).toContain(woke);
      expect(elapsedMs).toBeLessThan(5000);
      // It did sleep: the ring came 150 ms after the worker started.
      if (woke === FUTEX_WOKEN) expect(elapsedMs).toBeGreaterThan(50);
      expect(Atomics.load(view, 0)).toBe(1);
    } finally {
      await worker.terminate();
    }
  });

  it("does not sleep when a reader has data, and lowers the flags it raised", () => {
    const bell = doorbellView(new ArrayBuffer(DOORBELL_BYTES));
    const quiet = makeChannel("rx", DEPTH, MAX_PAYLOAD);
    const busy = makeChannel("rx", DEPTH, MAX_PAYLOAD);
    const w = new UdpChannelWriter("rx.busy", "rx", busy, DEPTH, MAX_PAYLOAD, () => ringDoorbell(bell));
    w.begin();
    w.finish(1, 2, 3, 4, 0);
    w.flush();
    const quietReader = new UdpChannelReader("rx.quiet", "rx", quiet, DEPTH, MAX_PAYLOAD);
    const busyReader = new UdpChannelReader("rx.busy", "rx", busy, DEPTH, MAX_PAYLOAD);
    const start = performance.now();
    expect(sleepOnDoorbell(bell, [quietReader, busyReader], 5000)).toBe(DOORBELL_DATA_WAITING);
    expect(performance.now() - start).toBeLessThan(1000);
    // The quiet ring's flag is down again: its producer's next publish does not ring.
    const q = new UdpChannelWriter("rx.quiet", "rx", quiet, DEPTH, MAX_PAYLOAD, () => ringDoorbell(bell));
    q.begin();
    q.finish(1, 2, 3, 4, 0);
    q.flush();
    expect(Atomics.load(bell, 0)).toBe(0);
  });

  it("rings when a producer publishes to an armed ring, and times out when nothing comes", () => {
    const bell = doorbellView(new ArrayBuffer(DOORBELL_BYTES));
    const regions = makeChannel("rx", DEPTH, MAX_PAYLOAD);
    const reader = new UdpChannelReader("rx.t", "rx", regions, DEPTH, MAX_PAYLOAD);
    const start = performance.now();
    expect(sleepOnDoorbell(bell, [reader], 30)).toBe(FUTEX_TIMED_OUT);
    expect(performance.now() - start).toBeGreaterThanOrEqual(25);
    // Armed (as during a sleep), a publish rings once.
    const w = new UdpChannelWriter("rx.t", "rx", regions, DEPTH, MAX_PAYLOAD, () => ringDoorbell(bell));
    expect(reader.armSleep()).toBe(true);
    w.begin();
    w.finish(1, 2, 3, 4, 0);
    w.flush();
    reader.disarmSleep();
    expect(Atomics.load(bell, 0)).toBe(1);
  });
});
