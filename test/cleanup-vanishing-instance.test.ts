// Proves: looking for stale instances (what every `tilenet run` does first, and `tilenet cleanup`)
// survives an instance directory that vanishes while it looks, as when a concurrent launcher
// stops; it was an ENOENT from stat that made the starting launcher exit before any tile ran.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { findStaleInstances, reclaimStale } from "../launcher/cleanup";

let root = "";
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

it("skips an instance directory that is gone between listing and stat, and still finds the stale ones", () => {
  root = mkdtempSync(join(tmpdir(), "tilenet-runroot-"));
  // Listed by readdir, gone for stat: exactly what a directory removed in between looks like.
  symlinkSync(join(root, "removed-meanwhile"), join(root, "tstopping-abc123"));
  // A directory without a manifest, older than the start-up grace: stale.
  const abandoned = join(root, "tabandoned-def456");
  mkdirSync(abandoned);
  const longAgo = new Date(Date.now() - 10 * 60_000);
  utimesSync(abandoned, longAgo, longAgo);
  // One without a manifest made just now: a launcher still starting, not stale.
  mkdirSync(join(root, "tstarting-789abc"));

  expect(findStaleInstances(root).map((s) => s.dir)).toEqual([abandoned]);
  expect(reclaimStale(root).reclaimed).toEqual([abandoned]);
});
