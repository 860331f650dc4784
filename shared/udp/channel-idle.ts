// How a net tile (AF_XDP or socket provider) idles over its app channels, declared once: keep
// polling for spinMs after the last work, and for replySpinMs while an app holds datagrams the
// tile delivered (its answer is what comes next: catching it spinning saves a wake-up per
// request); then raise the sleeping flag of every app's tx ring and wait in one poll(2) on the
// tile's sockets and the eventfd the apps signal when they publish to a sleeping tile.
import type { UdpChannelReader, UdpChannelWriter } from "./channel";

export interface ChannelIdleSettings {
  /** Never sleep (idle mode "spin"). */
  spin: boolean;
  spinMs: number;
  replySpinMs: number;
}

export class ChannelIdle {
  constructor(
    private readonly readers: readonly UdpChannelReader[],
    private readonly writers: readonly UdpChannelWriter[],
    private readonly settings: ChannelIdleSettings,
  ) {}

  /** True while the tile should poll again rather than sleep, idleMs after its last work. */
  keepSpinning(idleMs: number): boolean {
    const s = this.settings;
    return s.spin || idleMs < s.spinMs || (idleMs < s.replySpinMs && this.answerPending());
  }

  /** Raises every tx ring's sleeping flag and, when none has a message already, runs wait (the
   *  poll(2)); lowers the flags. Returns wait's result, or -1 when a message was there. */
  sleep(wait: () => number): number {
    const readers = this.readers;
    let armed = 0;
    for (; armed < readers.length; armed++) if (!readers[armed].armSleep()) break;
    const woke = armed === readers.length ? wait() : -1;
    for (let a = 0; a < armed; a++) readers[a].disarmSleep();
    return woke;
  }

  /** An app holds datagrams the tile delivered (it returns credits once it published its answers). */
  private answerPending(): boolean {
    const writers = this.writers;
    for (let a = 0; a < writers.length; a++) if (writers[a].unconsumed() > 0) return true;
    return false;
  }
}
