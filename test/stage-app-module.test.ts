// Staging an app module as root: only a regular, world-readable file below the size limit is
// copied; /etc/shadow is refused (never disclosed to a tile), a FIFO fails at once (no hang), and
// so do devices, directories, symlinks and oversized files. The last case runs the real launcher
// with module = a FIFO: it exits with a clear error and leaves nothing behind.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_APP_MODULE_BYTES, readAppModuleSource } from "../launcher/stage";
import { cli, isRoot, leftovers, ROOT_REASON, uniqueInstance } from "./support/launcher-harness";

const dir = mkdtempSync(join(tmpdir(), "tilenet-stage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("readAppModuleSource", () => {
  it("reads a regular world-readable file", () => {
    const ok = join(dir, "ok.js");
    writeFileSync(ok, "module.exports = {};");
    chmodSync(ok, 0o644);
    expect(readAppModuleSource("a", ok).toString()).toBe("module.exports = {};");
  });

  it("refuses what must not be staged, each with a clear reason and without blocking", () => {
    const secret = join(dir, "secret.js");
    writeFileSync(secret, "secret");
    chmodSync(secret, 0o600);
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    const link = join(dir, "link.js");
    symlinkSync(join(dir, "ok.js"), link);
    const big = join(dir, "big.js");
    writeFileSync(big, "");
    truncateSync(big, MAX_APP_MODULE_BYTES + 1);
    chmodSync(big, 0o644);
    const cases: [string, RegExp][] = [
      ["/etc/shadow", /not readable by everyone \(mode 6[04]0\)/],
      [secret, /not readable by everyone \(mode 600\)/],
      [fifo, /is not a regular file \(a FIFO\)/],
      ["/dev/zero", /is not a regular file \(a character device\)/],
      [dir, /is not a regular file \(a directory\)/],
      [link, /is a symbolic link/],
      [big, /bytes, more than 8388608/],
      [join(dir, "missing.js"), /not found/],
    ];
    for (const [path, why] of cases) {
      if (!existsSync(path)) continue; // /etc/shadow on an unusual system
      const t0 = Date.now();
      expect(() => readAppModuleSource("x", path), path).toThrow(why);
      expect(Date.now() - t0, path).toBeLessThan(1000);
    }
  });
});

describe.skipIf(!isRoot)(`the launcher staging a FIFO or /etc/shadow (${ROOT_REASON})`, () => {
  it("exits 1 at once with the reason, and leaves no copy and nothing else behind", () => {
    for (const module of ["/etc/shadow", join(dir, "fifo")]) {
      const config = join(dir, "c.toml");
      writeFileSync(config, `[[app]]\nname = "m"\nmodule = "${module}"\nports = [7000]\n`);
      const name = uniqueInstance("st");
      const t0 = Date.now();
      const r = cli(["run", "--lab", "--instance", name, "--config", config], 30_000);
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(module === "/etc/shadow" ? /not readable by everyone/ : /not a regular file \(a FIFO\)/);
      expect(leftovers(name, [])).toEqual([]);
      const staged = existsSync("/run/tilenet") ? readdirSync("/run/tilenet").filter((d) => d.includes(name)) : [];
      expect(staged).toEqual([]);
    }
  }, 60_000);
});
