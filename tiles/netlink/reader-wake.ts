// Wakes every process sleeping on netbase's generation word (NetbaseClient.waitForChange, any
// process on the host) once a batch of updates is applied: one FUTEX_WAKE (shared, not private:
// the key is the file's page, so it crosses processes) per batch that changed the generation,
// never per event. The netlink tile's seccomp policy allows futex (the Node baseline).
import { native } from "../../shared/native";
import { H_SYNC_GENERATION } from "../../shared/netbase/layout";

const ALL_WAITERS = 0x7fffffff;

export class ReaderWake {
  private readonly words: Int32Array;
  private lastWoken: number;
  /** FUTEX_WAKE calls made (one per batch that changed netbase). */
  wakes = 0;

  constructor(netbase: ArrayBuffer) {
    this.words = new Int32Array(netbase, 0, H_SYNC_GENERATION + 1);
    this.lastWoken = Atomics.load(this.words, H_SYNC_GENERATION);
  }

  /** After a batch: wakes the waiters if the generation moved since the last wake. */
  afterBatch(): void {
    const now = Atomics.load(this.words, H_SYNC_GENERATION);
    if (now === this.lastWoken) return;
    this.lastWoken = now;
    this.wakes++;
    native().futexWake(this.words, H_SYNC_GENERATION, ALL_WAITERS);
  }
}
