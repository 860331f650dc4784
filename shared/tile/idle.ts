// Idle strategies a tile can be configured with ([tiles] idle, or per tile), and CPU pinning.
//  - "adaptive" (default): after work, poll for a short spin budget, then sleep until an input
//    wakes the tile (futex or poll(2); never a fixed-interval timer). Costs almost no CPU while
//    idle; a datagram that finds the tile asleep pays one wake-up (a few to tens of µs). The tile
//    asks for a short scheduler slice (ADAPTIVE_SLICE_US), so that on a busy core its wake-up
//    preempts whatever runs there rather than waiting out that task's slice (milliseconds).
//  - "spin": never sleep; poll continuously. One core per tile at 100% even while idle, no
//    wake-up on the path. Meant for hosts with cores to dedicate, with `cpu` pinning the tile.
import { native } from "../native";

export const IDLE_MODES = ["adaptive", "spin"] as const;
export type IdleMode = (typeof IDLE_MODES)[number];

export function isIdleMode(v: unknown): v is IdleMode {
  return typeof v === "string" && (IDLE_MODES as readonly string[]).includes(v);
}

/** Where and how a tile idles (part of each data-plane tile's config). */
export interface TilePlacement {
  /** Default "adaptive". */
  idle?: IdleMode;
  /** Pin every thread of the tile to this CPU (sched_setaffinity, before the sandbox). */
  cpu?: number;
}

/** The slice an adaptive tile's main thread asks for (EEVDF's minimum is 100 µs; the default
 *  base slice is 3 ms). A spinning tile keeps the default: it should not be preempted sooner. */
export const ADAPTIVE_SLICE_US = 100;

/** Applies `cpu` (before the sandbox: it lists /proc/self/task) and, in adaptive mode, the short
 *  slice (on the calling thread, the one that runs the loop). */
export function applyPlacement(p: TilePlacement): { pinned: number; sliceRc: number } {
  const addon = native();
  const sliceRc = (p.idle ?? "adaptive") === "adaptive" ? addon.setSchedSlice(ADAPTIVE_SLICE_US) : 0;
  return { pinned: p.cpu === undefined ? 0 : addon.pinThreads(p.cpu), sliceRc };
}
