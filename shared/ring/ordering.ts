// Memory ordering of the ring protocol, and the few helpers both sides share.
//
// Target: x86-64 (TSO). The hardware keeps stores in program order and loads in program order;
// the one reordering it does is a later load passing an earlier store (the store buffer).
// V8's optimizing compiler (Node 20: TurboFan) keeps typed-array loads and stores on its effect
// chain, in program order, and does not eliminate or hoist typed-array element loads. An
// Atomics call (a builtin call in Node 20: ~15-20 ns here, xchg for stores, mov for loads) is a
// full compiler barrier and, for stores, a full hardware fence. So the protocol uses Atomics only
// where a fence or a barrier is needed, never per message on the consumer side:
//   * publication: the producer writes the payload, then the slot's seq (plain stores), then
//     Atomics.store(`published`) once per publish() (the fence the sleep handshake needs). A
//     consumer that reads seq == n (plain load) then reads message n complete: stores become
//     visible in order and its loads are not reordered. It may so run ahead of `published` by
//     up to one batch, which every comparison with `published` allows for.
//   * empty polls read the slot's seq only; one in 64 also does an Atomics load, so even a
//     compiler that did hoist loads could not freeze a spin loop (the loop body contains a call).
//   * seqlock (unreliable rings): the producer writes the slot's "in progress" seq, then the
//     payload, then the final seq (plain stores, kept in order as above). The consumer copies a
//     slot whose seq read n, then does an Atomics load (a barrier: the re-read below must not
//     reuse the first read of the same word), then re-reads the seq: still n means no rewrite
//     had begun when the last payload byte was read (the marker precedes the payload in store
//     order), so the copy is message n, whole.
//   * sleeping (Dekker): the sleeper stores the value it waits on (expect), then its flag with
//     Atomics.store (xchg: visible before its next load), then re-reads the word; the other side
//     stores the word with Atomics.store, then reads the flag. In the total order of the two
//     xchg-fenced stores, at least one side sees the other's: either the sleeper sees the new
//     word and does not sleep, or the waker sees the flag and calls FUTEX_WAKE. A FUTEX_WAIT that
//     starts after the word changed returns at once (the kernel compares under its bucket lock).
//     The waker needs one wake per `expect` value: a sleeper that read the value just stored is
//     waiting for the next one, and any FUTEX_WAIT on an older value fails once the word moved.
//     Hence no lost wake-up, and no syscall while nobody sleeps. The same handshake serves a
//     consumer sleeping on `published` and a producer sleeping on `consumed` (full ring).
//   * credits: the consumer stores its position once per releaseEvery messages, and early only
//     when the producer's WAITING word says it waits (read with a plain load on empty polls: a
//     stale read only delays the release to a later poll, or to the release before sleeping).
// A plain load right after an Atomics call is fresh (the call is a compiler barrier; xchg drains
// the store buffer), which is how each side reads the other side's sleeping flag.
// On weakly ordered CPUs (arm64) the seqlock and the seq-based publication would need fences
// that JS does not expose.

/** Monotonic milliseconds (fractional; performance.now allocates nothing). */
export function nowMs(): number {
  return performance.now();
}

/** Spin iterations between clock reads in spin-then-sleep loops. */
export const SPIN_CLOCK_EVERY = 64;
