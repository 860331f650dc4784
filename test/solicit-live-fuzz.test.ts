// The live solicit path: a real sandboxed netlink tile fed adversarial solicits at full speed by
// a producer process stays healthy, keeps netbase equal to the kernel, lets the kernel hold only
// on-link neighbors of its interface, and probes within its rate limit.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runSolicitLive } from "../launcher/solicit-live";
import { isRoot, ROOT_REASON } from "./support/launcher-harness";

describe.skipIf(!isRoot)(`live solicit fuzz (${ROOT_REASON})`, () => {
  it("survives 3 s of adversarial solicits with every check passing", async () => {
    const r = await runSolicitLive({
      seconds: 3,
      seed: 11,
      mode: "mixed",
      ratePerS: 50,
      burst: 20,
      dist: join(__dirname, "..", "dist"),
    });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.figures.offered ?? 0).toBeGreaterThan(100_000);
    expect(r.figures.received ?? 0).toBeGreaterThan(1000);
    expect(r.figures.probes_sent ?? 0).toBeGreaterThan(0);
    expect(r.figures.probes_sent ?? 0).toBeLessThanOrEqual(r.figures.probe_limit ?? 0);
    // Garbage is rejected by reason, never fatal.
    expect(r.rejects.bad_check ?? 0).toBeGreaterThan(0);
    expect(r.rejects.not_on_link ?? 0).toBeGreaterThan(0);
  }, 60_000);
});
