// Bench child: `produce <count> <batch>` into the ring at fds 3 (producer region, read-write)
// and 4 (consumer region, read-only). batch 1 claims and publishes one message at a time.
import { openRingProducer } from "../../shared/ring/regions";
import { BENCH_SPIN_US, writeBenchPayload } from "./ring-payload";

function main(): void {
  const count = Number(process.argv[3]);
  const batch = Number(process.argv[4]);
  const p = openRingProducer("bench", 3, 4);
  const f64 = p.f64;
  let sent = 0;
  if (batch === 1) {
    while (sent < count) {
      const off = p.claim();
      if (off < 0) {
        p.waitForCredits(1, BENCH_SPIN_US, 1000);
        continue;
      }
      writeBenchPayload(f64, off >> 3, sent);
      p.publish();
      sent++;
    }
  } else {
    while (sent < count) {
      const n = p.claimBatch(Math.min(batch, count - sent));
      if (n === 0) {
        p.waitForCredits(1, BENCH_SPIN_US, 1000);
        continue;
      }
      for (let i = 0; i < n; i++) writeBenchPayload(f64, p.slotOffset(i) >> 3, sent + i);
      p.publish();
      sent += n;
    }
  }
  process.stdout.write(`${JSON.stringify({ published: p.published, backpressureCount: p.backpressureCount })}\n`);
}

main();
