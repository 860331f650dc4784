// CLOCK_MONOTONIC in nanoseconds as a plain number. process.hrtime() reads the vDSO clock (no
// syscall, allowed under any seccomp policy) and is the same clock in every process on the host,
// so heartbeats written by a tile can be aged by another process. A number rather than hrtime.bigint()
// keeps callers free of BigInt allocation.
export function monotonicNs(): number {
  const t = process.hrtime();
  return t[0] * 1e9 + t[1];
}
