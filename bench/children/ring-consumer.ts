// Bench child: `consume <count> <batch> <warmup>` from the ring at fds 3 (producer region,
// read-only) and 4 (consumer region, read-write). Times messages warmup .. count; prints
// {msgs, ns, checksum}.
import { openRingConsumer } from "../../shared/ring/regions";
import { BENCH_SPIN_US, foldBenchPayload } from "./ring-payload";

function main(): void {
  const count = Number(process.argv[3]);
  const batch = Number(process.argv[4]);
  const warmup = Number(process.argv[5]);
  const c = openRingConsumer("bench", 3, 4, undefined, { maxBatch: batch });
  const i32 = c.i32;
  let checksum = 0;
  const onMessage = (off: number): void => {
    checksum = (Math.imul(checksum, 31) + foldBenchPayload(i32, off >> 2)) | 0;
  };
  let got = 0;
  let timedFrom = 0;
  let t0 = 0n;
  while (got < count) {
    const n = c.poll(batch, onMessage);
    if (n === 0) {
      c.sleepUntilData(BENCH_SPIN_US, 1000);
      continue;
    }
    got += n;
    if (t0 === 0n && got >= warmup) {
      t0 = process.hrtime.bigint();
      timedFrom = got;
    }
  }
  const ns = Number(process.hrtime.bigint() - t0);
  c.release();
  process.stdout.write(`${JSON.stringify({ msgs: got - timedFrom, ns, checksum })}\n`);
}

main();
