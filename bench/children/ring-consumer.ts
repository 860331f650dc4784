// Bench child: `consume <count> <batch> <warmup>` from the ring at fds 3 (producer region,
// read-only) and 4 (consumer region, read-write). Times messages warmup .. count in
// TIMING_WINDOWS windows; prints {msgs, ns, medianRate, checksum}.
import { openRingConsumer } from "../../shared/ring/regions";
import { BENCH_SPIN_US, foldBenchPayload } from "./ring-payload";
import { medianOf, TIMING_WINDOWS } from "./ring-timing";

function main(): void {
  const count = Number(process.argv[3]);
  const batch = Number(process.argv[4]);
  const warmup = Number(process.argv[5]);
  const c = openRingConsumer("bench", 3, 4, undefined, { maxBatch: batch });
  const f64 = c.f64;
  let checksum = 0;
  const onMessage = (off: number): void => {
    checksum = (Math.imul(checksum, 31) + foldBenchPayload(f64, off >> 3)) | 0;
  };
  const window = Math.max(1, Math.floor((count - warmup) / TIMING_WINDOWS));
  const rates = new Float64Array(TIMING_WINDOWS + 1);
  let windows = 0;
  let got = 0;
  let timedFrom = -1;
  let t0 = 0;
  let mark = 0;
  let markAt = 0;
  while (got < count) {
    const n = c.poll(batch, onMessage);
    if (n === 0) {
      c.sleepUntilData(BENCH_SPIN_US, 1000);
      continue;
    }
    got += n;
    if (timedFrom < 0) {
      if (got >= warmup) {
        t0 = performance.now();
        timedFrom = got;
        mark = got;
        markAt = t0;
      }
    } else if (got - mark >= window) {
      const now = performance.now();
      if (windows < rates.length) rates[windows++] = ((got - mark) / (now - markAt)) * 1e3;
      mark = got;
      markAt = now;
    }
  }
  const ns = (performance.now() - t0) * 1e6;
  c.release();
  const result = { msgs: got - timedFrom, ns, medianRate: medianOf(rates, windows), checksum };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
