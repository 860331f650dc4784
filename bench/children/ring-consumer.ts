// Bench child: `consume <batch> <warmupMs>` from the ring at fds 3 (producer region, read-only)
// and 4 (consumer region, read-write) until the producer's total (control region at fd 5) is
// reached. Skips warmupMs, then times the rest in WINDOW_MS windows; prints
// {msgs, ns, medianRate, total, checksum}.
import { native } from "../../shared/native";
import { openRingConsumer } from "../../shared/ring/regions";
import { BENCH_SPIN_US, foldBenchPayload } from "./ring-payload";
import { CONTROL_DONE, CONTROL_TOTAL, medianOf, WINDOW_MS } from "./ring-timing";

function main(): void {
  const batch = Number(process.argv[3]);
  const warmupMs = Number(process.argv[4]);
  const c = openRingConsumer("bench", 3, 4, undefined, { maxBatch: batch });
  const control = native().mapFd(5, 0, false);
  const done = new Int32Array(control);
  const total = new Float64Array(control);
  const f64 = c.f64;
  let checksum = 0;
  const onMessage = (off: number): void => {
    checksum = (Math.imul(checksum, 31) + foldBenchPayload(f64, off >> 3)) | 0;
  };
  const rates = new Float64Array(4096);
  let windows = 0;
  let got = 0;
  let nextClock = 0;
  let started = -1;
  let timedFrom = 0;
  let t0 = 0;
  let mark = 0;
  let markAt = 0;
  let last = 0;
  let lastGot = 0;
  for (;;) {
    const n = c.poll(batch, onMessage);
    if (n === 0) {
      if (Atomics.load(done, CONTROL_DONE >> 2) === 1 && got === total[CONTROL_TOTAL >> 3]) break;
      c.sleepUntilData(BENCH_SPIN_US, 100);
      continue;
    }
    got += n;
    if (got < nextClock) continue;
    // The clock is read once per 1024 messages at most.
    nextClock = got + 1024;
    const now = performance.now();
    if (started < 0) started = now;
    if (t0 === 0) {
      if (now - started >= warmupMs) {
        t0 = markAt = now;
        timedFrom = mark = got;
      }
    } else if (now - markAt >= WINDOW_MS) {
      if (windows < rates.length) rates[windows++] = ((got - mark) / (now - markAt)) * 1e3;
      mark = got;
      markAt = now;
    }
    last = now;
    lastGot = got;
  }
  c.release();
  const result = {
    msgs: lastGot - timedFrom,
    ns: (last - t0) * 1e6,
    medianRate: medianOf(rates, windows),
    total: got,
    checksum,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
