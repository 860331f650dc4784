// [net] xdp_zero_copy and the busy-polling keys: defaults, accepted values, and errors that name
// the key, what was expected, where in the file, and exit with the usage code (2).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfigFile, validateConfig } from "../launcher/config";
import { ExitCode } from "../launcher/errors";

function errorOf(doc: unknown): ConfigError {
  try {
    validateConfig(doc);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("config was accepted");
}

describe("[net] xdp_zero_copy and busy polling in the config", () => {
  it("defaults to zero-copy auto and no busy-poll options (the kernel's defaults)", () => {
    const c = validateConfig({});
    expect(c.net.xdpZeroCopy).toBe("auto");
    expect(c.net.busyPoll).toBeUndefined();
  });

  it.each([["auto" as const], [true], [false]])("accepts xdp_zero_copy = %s", (v) => {
    expect(validateConfig({ net: { xdp_zero_copy: v } }).net.xdpZeroCopy).toBe(v);
  });

  it("takes busy_poll_prefer, _usecs and _budget; any one of them sets all three (others 0 / false)", () => {
    expect(
      validateConfig({ net: { busy_poll_prefer: true, busy_poll_usecs: 20, busy_poll_budget: 64 } }).net.busyPoll,
    ).toEqual({ prefer: true, usecs: 20, budget: 64 });
    expect(validateConfig({ net: { busy_poll_prefer: true } }).net.busyPoll).toEqual({
      prefer: true,
      usecs: 0,
      budget: 0,
    });
  });

  it.each([
    [{ net: { xdp_zero_copy: "yes" } }, "net.xdp_zero_copy", '"auto", true or false', 'got "yes"'],
    [{ net: { xdp_zero_copy: 1 } }, "net.xdp_zero_copy", '"auto", true or false', "got 1"],
    [{ net: { busy_poll_prefer: "on" } }, "net.busy_poll_prefer", "true or false", 'got "on"'],
    [{ net: { busy_poll_budget: 70000 } }, "net.busy_poll_budget", "an integer from 0 to 65535", "got 70000"],
    [{ net: { busy_poll_usecs: -1 } }, "net.busy_poll_usecs", "an integer from 0 to 1000000", "got -1"],
    [{ net: { busy_poll_usecs: 2.5 } }, "net.busy_poll_usecs", "an integer from 0 to 1000000", "got 2.5"],
  ])("refuses %j: names %s, expected %s", (doc, key, expected, got) => {
    const e = errorOf(doc);
    expect(e.key).toBe(key);
    expect(e.message).toContain(`expected ${expected}`);
    expect(e.message).toContain(got);
    expect(e.exitCode).toBe(ExitCode.usage);
  });

  it("a misspelt busy-poll key is an error with a did-you-mean, located by line and column", () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-config-"));
    const file = join(dir, "bp.toml");
    writeFileSync(file, `[net]\ninterface = "eth1"\nbusy_poll_prefer = true\nbusy_poll_budjet = 64\n`);
    let caught: unknown;
    try {
      loadConfigFile(file);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toMatch(
      /bp\.toml:4:1: net\.busy_poll_budjet: expected no such key \(did you mean busy_poll_budget\?\)/,
    );
  });

  it("reads them from a file", () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-config-"));
    const file = join(dir, "ok.toml");
    writeFileSync(
      file,
      `[net]\nxdp_zero_copy = false\nbusy_poll_prefer = true\nbusy_poll_usecs = 50\nbusy_poll_budget = 16\n`,
    );
    const c = loadConfigFile(file);
    expect(c.net.xdpZeroCopy).toBe(false);
    expect(c.net.busyPoll).toEqual({ prefer: true, usecs: 50, budget: 16 });
  });
});
