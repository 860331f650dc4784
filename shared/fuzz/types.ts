// The contract between the fuzz engine and its targets, and what a run reports.
import type { FuzzRng } from "./rng";

/**
 * A fuzz target. Only `name` and `runOne` are required, so a decoder becomes a target in one line:
 *   registry.register({ name: "netlink", runOne: fuzzDecode });
 */
export interface FuzzTarget {
  readonly name: string;
  /** Runs one input. Throwing means a bug was found (bad input must be a counted drop instead). */
  runOne(bytes: Uint8Array): void;
  /**
   * A number summarising what the last runOne did (e.g. a bitmask of outcomes). An input giving a
   * value not seen before is kept in the corpus. Without it the corpus holds only the seeds.
   */
  lastSignature?(): number;
  /** Target-aware mutation applied in place after the generic ones (e.g. fix a check word). */
  fixup?(bytes: Uint8Array, rng: FuzzRng): void;
  /** Seed inputs used when the corpus directory is missing or empty. */
  seeds?(): Uint8Array[];
  /** Default corpus directory, relative to the repository root. */
  corpusDir?: string;
  /** Inputs longer than this are cut by the mutator (default 4096). */
  maxInputBytes?: number;
  /** Counters accumulated over the run (e.g. rejects by reason), shown in the report. */
  stats?(): Record<string, number>;
  /** Clears what stats() accumulated (called when a run starts). */
  resetStats?(): void;
  /** Property-based phase over operation sequences (fast-check), run alongside the byte phase. */
  sequence?: SequenceFuzz;
}

export interface SequenceFailure {
  message: string;
  /** fast-check's seed and path: `fc.check(prop, { seed, path })` replays the shrunk case. */
  seed: number;
  path: string;
  /** The shrunk counterexample, as plain JSON data that `replay` accepts. */
  counterexample: unknown;
}

export interface SequenceFuzz {
  /** Runs `numRuns` generated sequences from `seed`; returns the shrunk failure, or null. */
  check(seed: number, numRuns: number): SequenceFailure | null;
  /** Re-runs a saved counterexample; returns the failure message, or null when it passes. */
  replay(counterexample: unknown): string | null;
  /** Steps (operations) executed so far, for the report. */
  steps(): number;
}

export interface RunFuzzOptions {
  /** The target (the CLI looks names up in its registry; tests pass planted-bug variants). */
  target: FuzzTarget;
  /** Time budget (default 10). */
  seconds?: number;
  /** PRNG seed (default random; always printed). */
  seed?: number;
  /**
   * Where seeds are read from and new interesting inputs are written to. Default: the target's
   * corpusDir, read only. "" means no directory: start from the target's built-in seeds.
   */
  corpusDir?: string;
  /** Re-runs one saved input (.bin) or sequence counterexample (.json) instead of fuzzing. */
  replayFile?: string;
  /** Where failing inputs are written (default .fuzz-failures under the current directory). */
  failureDir?: string;
  /** How the replay command is spelled in the report (default "tilenet fuzz"). */
  command?: string;
  /** Stop after this many byte-phase executions (for deterministic tests). */
  maxExecs?: number;
  /** Also keep inputs that reach new V8 code blocks (node:inspector block coverage; slower). */
  coverage?: boolean;
}

export interface FuzzFailure {
  kind: "bytes" | "sequence";
  message: string;
  /** Saved input: .bin (bytes) or .json (sequence counterexample with seed and path). */
  file: string;
  replayCommand: string;
}

export interface FuzzReport {
  target: string;
  /** PRNG seed of the run (for a replay: parsed from the file, or null). */
  seed: number | null;
  mode: "fuzz" | "replay";
  /** Wall time spent, seconds. */
  seconds: number;
  /** Byte-phase executions (one input each) and their rate. */
  execs: number;
  execsPerS: number;
  /** Sequence-phase runs (generated scenarios) and operations executed. */
  sequenceRuns: number;
  sequenceSteps: number;
  corpusSize: number;
  /** Inputs added to the corpus during this run (written to corpusDir when given). */
  corpusAdded: number;
  /** Feedback used to keep inputs: the target's signature, V8 block coverage, both, or none. */
  feedback: "signature" | "v8-coverage" | "v8-coverage+signature" | "none";
  /** With coverage: distinct (code block, hit-count bucket) pairs reached. */
  coverageFeatures?: number;
  /** Byte failures: size of the failing input before and after minimization. */
  failingInputBytes?: { original: number; minimized: number };
  stats: Record<string, number>;
  failed: boolean;
  failure?: FuzzFailure;
}
