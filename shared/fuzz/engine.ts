// The fuzz engine behind `tilenet fuzz <target>` and `npm run fuzz`: a seeded mutation fuzzer with
// a corpus (inputs whose target signature is new are kept), interleaved with the target's
// fast-check sequence phase when it has one. A failure is saved to a file with the exact command
// that replays it, and the report says failed so the CLI can exit non-zero.
//
// Feedback: by default the target's own signature (for solicit: which outcomes an input reached).
// Coverage guidance: jazzer.js does not load on this machine (its native part needs glibc 2.38,
// the machine has 2.36); `coverage: true` (--coverage) uses V8 block coverage instead, at a cost
// (v8-coverage.ts).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FuzzTargetRegistry } from "./registry";
import { FuzzRng, randomSeed } from "./rng";
import type { FuzzFailure, FuzzReport, FuzzTarget, RunFuzzOptions } from "./types";
import { V8CoverageFeedback } from "./v8-coverage";

const DEFAULT_SECONDS = 10;
const DEFAULT_MAX_INPUT = 4096;
/** Time slices alternating between the byte and sequence phases. */
const SLICE_MS = 250;
/** Sequences per fast-check call: small, so a slice overruns by little. */
const SEQUENCE_BATCH = 10;

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x0000ffff, 0xffff0000];

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function replayCommand(options: RunFuzzOptions, target: FuzzTarget, file: string): string {
  return `${options.command ?? "tilenet fuzz"} ${target.name} --replay ${file}`;
}

function loadCorpus(dir: string | undefined): Uint8Array[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => new Uint8Array(readFileSync(path)));
}

/** Generic byte mutations, stacked 1 to 4 deep; the target's fixup then makes some well-formed. */
export function mutateInput(
  parent: Uint8Array,
  rng: FuzzRng,
  corpus: readonly Uint8Array[],
  maxBytes: number,
): Uint8Array {
  let b: Uint8Array = Uint8Array.from(parent);
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const choice = b.length === 0 ? 4 : rng.below(10);
    const at = rng.below(Math.max(1, b.length));
    switch (choice) {
      case 0:
        b[at] ^= 1 << rng.below(8);
        break;
      case 1:
        b[at] = rng.below(256);
        break;
      case 2:
        b[at] = rng.pick(INTERESTING_BYTES);
        break;
      case 3: {
        if (b.length < 4) break;
        const off = rng.oneIn(2) ? rng.below(b.length >>> 2) * 4 : rng.below(b.length - 3);
        new DataView(b.buffer).setUint32(off, rng.pick(INTERESTING_U32), true);
        break;
      }
      case 4: {
        const insert = new Uint8Array(1 + rng.below(16));
        for (let i = 0; i < insert.length; i++) insert[i] = rng.below(256);
        const pos = rng.below(b.length + 1);
        b = concat(b.subarray(0, pos), insert, b.subarray(pos));
        break;
      }
      case 5: {
        const len = 1 + rng.below(Math.min(16, b.length));
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + len)));
        break;
      }
      case 6: {
        // Repeat a 16-byte-aligned block: fixed-width formats love repeated records.
        const off = rng.below(Math.max(1, b.length >>> 4)) * 16;
        const block = b.slice(off, off + 16);
        const pos = rng.oneIn(2) ? b.length : rng.below((b.length >>> 4) + 1) * 16;
        b = concat(b.subarray(0, pos), block, b.subarray(pos));
        break;
      }
      case 7: {
        const other = corpus.length > 0 ? rng.pick(corpus) : b;
        b = concat(b.subarray(0, at), other.subarray(rng.below(other.length + 1)));
        break;
      }
      case 8:
        b = b.slice(0, rng.below(b.length + 1));
        break;
      default:
        b[at] = (b[at] + (rng.oneIn(2) ? 1 : 255) * (1 + rng.below(4))) & 255;
        break;
    }
  }
  return b.length > maxBytes ? b.slice(0, maxBytes) : b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function saveFile(dir: string, name: string, data: Uint8Array | string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, data);
  return file;
}

function feedbackOf(target: FuzzTarget, coverage: boolean): FuzzReport["feedback"] {
  if (coverage) return target.lastSignature ? "v8-coverage+signature" : "v8-coverage";
  return target.lastSignature ? "signature" : "none";
}

function emptyReport(target: FuzzTarget, seed: number | null, mode: FuzzReport["mode"], coverage: boolean): FuzzReport {
  return {
    target: target.name,
    seed,
    mode,
    seconds: 0,
    execs: 0,
    execsPerS: 0,
    sequenceRuns: 0,
    sequenceSteps: 0,
    corpusSize: 0,
    corpusAdded: 0,
    feedback: feedbackOf(target, coverage),
    stats: {},
    failed: false,
  };
}

/** Re-runs a saved failing input (.bin) or sequence counterexample (.json). */
function replay(options: RunFuzzOptions, target: FuzzTarget, file: string): FuzzReport {
  const started = performance.now();
  const fromName = /-(\d+)-[^/]*$/.exec(file);
  const report = emptyReport(target, fromName ? Number(fromName[1]) : null, "replay", false);
  let message: string | null = null;
  let kind: FuzzFailure["kind"] = "bytes";
  if (file.endsWith(".json")) {
    kind = "sequence";
    const saved: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (typeof saved !== "object" || saved === null || !("counterexample" in saved)) {
      throw new Error(`${file}: not a saved sequence counterexample`);
    }
    if (!target.sequence) throw new Error(`fuzz target ${target.name} has no sequence phase to replay ${file}`);
    if ("seed" in saved && typeof saved.seed === "number") report.seed = saved.seed;
    message = target.sequence.replay(saved.counterexample);
    report.sequenceRuns = 1;
    report.sequenceSteps = target.sequence.steps();
  } else {
    const input = new Uint8Array(readFileSync(file)); // a missing file is an error, not a finding
    try {
      target.runOne(input);
    } catch (err) {
      message = errorText(err);
    }
    report.execs = 1;
  }
  report.seconds = (performance.now() - started) / 1000;
  report.stats = target.stats?.() ?? {};
  if (message !== null) {
    report.failed = true;
    report.failure = { kind, message, file, replayCommand: replayCommand(options, target, file) };
  }
  return report;
}

/**
 * Shrinks a failing byte input by cutting chunks (64, 16, 4, then 1 bytes) while it still fails;
 * bounded in attempts. Returns the smallest failing input found and its failure message.
 */
export function minimizeFailingInput(
  target: FuzzTarget,
  input: Uint8Array,
  maxAttempts = 2000,
): { input: Uint8Array; message: string | null } {
  const failure = (candidate: Uint8Array): string | null => {
    try {
      target.runOne(candidate);
      return null;
    } catch (err) {
      return errorText(err);
    }
  };
  let best = input;
  let message = failure(best);
  if (message === null) return { input, message: null }; // not reproducible alone: keep it whole
  let attempts = 0;
  for (const size of [64, 16, 4, 1]) {
    for (let at = 0; at < best.length && attempts < maxAttempts; ) {
      const candidate = concat(best.subarray(0, at), best.subarray(at + size));
      attempts++;
      const m = failure(candidate);
      if (m !== null) {
        best = candidate;
        message = m;
      } else {
        at += size;
      }
    }
  }
  return { input: best, message };
}

export async function runFuzz(options: RunFuzzOptions): Promise<FuzzReport> {
  const target = options.target;
  target.resetStats?.();
  if (options.replayFile) return replay(options, target, options.replayFile);

  const seed = options.seed ?? randomSeed();
  const rng = new FuzzRng(seed);
  // A stream of its own, so the sequence phase's seeds do not depend on how many byte inputs
  // the time slices happened to fit.
  const sequenceRng = new FuzzRng(seed ^ 0x51c17ed5);
  const seconds = options.seconds ?? DEFAULT_SECONDS;
  const maxBytes = target.maxInputBytes ?? DEFAULT_MAX_INPUT;
  const failureDir = options.failureDir ?? ".fuzz-failures";
  const report = emptyReport(target, seed, "fuzz", options.coverage === true);
  const coverage = options.coverage ? new V8CoverageFeedback() : undefined;
  const started = performance.now();
  const deadline = started + seconds * 1000;

  const corpus = loadCorpus(options.corpusDir ?? target.corpusDir);
  if (corpus.length === 0) corpus.push(...(target.seeds?.() ?? []));
  if (corpus.length === 0) corpus.push(new Uint8Array(0));
  const signatures = new Set<number>();
  let byteMs = 0;

  const execute = (input: Uint8Array): boolean => {
    report.execs++;
    try {
      target.runOne(input);
    } catch (err) {
      coverage?.stop();
      const minimized = minimizeFailingInput(target, input);
      const file = saveFile(failureDir, `${target.name}-${seed}-${report.execs}.bin`, minimized.input);
      report.failed = true;
      report.failingInputBytes = { original: input.length, minimized: minimized.input.length };
      report.failure = {
        kind: "bytes",
        message: minimized.message ?? errorText(err),
        file,
        replayCommand: replayCommand(options, target, file),
      };
      return false;
    }
    return true;
  };
  const keepIfNew = (input: Uint8Array, isSeed: boolean): void => {
    const covered = coverage?.collect() === true;
    const sig = target.lastSignature?.();
    const newSignature = sig !== undefined && !signatures.has(sig);
    if (sig !== undefined) signatures.add(sig);
    if ((!newSignature && !covered) || isSeed) return;
    corpus.push(input);
    report.corpusAdded++;
    if (options.corpusDir) {
      const name = `${createHash("sha1").update(input).digest("hex").slice(0, 16)}.bin`;
      saveFile(options.corpusDir, name, input);
    }
  };

  coverage?.start();
  // Seeds first: a corpus entry that fails is a regression, found before any mutation.
  const seedsStarted = performance.now();
  for (const input of [...corpus]) {
    if (!execute(input)) break;
    keepIfNew(input, true);
  }
  byteMs += performance.now() - seedsStarted;

  let sequenceTurn = false;
  while (!report.failed && performance.now() < deadline) {
    if (options.maxExecs !== undefined && report.execs >= options.maxExecs) break;
    const sliceEnd = Math.min(deadline, performance.now() + SLICE_MS);
    const sequence = sequenceTurn ? target.sequence : undefined;
    sequenceTurn = !sequenceTurn && target.sequence !== undefined;
    if (sequence) {
      while (!report.failed && performance.now() < sliceEnd) {
        const fcSeed = sequenceRng.u32() | 0;
        const failure = sequence.check(fcSeed, SEQUENCE_BATCH);
        report.sequenceRuns += SEQUENCE_BATCH;
        if (failure) {
          const file = saveFile(
            failureDir,
            `${target.name}-${seed}-seq-${report.sequenceRuns}.json`,
            `${JSON.stringify({ target: target.name, kind: "sequence", message: failure.message, seed: failure.seed, path: failure.path, counterexample: failure.counterexample }, null, 1)}\n`,
          );
          report.failed = true;
          report.failure = {
            kind: "sequence",
            message: `${failure.message} [fast-check seed ${failure.seed}, path ${failure.path}]`,
            file,
            replayCommand: replayCommand(options, target, file),
          };
        }
      }
      report.sequenceSteps = sequence.steps();
    } else {
      const sliceStarted = performance.now();
      let n = 0;
      while (!report.failed) {
        if ((++n & 31) === 0 && performance.now() >= sliceEnd) break;
        if (options.maxExecs !== undefined && report.execs >= options.maxExecs) break;
        let child = mutateInput(rng.pick(corpus), rng, corpus, maxBytes);
        if (target.fixup && rng.oneIn(2)) {
          target.fixup(child, rng);
          child = child.length > maxBytes ? child.slice(0, maxBytes) : child;
        }
        if (execute(child)) keepIfNew(child, false);
      }
      byteMs += performance.now() - sliceStarted;
    }
    await yieldToEventLoop();
  }

  if (coverage) {
    report.coverageFeatures = coverage.features;
    coverage.stop();
  }
  report.seconds = (performance.now() - started) / 1000;
  report.execsPerS = byteMs > 0 ? Math.round((report.execs / byteMs) * 1000) : 0;
  report.corpusSize = corpus.length;
  report.stats = target.stats?.() ?? {};
  return report;
}

export function formatFuzzReport(report: FuzzReport): string {
  const lines: string[] = [];
  const verdict = report.failed ? "FAILED" : "passed";
  const seed = report.seed === null ? "" : `, seed ${report.seed}`;
  lines.push(`fuzz ${report.target} (${report.mode}): ${verdict} in ${report.seconds.toFixed(1)} s${seed}`);
  const feedback = {
    signature: "target outcome signatures (no coverage guidance)",
    "v8-coverage": `V8 block coverage (${report.coverageFeatures ?? 0} features)`,
    "v8-coverage+signature": `V8 block coverage (${report.coverageFeatures ?? 0} features) + target signatures`,
    none: "none (corpus = seeds)",
  }[report.feedback];
  lines.push(
    `  execs ${report.execs} (${report.execsPerS}/s), corpus ${report.corpusSize} (+${report.corpusAdded}), feedback: ${feedback}`,
  );
  if (report.sequenceRuns > 0) lines.push(`  sequences ${report.sequenceRuns} runs, ${report.sequenceSteps} steps`);
  const stats = Object.entries(report.stats);
  const rejects = stats.filter(([k]) => k.startsWith("rejected_"));
  const others = stats.filter(([k]) => !k.startsWith("rejected_"));
  if (others.length > 0) lines.push(`  outcomes: ${others.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  if (rejects.length > 0) {
    lines.push(`  rejects by reason: ${rejects.map(([k, v]) => `${k.slice("rejected_".length)} ${v}`).join(", ")}`);
  }
  if (report.failure) {
    lines.push(`  FAILURE (${report.failure.kind}): ${report.failure.message}`);
    const sizes = report.failingInputBytes;
    const shrunk = sizes ? ` (minimized from ${sizes.original} to ${sizes.minimized} bytes)` : "";
    lines.push(`  input saved: ${report.failure.file}${shrunk}`);
    lines.push(`  replay: ${report.failure.replayCommand}`);
  }
  return lines.join("\n");
}

/**
 * Parses `<target> [--seconds N] [--seed S] [--corpus DIR] [--replay FILE] [--coverage]` (for the
 * CLI); the target name is looked up in `targets`.
 */
export function parseFuzzArgs(argv: readonly string[], targets: FuzzTargetRegistry): RunFuzzOptions {
  const [target, ...rest] = argv;
  if (!target || target.startsWith("-")) {
    throw new Error(
      `usage: tilenet fuzz <${targets.names().join("|")}> [--seconds N] [--seed S] [--corpus DIR] [--replay FILE] [--coverage]`,
    );
  }
  const options: RunFuzzOptions = { target: targets.get(target) };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    if (flag === "--coverage") {
      options.coverage = true;
      continue;
    }
    const value = rest[i + 1];
    if (value === undefined) throw new Error(`fuzz: ${flag} needs a value`);
    i++;
    const number = (what: string, min: number): number => {
      const n = Number(value);
      if (!Number.isFinite(n) || n < min) throw new Error(`fuzz: ${flag} must be ${what} (got ${value})`);
      return n;
    };
    if (flag === "--seconds") options.seconds = number("a number of seconds > 0", Number.MIN_VALUE);
    else if (flag === "--seed") {
      const s = number("an integer", 0);
      if (!Number.isInteger(s) || s > 0xffffffff) throw new Error(`fuzz: --seed must be an integer from 0 to 2^32-1`);
      options.seed = s;
    } else if (flag === "--corpus") options.corpusDir = value;
    else if (flag === "--replay") options.replayFile = value;
    else throw new Error(`fuzz: unknown option ${flag}`);
  }
  return options;
}

/** `tilenet fuzz ...`: prints the report, returns the process exit code (1 on failure). */
export async function fuzzMain(
  argv: readonly string[],
  targets: FuzzTargetRegistry,
  write: (text: string) => void = (t) => process.stdout.write(t),
): Promise<number> {
  const report = await runFuzz(parseFuzzArgs(argv, targets));
  write(`${formatFuzzReport(report)}\n`);
  return report.failed ? 1 : 0;
}
