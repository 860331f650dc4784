// Bench child: `inproc <batch> <count>`: producer and consumer of the ring at fds 3, 4 (both
// read-write) in one thread, count messages five times; prints the best CPU ns per message. The
// CPU cost of the work per message, which a loaded machine does not distort the way it distorts
// two processes waiting on each other. Same loop in bench/c/ring_bench.c.
import { native } from "../../shared/native";
import { RingConsumer } from "../../shared/ring/consumer";
import { RingProducer } from "../../shared/ring/producer";
import { foldBenchPayload, writeBenchPayload } from "./ring-payload";

function main(): void {
  const batch = Number(process.argv[3]);
  const count = Number(process.argv[4]);
  const addon = native();
  const producerBuf = addon.mapFd(3, 0, true);
  const consumerBuf = addon.mapFd(4, 0, true);
  const p = new RingProducer("bench", producerBuf, consumerBuf);
  const c = new RingConsumer("bench", producerBuf, consumerBuf, undefined, { maxBatch: batch });
  const out = p.f64;
  const inp = c.f64;
  let checksum = 0;
  const onMessage = (off: number): void => {
    checksum = (Math.imul(checksum, 31) + foldBenchPayload(inp, off >> 3)) | 0;
  };
  let seq = 0;
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 5; run++) {
    const t = process.cpuUsage();
    for (let sent = 0; sent < count; ) {
      const n = p.claimBatch(batch);
      for (let i = 0; i < n; i++) writeBenchPayload(out, p.slotOffset(i) >> 3, seq + i);
      p.publish();
      c.poll(batch, onMessage);
      sent += n;
      seq += n;
    }
    const used = process.cpuUsage(t);
    best = Math.min(best, ((used.user + used.system) * 1000) / count);
  }
  process.stdout.write(`${JSON.stringify({ cpuNsPerMsg: best, total: seq, checksum })}\n`);
}

main();
