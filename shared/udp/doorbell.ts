// A doorbell: one 64-byte region an app replica with several rx channels sleeps on. One futex
// watches one word, so a replica fed by several net tiles cannot sleep on its rings' `published`
// words; instead each of those net tiles rings the doorbell (through RingProducer's `wake`) when
// it publishes to a ring whose sleeping flag is up.
//
// Word 0 (i32) counts rings. Net tiles map the region read-write; the replica maps it read-only
// (FUTEX_WAIT only reads the word, so a read-only shared mapping is enough).
import { native } from "../native";

export const DOORBELL_BYTES = 64;

/** What the sleeper needs of each rx reader (UdpChannelReader, RingConsumer). */
export interface DoorbellSleeper {
  armSleep(): boolean;
  disarmSleep(): void;
}

/** A doorbell's view (word 0 is the counter). */
export function doorbellView(buf: ArrayBuffer): Int32Array {
  if (buf.byteLength < DOORBELL_BYTES)
    throw new Error(`doorbell: region of ${buf.byteLength} bytes, needs ${DOORBELL_BYTES}`);
  return new Int32Array(buf, 0, DOORBELL_BYTES >> 2);
}

/** Producer side: counts a ring and wakes the sleeper (a wake with nobody waiting is harmless). */
export function ringDoorbell(view: Int32Array): void {
  Atomics.add(view, 0, 1);
  native().futexWake(view, 0, 1);
}

/** Result of sleepOnDoorbell when a reader had data already (no sleep). */
export const DOORBELL_DATA_WAITING = -1;

/**
 * Sleeps until a producer rings or timeoutMs passes, unless a reader has data. Reads the counter
 * first, then raises every reader's sleeping flag (each re-checks its ring): a producer that
 * publishes after that sees the flag and rings, which changes the counter, so the futex wait
 * returns at once instead of missing the wake. Returns DOORBELL_DATA_WAITING, or futexWait's code.
 */
export function sleepOnDoorbell(view: Int32Array, readers: readonly DoorbellSleeper[], timeoutMs: number): number {
  const seen = Atomics.load(view, 0);
  let armed = 0;
  for (; armed < readers.length; armed++) if (!readers[armed].armSleep()) break;
  const woke =
    armed === readers.length
      ? native().futexWait(view, 0, seen, Math.max(1, Math.ceil(timeoutMs)))
      : DOORBELL_DATA_WAITING;
  for (let r = 0; r < armed; r++) readers[r].disarmSleep();
  return woke;
}
