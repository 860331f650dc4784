// Idle strategies a tile can be configured with ([tiles] idle, or per tile), and CPU pinning.
//  - "adaptive" (default): after work, poll for a short spin budget, then sleep until an input
//    wakes the tile (futex or poll(2); never a fixed-interval timer). Costs almost no CPU while
//    idle; a datagram that finds the tile asleep pays one wake-up (a few to tens of µs).
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

/** Applies `cpu` (before the sandbox: it lists /proc/self/task); returns the threads pinned. */
export function applyPlacement(p: TilePlacement): number {
  if (p.cpu === undefined) return 0;
  return native().pinThreads(p.cpu);
}
