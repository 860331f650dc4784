// Replays the solicit fuzz corpus in the ordinary test run. Files named "<outcome>.<what>.bin"
// must still end in that outcome; files the fuzzer added (hash names) must simply pass all checks.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runSolicitBytes, solicitCorpusCases } from "../tiles/netlink/fuzz/solicit-bytes";
import { SOLICIT_OUTCOME_NAMES } from "../tiles/netlink/solicit-handler";

const DIR = join(__dirname, "fuzz/corpus/solicit");
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".bin"))
  .sort();
const OUTCOMES: readonly string[] = SOLICIT_OUTCOME_NAMES;

describe("solicit fuzz corpus", () => {
  it("holds a case for every outcome the byte phase can reach", () => {
    const expected = new Set(files.map((f) => f.split(".")[0]));
    // Misaligned needs an Int32Array view: the sequence phase and the unit tests cover it.
    const reachable = SOLICIT_OUTCOME_NAMES.filter((n) => n !== "rejected_misaligned");
    for (const outcome of reachable) expect(expected.has(outcome), outcome).toBe(true);
    expect(files.length).toBeGreaterThanOrEqual(solicitCorpusCases().length);
  });

  it("matches the built-in seeds (the files are those cases, byte for byte)", () => {
    for (const c of solicitCorpusCases()) {
      expect([...readFileSync(join(DIR, `${c.name}.bin`))], c.name).toEqual([...c.bytes]);
    }
  });

  it.each(files)("%s replays with every check passing (and to its named outcome)", (file) => {
    const bytes = new Uint8Array(readFileSync(join(DIR, file)));
    const run = runSolicitBytes(bytes); // throws on any violated check
    const prefix = file.split(".")[0];
    if (prefix === "none") expect(run.lastOutcome).toBe(-1);
    else if (OUTCOMES.includes(prefix)) expect(SOLICIT_OUTCOME_NAMES[run.lastOutcome]).toBe(prefix);
    expect(run.handler.metrics()).toMatchObject({ pending: 0, tracked: 0 }); // finish() drained it
  });
});
