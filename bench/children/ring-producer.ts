// Bench child: `produce <batch> <durationMs>` into the ring at fds 3 (producer region,
// read-write) and 4 (consumer region, read-only) for durationMs, then stores the total at fd 5
// (the run's control region: f64 total at byte 8, then i32 done flag at byte 0). batch 1 claims
// and publishes one message at a time. Runs last the same time in Node and C, so both meet the
// same machine noise.
import { native } from "../../shared/native";
import { openRingProducer } from "../../shared/ring/regions";
import { BENCH_SPIN_US, writeBenchPayload } from "./ring-payload";
import { CONTROL_DONE, CONTROL_TOTAL } from "./ring-timing";

function main(): void {
  const batch = Number(process.argv[3]);
  const durationMs = Number(process.argv[4]);
  const p = openRingProducer("bench", 3, 4);
  const control = native().mapFd(5, 0, true);
  const f64 = p.f64;
  const until = performance.now() + durationMs;
  let sent = 0;
  let nextClock = 0;
  for (;;) {
    if (sent >= nextClock) {
      if (performance.now() >= until) break;
      nextClock = sent + 4096;
    }
    if (batch === 1) {
      const off = p.claim();
      if (off < 0) {
        p.waitForCredits(1, BENCH_SPIN_US, 1000);
        continue;
      }
      writeBenchPayload(f64, off >> 3, sent);
      p.publish();
      sent++;
    } else {
      const n = p.claimBatch(batch);
      if (n === 0) {
        p.waitForCredits(1, BENCH_SPIN_US, 1000);
        continue;
      }
      for (let i = 0; i < n; i++) writeBenchPayload(f64, p.slotOffset(i) >> 3, sent + i);
      p.publish();
      sent += n;
    }
  }
  new Float64Array(control)[CONTROL_TOTAL >> 3] = sent;
  Atomics.store(new Int32Array(control), CONTROL_DONE >> 2, 1);
  process.stdout.write(`${JSON.stringify({ published: p.published, backpressureCount: p.backpressureCount })}\n`);
}

main();
