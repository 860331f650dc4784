// status checks every sandbox fact it relies on against the full sandbox: an instance started
// with `[sandbox] unshare = []` and `landlock = false` is not reported as fully sandboxed, and
// status exits non-zero naming each weakened fact.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  forceCleanup,
  isRoot,
  ROOT_REASON,
  type RunningInstance,
  type StatusJson,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";

/** Starts a lab instance with `sandboxToml` as its config, hands its status to `check`, then
 *  stops it and removes everything, whatever `check` did. */
async function withLabStatus(
  tag: string,
  sandboxToml: string,
  check: (s: { code: number | null; report: StatusJson }) => void,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `tilenet-weak-${tag}-`));
  const config = join(dir, "c.toml");
  writeFileSync(config, sandboxToml);
  let inst: RunningInstance | undefined;
  try {
    const name = uniqueInstance(tag);
    inst = await startInstance(name, ["--lab", "--config", config]);
    check(status(name));
  } finally {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!isRoot)(`status with a weakened sandbox (${ROOT_REASON})`, () => {
  it("exits non-zero and names the missing namespaces and landlock", async () => {
    await withLabStatus("wk", "[sandbox]\nunshare = []\nlandlock = false\n", ({ code, report }) => {
      expect(code).not.toBe(0);
      for (const t of report.tiles) {
        const text = t.problems.join("\n");
        expect(text, t.name).toMatch(/mount namespace shared with the launcher \(sandbox.unshare leaves it out\)/);
        expect(text, t.name).toMatch(/ipc namespace shared/);
        expect(text, t.name).toMatch(/uts namespace shared/);
        expect(text, t.name).toMatch(/pid namespace shared with the launcher \(sandbox.unshare leaves it out\)/);
        expect(text, t.name).toMatch(/net namespace is the instance's, not a fresh empty one/);
        expect(text, t.name).toMatch(/landlock disabled \(sandbox.landlock = false\)/);
      }
    });
  }, 60_000);

  it("exits non-zero when only the PID namespace is left out, and shows it shared in JSON", async () => {
    await withLabStatus("wp", '[sandbox]\nunshare = ["mount", "ipc", "uts", "net"]\n', ({ code, report }) => {
      expect(code).not.toBe(0);
      expect(report.tiles.length).toBeGreaterThan(1);
      for (const t of report.tiles) {
        expect(t.problems, t.name).toEqual([
          "not sandboxed: pid namespace shared with the launcher (sandbox.unshare leaves it out)",
          expect.stringMatching(/^not sandboxed: pid namespace shared with tile\(s\) /),
        ]);
        expect(t.pidNamespace, t.name).toMatchObject({ own: false, nsPid: t.pid });
      }
    });
  }, 60_000);
});
