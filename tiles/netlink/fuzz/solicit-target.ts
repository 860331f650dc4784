// The `solicit` fuzz target: (a) arbitrary byte strings, cut into 32-byte messages (either family), through the
// decoder and the handler in a fixed model world (solicit-bytes.ts); (b) fast-check generated
// worlds and operation sequences (solicit-scenario.ts). Both run under SolicitCheckedRun, which
// checks the handler against a reference model and its invariants after every step. Here: the
// corpus feedback signature and the target as the fuzz engine takes it.
import type { FuzzTarget } from "../../../shared/fuzz/types";
import { SOLICIT_BYTES } from "../../../shared/solicit/message";
import { FIRST_REJECTED_OUTCOME, SolicitOutcome, type SolicitOutcomeName } from "../solicit-handler";
import { fixupSolicitBytes, runSolicitBytes, SOLICIT_BYTE_WORLD, solicitCorpusCases } from "./solicit-bytes";
import { solicitSequenceFuzz } from "./solicit-scenario";
import {
  type SolicitCheckedRun,
  SolicitEnvironmentModel,
  SolicitOutcomeTotals,
  type SolicitPlantedFaults,
} from "./solicit-world";

const DECODE_REJECTS = outcomeBits(
  "rejected_truncated",
  "rejected_misaligned",
  "rejected_bad_check",
  "rejected_reserved_nonzero",
  "rejected_bad_version",
  "rejected_bad_family",
  "rejected_padding_nonzero",
);
const ADDRESS_REJECTS = outcomeBits(
  "rejected_zero_address",
  "rejected_this_network",
  "rejected_loopback",
  "rejected_multicast",
  "rejected_limited_broadcast",
  "rejected_reserved_address",
  "rejected_unspecified6",
  "rejected_loopback6",
  "rejected_multicast6",
  "rejected_v4_mapped6",
);
const TOPOLOGY_REJECTS = outcomeBits(
  "rejected_unknown_ifindex",
  "rejected_local_address",
  "rejected_subnet_broadcast",
  "rejected_not_on_link",
  "rejected_link_local_no_interface6",
  "rejected_local_address6",
  "rejected_not_on_link6",
);
const STATE_MACHINE_OUTCOMES = (1 << FIRST_REJECTED_OUTCOME) - 1;

function outcomeBits(...names: SolicitOutcomeName[]): number {
  return names.reduce((bits, n) => bits | (1 << SolicitOutcome[n]), 0);
}

/** Small counts kept apart, larger ones lumped: 0, 1, 2, 3, 4-5, 6+. */
function countBucket(n: number): number {
  return n < 4 ? n : n < 6 ? 4 : 5;
}

/**
 * Corpus feedback: which state-machine outcomes an input reached, which kinds of rejection
 * (malformed, address class, topology), and how far it pushed the limits (probes sent, table
 * occupancy, in AFL-style count buckets) so inputs that approach a limit are kept as stepping
 * stones. Exact reject reasons would multiply the combinations (2^21) without exercising new
 * state (2^31 with IPv6); every reason is still counted in the report.
 */
export function solicitSignature(run: Pick<SolicitCheckedRun, "outcomeMask" | "probeIndex" | "maxTracked">): number {
  const mask = run.outcomeMask;
  let sig = mask & STATE_MACHINE_OUTCOMES;
  if (mask & DECODE_REJECTS) sig |= 1 << 7;
  if (mask & ADDRESS_REJECTS) sig |= 1 << 8;
  if (mask & TOPOLOGY_REJECTS) sig |= 1 << 9;
  return sig | (countBucket(run.probeIndex) << 10) | (countBucket(run.maxTracked) << 13);
}

export interface SolicitFuzzTargetOptions {
  /** Test-only: fuzz a handler with a planted bug, to prove the harness catches it. */
  plantedFaults?: SolicitPlantedFaults;
  /** Registered name (default "solicit"). */
  name?: string;
}

export function createSolicitFuzzTarget(options: SolicitFuzzTargetOptions = {}): FuzzTarget & {
  resetStats(): void;
} {
  const faults = options.plantedFaults ?? {};
  let totals = new SolicitOutcomeTotals();
  const env = new SolicitEnvironmentModel(SOLICIT_BYTE_WORLD);
  let lastSignature = 0;
  return {
    name: options.name ?? "solicit",
    corpusDir: "test/fuzz/corpus/solicit",
    maxInputBytes: 64 * SOLICIT_BYTES,
    runOne(bytes: Uint8Array): void {
      lastSignature = 0;
      lastSignature = solicitSignature(runSolicitBytes(bytes, faults, totals, env));
    },
    lastSignature: () => lastSignature,
    fixup: fixupSolicitBytes,
    seeds: () => solicitCorpusCases().map((c) => c.bytes),
    stats: () => totals.toRecord(),
    resetStats(): void {
      totals = new SolicitOutcomeTotals();
    },
    sequence: solicitSequenceFuzz(faults, () => totals),
  };
}
