// `npm run bench -- solicit`: the solicit handler's message rate and the fuzz harness's throughput.

import { runFuzz } from "../shared/fuzz/engine";
import { encodeSolicit, SOLICIT_BYTES } from "../shared/solicit/message";
import { createSolicitFuzzTarget } from "../tiles/netlink/fuzz/solicit-target";
import { SolicitHandler, solicitConfig } from "../tiles/netlink/solicit-handler";

/** A netbase-like environment: monomorphic methods over int32 address bits, no allocation. */
class FlatEnv {
  isLocalAddress(ip: number): boolean {
    return ip === (0xc6120001 | 0);
  }
  isSubnetBroadcast(_ifindex: number, ip: number): boolean {
    return (ip & 0xffff) === 0xffff;
  }
  onLink(ifindex: number, ip: number): boolean {
    return ifindex === 2 && ip >>> 16 === 0xc612;
  }
  neighborState(): number {
    return 0;
  }
}

/** Messages per second through SolicitHandler.handle (mostly the dedupe path), medians of 5. */
function handlerRate(): number {
  const handler = new SolicitHandler({
    config: solicitConfig({ netIfindexes: [2], ratePerS: 1e6, burst: 1e6 }),
    env: new FlatEnv(),
    probe: () => 0,
    hashSeed: 1,
  });
  const ring = new Int32Array((SOLICIT_BYTES / 4) * 1024);
  for (let i = 0; i < 1024; i++) encodeSolicit(ring, i * SOLICIT_BYTES, 0xc6120002 + ((i * 37) % 60000), 2);
  const run = (n: number, base: number): void => {
    for (let i = 0; i < n; i++) handler.handle(ring, (i & 1023) * SOLICIT_BYTES, base + (i >> 10));
  };
  run(1_000_000, 0);
  const rates: number[] = [];
  for (let round = 1; round <= 5; round++) {
    const n = 1_000_000;
    const t0 = performance.now();
    run(n, round * 100_000);
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  return Math.round(rates[2]);
}

/**
 * Runs the solicit fuzz target for `seconds` (default 5) with a fixed seed, writing nothing.
 * fuzz_execs_per_s: byte inputs (each a fresh handler, up to 64 messages, every check on) per
 * second of byte-phase time; fuzz_sequence_steps_per_s: generated operations per second overall.
 */
export async function solicitFuzzFigures(seconds = 5): Promise<Record<string, number>> {
  const target = createSolicitFuzzTarget();
  const report = await runFuzz({ target, seconds, seed: 1, corpusDir: "", failureDir: "/tmp/tilenet-fuzz-bench" });
  if (report.failed) throw new Error(`solicit fuzz found a failure during the benchmark: ${report.failure?.message}`);
  return {
    fuzz_execs_per_s: report.execsPerS,
    fuzz_execs: report.execs,
    fuzz_sequence_runs: report.sequenceRuns,
    fuzz_sequence_steps_per_s: Math.round(report.sequenceSteps / report.seconds),
    fuzz_corpus_size: report.corpusSize,
    solicit_handle_msgs_per_s: handlerRate(),
  };
}
