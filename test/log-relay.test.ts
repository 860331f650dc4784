// Tile output is re-wrapped under the tile's real name and pid: a tile cannot speak as the
// launcher or another tile, non-JSON is dropped and counted, and no line has duplicate keys.
// The last case runs a real app tile (builtin echo is not enough: a module that prints).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LogRelay, MAX_TILE_LINE_BYTES, rewrapTileLine } from "../launcher/log-relay";
import { cli, isRoot, leftovers, ROOT_REASON, uniqueInstance } from "./support/launcher-harness";

describe("rewrapTileLine", () => {
  it("replaces a forged tile and pid, keeps level, time, msg and fields, with no duplicate keys", () => {
    const forged = '{"level":60,"time":"t","tile":"launcher","pid":1,"tile":"launcher","msg":"I am root","x":1}';
    const out = rewrapTileLine("app1", 4242, forged);
    expect(out).toBe('{"level":60,"time":"t","tile":"app1","pid":4242,"x":1,"msg":"I am root"}');
    const keys = [...(out ?? "").matchAll(/"(\w+)":/g)].map((m) => m[1]);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("drops what is not a JSON log record", () => {
    for (const line of [
      "plain text",
      "[1,2]",
      "{not json",
      '{"msg":"no level"}',
      '{"level":"60","msg":"level as text"}',
      '{"level":35,"msg":"no such level"}',
      '{"level":30,"msg":{"nested":true}}',
      `{"level":30,"msg":"${"x".repeat(MAX_TILE_LINE_BYTES)}"}`,
    ])
      expect(rewrapTileLine("t", 1, line), line.slice(0, 40)).toBeUndefined();
  });

  it("counts drops per tile and passes the rest", () => {
    const lines: string[] = [];
    const relay = new LogRelay((l) => lines.push(l));
    relay.relay("a", 10, "hello");
    relay.relay("a", 10, '{"level":30,"msg":"ok"}');
    relay.relay("b", 11, "{");
    expect(lines).toEqual(['{"level":30,"tile":"a","pid":10,"msg":"ok"}']);
    expect(Object.fromEntries(relay.dropped)).toEqual({ a: 1, b: 1 });
  });
});

describe.skipIf(!isRoot)(`a tile's forged log lines (${ROOT_REASON})`, () => {
  it("come out under the app's real name and pid; plain text is dropped and counted", () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-forger-"));
    const config = join(dir, "c.toml");
    const module = join(__dirname, "fixtures", "apps", "forger.js");
    writeFileSync(config, `[[app]]\nname = "forger"\nmodule = "${module}"\nports = [7000]\n`);
    const name = uniqueInstance("lg");
    try {
      const r = cli(["run", "--lab", "--instance", name, "--config", config, "--duration", "2"], 60_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const records = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const forged = records.filter((x) => typeof x.msg === "string" && x.msg.startsWith("forged"));
      expect(forged.length).toBe(2);
      const forgerPid = records.find((x) => x.tile === "forger" && x.msg === "sandboxed; running")?.pid;
      expect(forgerPid).toBeGreaterThan(1);
      for (const x of forged) expect(x).toMatchObject({ tile: "forger", pid: forgerPid });
      expect(r.stdout).not.toContain("plain text from an app");
      expect(r.stdout).toMatch(/tile forger wrote a line that is not a JSON log record; dropped \(counted\)/);
      expect(leftovers(name, [])).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
