// Bench child: `ping|pong <iterations> <warmup> <spinUs>`. Ring ab at fds 3, 4 (ping produces),
// ring ba at fds 5, 6 (pong produces). spinUs 0: every wait sleeps on the futex; otherwise the
// receiver busy-polls. ping times iterations after warmup; prints {iterations, ns, checksum}.
import { openRingConsumer, openRingProducer } from "../../shared/ring/regions";
import { foldBenchPayload, writeBenchPayload } from "./ring-payload";

function main(): void {
  const ping = process.argv[2] === "ping";
  const iterations = Number(process.argv[3]);
  const warmup = Number(process.argv[4]);
  const spinUs = Number(process.argv[5]);
  const out = ping ? openRingProducer("ab", 3, 4) : openRingProducer("ba", 5, 6);
  const inbox = ping
    ? openRingConsumer("ba", 5, 6, undefined, { maxBatch: 1 })
    : openRingConsumer("ab", 3, 4, undefined, { maxBatch: 1 });
  const inI32 = inbox.i32;
  const outI32 = out.i32;
  let checksum = 0;
  const onMessage = (off: number): void => {
    checksum = (Math.imul(checksum, 31) + foldBenchPayload(inI32, off >> 2)) | 0;
  };
  const send = (seq: number): void => {
    let off = out.claim();
    while (off < 0) {
      out.waitForCredits(1, spinUs, 1000);
      off = out.claim();
    }
    writeBenchPayload(outI32, off >> 2, seq);
    out.publish();
  };
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < warmup + iterations; i++) {
    if (i === warmup) t0 = process.hrtime.bigint();
    if (ping) send(i);
    while (inbox.poll(1, onMessage) === 0) {
      if (spinUs === 0) inbox.sleepUntilData(0, 1000);
    }
    if (!ping) send(i);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  process.stdout.write(`${JSON.stringify({ iterations, ns, checksum })}\n`);
}

main();
