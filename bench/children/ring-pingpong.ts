// Bench child: `ping|pong <iterations> <warmup> <spinUs>`. Ring ab at fds 3, 4 (ping produces),
// ring ba at fds 5, 6 (pong produces). spinUs 0: every wait sleeps on the futex; otherwise the
// receiver busy-polls. ping times the iterations after warmup in blocks of RTT_BLOCK round
// trips; prints {iterations, ns, medianNs (per round trip, median block), checksum}.
import { openRingConsumer, openRingProducer } from "../../shared/ring/regions";
import { foldBenchPayload, writeBenchPayload } from "./ring-payload";
import { medianOf, RTT_BLOCK } from "./ring-timing";

function main(): void {
  const ping = process.argv[2] === "ping";
  const iterations = Number(process.argv[3]);
  const warmup = Number(process.argv[4]);
  const spinUs = Number(process.argv[5]);
  const out = ping ? openRingProducer("ab", 3, 4) : openRingProducer("ba", 5, 6);
  const inbox = ping
    ? openRingConsumer("ba", 5, 6, undefined, { maxBatch: 1 })
    : openRingConsumer("ab", 3, 4, undefined, { maxBatch: 1 });
  const inF64 = inbox.f64;
  const outF64 = out.f64;
  let checksum = 0;
  const onMessage = (off: number): void => {
    checksum = (Math.imul(checksum, 31) + foldBenchPayload(inF64, off >> 3)) | 0;
  };
  const send = (seq: number): void => {
    let off = out.claim();
    while (off < 0) {
      out.waitForCredits(1, spinUs, 1000);
      off = out.claim();
    }
    writeBenchPayload(outF64, off >> 3, seq);
    out.publish();
  };
  const blocks = new Float64Array(Math.ceil(iterations / RTT_BLOCK));
  let nBlocks = 0;
  let t0 = performance.now();
  let blockAt = t0;
  for (let i = 0; i < warmup + iterations; i++) {
    if (i >= warmup && (i - warmup) % RTT_BLOCK === 0) {
      const now = performance.now();
      if (i === warmup) t0 = now;
      else blocks[nBlocks++] = ((now - blockAt) * 1e6) / RTT_BLOCK;
      blockAt = now;
    }
    if (ping) send(i);
    while (inbox.poll(1, onMessage) === 0) {
      if (spinUs === 0) inbox.sleepUntilData(0, 1000);
    }
    if (!ping) send(i);
  }
  const ns = (performance.now() - t0) * 1e6;
  const result = { iterations, ns, medianNs: medianOf(blocks, nBlocks), checksum };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main();
