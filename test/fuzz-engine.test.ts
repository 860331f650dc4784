// The fuzz engine on toy targets: registration by name, finding and minimizing a crash, saving
// and replaying it, the CLI entry's exit code, argument parsing, and the V8 coverage option.
import { mkdtempSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fuzzTargets } from "../launcher/fuzz-targets";
import { formatFuzzReport, fuzzMain, minimizeFailingInput, parseFuzzArgs, runFuzz } from "../shared/fuzz/engine";
import { FuzzTargetRegistry } from "../shared/fuzz/registry";
import type { FuzzTarget } from "../shared/fuzz/types";

const work = mkdtempSync(join(tmpdir(), "tilenet-fuzz-engine-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Crashes when an input holds the byte 0xde anywhere after byte 8 (a "parser bug"). */
function crashy(name = "toy-crash"): FuzzTarget {
  return {
    name,
    runOne(bytes) {
      for (let i = 8; i < bytes.length; i++) {
        if (bytes[i] === 0xde) throw new RangeError(`toy parser overran at ${i}`);
      }
    },
    seeds: () => [new TextEncoder().encode("hello, fuzzer! ")],
  };
}

describe("fuzz target registry", () => {
  it("registers a decoder in one line and lists it by name", () => {
    const registry = new FuzzTargetRegistry();
    const fuzzDecode = (_bytes: Uint8Array): void => {};
    registry.register({ name: "netlink", runOne: fuzzDecode });
    expect(registry.names()).toEqual(["netlink"]);
    expect(registry.get("netlink").runOne).toBe(fuzzDecode);
    expect(() => registry.register({ name: "netlink", runOne: fuzzDecode })).toThrow(/already registered/);
    expect(() => registry.register({ name: "Bad Name", runOne: fuzzDecode })).toThrow(/is not \[a-z\]/);
    expect(() => registry.get("packet")).toThrow(/unknown fuzz target "packet" \(known: netlink\)/);
    expect(fuzzTargets.names()).toContain("solicit");
  });
});

describe("fuzz engine", () => {
  it("finds a crash, minimizes it, saves it, and the replay reproduces it", async () => {
    const failureDir = join(work, "crash");
    const report = await runFuzz({ target: crashy(), seconds: 20, seed: 5, corpusDir: "", failureDir });
    expect(report.failed).toBe(true);
    const failure = report.failure;
    if (!failure) throw new Error("no failure");
    expect(failure.message).toMatch(/toy parser overran at \d+/);
    const saved = readFileSync(failure.file);
    expect(saved.length).toBe(9); // minimized: 8 bytes of prefix + 0xde
    expect(saved[8]).toBe(0xde);
    expect(report.failingInputBytes?.minimized).toBe(9);
    const text = formatFuzzReport(report);
    expect(text).toContain("FAILED");
    expect(text).toContain(`replay: tilenet fuzz toy-crash --replay ${failure.file}`);
    const replay = await runFuzz({ target: crashy(), replayFile: failure.file });
    expect(replay).toMatchObject({ mode: "replay", failed: true, execs: 1, seed: 5 });
  });

  it("keeps its time budget and reports a passing run", async () => {
    const target: FuzzTarget = { name: "toy-pass", runOne: () => {} };
    const started = performance.now();
    const report = await runFuzz({ target, seconds: 0.5, seed: 1, corpusDir: "" });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(report).toMatchObject({ failed: false, feedback: "none", corpusSize: 1 });
    expect(report.execs).toBeGreaterThan(10);
    expect(formatFuzzReport(report)).toMatch(/^fuzz toy-pass \(fuzz\): passed in \d+\.\d s, seed 1/);
  });

  it("minimizes by cutting chunks while the input still fails", () => {
    const input = new Uint8Array(200).fill(7);
    input[150] = 0xde;
    const { input: small, message } = minimizeFailingInput(crashy(), input);
    expect(small.length).toBe(9);
    expect(message).toMatch(/overran at 8/);
  });

  it("gives the CLI an exit code: 1 when a target fails, also on --replay", async () => {
    fuzzTargets.register(crashy("toy-cli"));
    let out = "";
    const code = await fuzzMain(["toy-cli", "--seconds", "20", "--seed", "3", "--corpus", ""], fuzzTargets, (t) => {
      out += t;
    });
    expect(code).toBe(1);
    const file = /replay: tilenet fuzz toy-cli --replay (\S+)/.exec(out)?.[1];
    if (!file) throw new Error(`no replay command in:\n${out}`);
    expect(readFileSync(file)[8]).toBe(0xde);
    expect(await fuzzMain(["toy-cli", "--replay", file], fuzzTargets, () => {})).toBe(1);
    rmSync(file); // written under ./.fuzz-failures (git-ignored), the CLI's default
    try {
      rmdirSync(dirname(file)); // only if we left it empty
    } catch {}
    expect(
      await fuzzMain(["toy-cli", "--replay", join(work, "missing.bin")], fuzzTargets, () => {}).catch(
        (e: Error) => e.message,
      ),
    ).toMatch(/ENOENT/);
  });

  it("parses the CLI arguments and rejects bad ones", () => {
    expect(
      parseFuzzArgs(
        ["solicit", "--seconds", "30", "--seed", "42", "--corpus", "c", "--replay", "f.bin", "--coverage"],
        fuzzTargets,
      ),
    ).toEqual({
      target: fuzzTargets.get("solicit"),
      seconds: 30,
      seed: 42,
      corpusDir: "c",
      replayFile: "f.bin",
      coverage: true,
    });
    expect(() => parseFuzzArgs([], fuzzTargets)).toThrow(/usage: tilenet fuzz <.*solicit.*>/);
    expect(() => parseFuzzArgs(["solicit", "--seconds", "0"], fuzzTargets)).toThrow(/--seconds must be/);
    expect(() => parseFuzzArgs(["solicit", "--seed", "-1"], fuzzTargets)).toThrow(/--seed must be/);
    expect(() => parseFuzzArgs(["solicit", "--seconds"], fuzzTargets)).toThrow(/needs a value/);
    expect(() => parseFuzzArgs(["solicit", "--jobs", "4"], fuzzTargets)).toThrow(/unknown option --jobs/);
  });

  it("can use V8 block coverage as feedback (node:inspector)", async () => {
    // Each new branch of this parser is only visible to coverage, not to a signature.
    const target: FuzzTarget = {
      name: "toy-branches",
      runOne(bytes) {
        let state = 0;
        for (const b of bytes) {
          if (b === 0x41) state += 1;
          else if (b === 0x42 && state > 0) state *= 2;
          else if (b > 0xf0) state = 0;
        }
      },
    };
    const report = await runFuzz({ target, seconds: 1, seed: 9, corpusDir: "", coverage: true, failureDir: work });
    expect(report.feedback).toBe("v8-coverage");
    expect(report.coverageFeatures).toBeGreaterThan(3);
    expect(report.corpusAdded).toBeGreaterThan(0); // inputs kept for new blocks alone
    expect(formatFuzzReport(report)).toMatch(/feedback: V8 block coverage \(\d+ features\)/);
  });
});
