// [solicit] has one schema (tiles/netlink/solicit-config.ts): every value the config loader
// accepts, the netlink tile's SolicitHandler accepts (property test over the schema's ranges,
// ends included), a value outside is refused by the loader naming the key, and the CLI exits 2
// on it instead of starting a tile that would refuse it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../launcher/config";
import {
  type SettingSpec,
  SOLICIT_HANDLER_SETTINGS,
  SOLICIT_SECTION,
  solicitSectionDefaults,
} from "../tiles/netlink/solicit-config";
import { SolicitHandler, solicitConfig } from "../tiles/netlink/solicit-handler";

const CLI = join(__dirname, "..", "dist", "cli.js");

/** Values the spec allows: its ends and anything between. */
function valueIn(spec: SettingSpec): fc.Arbitrary<number> {
  if (spec.powerOfTwo) {
    const lo = Math.log2(spec.min);
    const hi = Math.log2(spec.max);
    return fc.integer({ min: lo, max: hi }).map((e) => 2 ** e);
  }
  const between = spec.integer
    ? fc.integer({ min: spec.min, max: spec.max })
    : fc.double({ min: spec.min, max: spec.max, noNaN: true, noDefaultInfinity: true });
  return fc.oneof(fc.constantFrom(spec.min, spec.max), between);
}

const fileKeys = Object.fromEntries(Object.entries(SOLICIT_SECTION).map(([field, spec]) => [field, spec.key]));

describe("[solicit]: one schema for the config and the tile", () => {
  it("every section the config accepts gives a handler config the tile accepts", () => {
    const section = fc.record(
      Object.fromEntries(Object.entries(SOLICIT_SECTION).map(([field, spec]) => [field, valueIn(spec)])),
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(section, (values) => {
        const file = Object.fromEntries(Object.entries(values).map(([field, v]) => [fileKeys[field], v]));
        const config = validateConfig({ solicit: file });
        const { ringDepth: _ring, ...handler } = config.solicit;
        const handlerConfig = solicitConfig({ netIfindexes: [2], ...handler });
        const env = {
          isLocalAddress: () => false,
          isSubnetBroadcast: () => false,
          onLink: () => true,
          neighborState: () => 0,
        };
        new SolicitHandler({ config: handlerConfig, env, probe: () => 0, hashSeed: 1 });
      }),
      { numRuns: 100 },
    );
  });

  it("refuses each value just outside a limit, naming the file's key", () => {
    for (const spec of Object.values(SOLICIT_SECTION) as SettingSpec[]) {
      const outside = [spec.min - (spec.integer ? 1 : spec.min / 2), spec.max * 2];
      if (spec.integer) outside.push(spec.min + 0.5);
      for (const v of outside) {
        let error: unknown;
        try {
          validateConfig({ solicit: { [spec.key]: v } });
        } catch (e) {
          error = e;
        }
        expect(error, `${spec.key} = ${v}`).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).key).toBe(`solicit.${spec.key}`);
      }
    }
  });

  it("has one set of defaults: the loader's are the schema's, and the tile fills the same", () => {
    expect(validateConfig({}).solicit).toEqual(solicitSectionDefaults());
    const { ringDepth: _ring, ...handler } = solicitSectionDefaults();
    expect(solicitConfig({ netIfindexes: [2] })).toEqual({ ...handler, netIfindexes: [2] });
    expect(Object.keys(SOLICIT_HANDLER_SETTINGS).every((k) => k in SOLICIT_SECTION)).toBe(true);
  });

  it("exits 2 naming solicit.per_host_interval_ms = 0 (the tile would refuse it)", () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-solicit-config-"));
    try {
      const file = join(dir, "bad.toml");
      writeFileSync(file, "[net]\ninterface = 'lo'\n\n[solicit]\nper_host_interval_ms = 0\n");
      const r = spawnSync(process.execPath, [CLI, "run", "--config", file], { encoding: "utf8", timeout: 20_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/solicit\.per_host_interval_ms: expected an integer from 1 to/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
