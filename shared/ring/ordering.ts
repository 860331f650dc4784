// Memory ordering of the ring protocol, and the few helpers both sides share.
//
// Target: x86-64 (TSO). The hardware keeps stores in program order and loads in program order;
// the one reordering it does is a later load passing an earlier store (the store buffer). V8's
// optimizing compiler keeps typed-array loads and stores on its effect chain, in program order,
// but may reuse the value of an earlier load of the same element when nothing in between can
// write memory (load elimination), which would freeze a spin loop or a seqlock re-check.
// An Atomics call (a builtin call in Node 20, compiled to xchg for stores and mov for loads) is
// both a full compiler barrier and, for stores, a full hardware fence. It costs ~20 ns here, so
// the protocol uses exactly one or two of them per batch, never per message:
//   * publication: payload and per-slot seq stores (plain) happen before the producer's
//     Atomics.store of `published`, so a consumer whose Atomics.load sees `published` > n also
//     sees message n complete (stores are not reordered, loads are not reordered);
//   * seqlock (unreliable rings): the producer writes the slot's "in progress" seq, then
//     Atomics.store(`claimed`) (barrier), then the payload, then the final seq. The consumer
//     copies the payload only for n < `published` (so the slot held n when the copy began), then
//     an Atomics.load (barrier), then re-reads seq: still n means no rewrite had started when
//     the last payload byte was read (the marker precedes the payload in store order);
//   * sleeping (Dekker): each side stores its own word with Atomics.store (xchg, so the store is
//     globally visible before the next load) and then loads the other side's word. The producer
//     does store(published); load(consumer sleeping); the consumer does store(sleeping);
//     load(published). In the single total order of these xchg-fenced operations at least one
//     side sees the other's store: either the consumer sees the new `published` and does not
//     sleep, or the producer sees the sleeping ticket and calls FUTEX_WAKE. If the consumer does
//     call FUTEX_WAIT with the old value, the kernel compares the word under its hash-bucket
//     lock: a store that already happened makes the wait return at once (EAGAIN), a later wake
//     finds the waiter queued. Hence no lost wake-up, and no syscall while nobody sleeps.
//     The same argument covers a producer sleeping on a full reliable ring (store(sleeping);
//     load(consumed)) and the consumer returning credits (store(consumed); load(sleeping)).
// A plain load right after an Atomics call is fresh (the call is a compiler barrier; xchg drains
// the store buffer), which is how the "other side sleeping" words are read.
// On weakly ordered CPUs (arm64) the seqlock would need fences that JS does not expose.

/** Monotonic milliseconds (fractional; performance.now allocates nothing). */
export function nowMs(): number {
  return performance.now();
}

/** A sleep ticket: nonzero, different for each sleep episode of a region's lifetime. */
export function sleepTicket(sleepCount: number): number {
  return (sleepCount % 0x7fffffff) + 1;
}

/** Spin iterations between clock reads in spin-then-sleep loops. */
export const SPIN_CLOCK_EVERY = 64;
