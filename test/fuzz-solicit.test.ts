// Bounded fuzz runs of the solicit target: the real handler survives, and a planted copy of
// Firedancer's PR 11211 leak is caught by each phase, saved, and reproduced from the saved file.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatFuzzReport, runFuzz } from "../shared/fuzz/engine";
import type { FuzzTarget } from "../shared/fuzz/types";
import { SOLICIT_BYTES } from "../shared/solicit/message";
import { solicitCorpusCases } from "../tiles/netlink/fuzz/solicit-bytes";
import { createSolicitFuzzTarget } from "../tiles/netlink/fuzz/solicit-target";
import { SOLICIT_OUTCOME_NAMES, solicitCounterName } from "../tiles/netlink/solicit-handler";

const work = mkdtempSync(join(tmpdir(), "tilenet-fuzz-solicit-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function leaky(): FuzzTarget {
  return createSolicitFuzzTarget({ name: "solicit-leaky", plantedFaults: { leakRefusedEntries: true } });
}

describe("solicit fuzzing", () => {
  it("runs both phases on the real handler for 3 s without a failure, reaching every outcome", async () => {
    const report = await runFuzz({
      target: createSolicitFuzzTarget(),
      seconds: 3,
      seed: 20240611,
      failureDir: join(work, "f0"),
    });
    const text = formatFuzzReport(report);
    expect(report.failed, text).toBe(false);
    expect(report.execs).toBeGreaterThan(100);
    expect(report.execsPerS).toBeGreaterThan(0);
    expect(report.sequenceRuns).toBeGreaterThan(10);
    expect(report.sequenceSteps).toBeGreaterThan(report.sequenceRuns);
    expect(report.corpusSize).toBeGreaterThanOrEqual(solicitCorpusCases().length);
    for (let i = 0; i < SOLICIT_OUTCOME_NAMES.length; i++) {
      const name = solicitCounterName(i as Parameters<typeof solicitCounterName>[0]);
      expect(report.stats[name] ?? 0, name).toBeGreaterThan(0);
    }
    expect(text).toMatch(/execs \d+ \(\d+\/s\), corpus \d+/);
    expect(text).toMatch(/rejects by reason: .*bad_check \d+/);
    expect(existsSync(join(work, "f0"))).toBe(false); // nothing failed, nothing written
  });

  it("catches the planted leak from an empty corpus with byte inputs, and the saved input replays it", async () => {
    const target = { ...leaky(), sequence: undefined, seeds: () => [new Uint8Array(0)] };
    const failureDir = join(work, "f1");
    // Deterministic for a seed: this one needs about 700 inputs, wherever the time budget ends.
    const report = await runFuzz({ target, seconds: 20, seed: 2, corpusDir: "", failureDir });
    expect(report.failed).toBe(true);
    const failure = report.failure;
    if (!failure) throw new Error("no failure recorded");
    expect(failure.kind).toBe("bytes");
    expect(failure.message).toMatch(/solicit: (invariant|table|\d+ pending)/);
    expect(failure.file).toMatch(/solicit-leaky-2-\d+\.bin$/);
    expect(failure.replayCommand).toBe(`tilenet fuzz solicit-leaky --replay ${failure.file}`);
    expect(formatFuzzReport(report)).toContain(`replay: ${failure.replayCommand}`);
    // Minimized: a handful of 32-byte messages, each one needed.
    const saved = readFileSync(failure.file);
    expect(saved.length).toBeLessThanOrEqual(report.failingInputBytes?.original ?? 0);
    expect(saved.length % SOLICIT_BYTES).toBe(0);

    const replay = await runFuzz({ target: leaky(), replayFile: failure.file });
    expect(replay.failed).toBe(true);
    expect(replay.failure?.message).toBe(failure.message);
    expect(replay.stats.rate_limited_global).toBeGreaterThan(0); // the refusal that leaked
    // The same input passes on the real handler: the failure is the planted bug's.
    expect((await runFuzz({ target: createSolicitFuzzTarget(), replayFile: failure.file })).failed).toBe(false);
  });

  it("catches the planted leak with generated sequences, shrinks it, and the saved JSON replays it", async () => {
    const target = { ...leaky(), runOne: () => {}, lastSignature: undefined, seeds: () => [new Uint8Array(0)] };
    const failureDir = join(work, "f2");
    const report = await runFuzz({ target, seconds: 20, seed: 2, corpusDir: "", failureDir });
    expect(report.failed).toBe(true);
    const failure = report.failure;
    if (!failure) throw new Error("no failure recorded");
    expect(failure.kind).toBe("sequence");
    expect(failure.message).toMatch(/fast-check seed -?\d+, path [\d:]+/);
    const saved = JSON.parse(readFileSync(failure.file, "utf8"));
    expect(saved).toMatchObject({ target: "solicit-leaky", kind: "sequence" });
    expect(typeof saved.seed).toBe("number");
    const [, ops] = saved.counterexample;
    expect(ops.length).toBeLessThanOrEqual(6); // shrunk to a few operations

    const replay = await runFuzz({ target: leaky(), replayFile: failure.file });
    expect(replay.failed).toBe(true);
    expect(replay.failure?.kind).toBe("sequence");
    expect((await runFuzz({ target: createSolicitFuzzTarget(), replayFile: failure.file })).failed).toBe(false);
  });
});
