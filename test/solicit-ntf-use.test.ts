// The alternative resolution path: with `[netlink] keep_net_admin = true` the netlink tile (and
// only it) keeps CAP_NET_ADMIN and resolves solicited neighbors with RTM_NEWNEIGH + NTF_USE;
// status accepts that one capability for that tile, and every other check of the live fuzz holds.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runSolicitLive } from "../launcher/solicit-live";
import { isRoot, ROOT_REASON } from "./support/launcher-harness";

describe.skipIf(!isRoot)(`NTF_USE resolution (${ROOT_REASON})`, () => {
  it("keeps CAP_NET_ADMIN in the netlink tile only and resolves the peer through the kernel", async () => {
    const r = await runSolicitLive({
      seconds: 2,
      seed: 3,
      mode: "valid",
      // Enough probes for every on-link host the producer names (198.18.0.2 .. .251), the peer included.
      ratePerS: 1000,
      burst: 300,
      keepNetAdmin: true,
      dist: join(__dirname, "..", "dist"),
    });
    expect(r.problems).toEqual([]);
    expect(r.netlinkCapEff).toBe("0000000000001000");
    expect(r.figures.probes_sent ?? 0).toBeGreaterThan(0);
    expect(r.figures.probe_errors).toBe(0);
    // 198.18.0.2 is the lab peer: NTF_USE made the kernel resolve it.
    expect(r.neighbors.find((n) => n.dst === "198.18.0.2")?.lladdr).toMatch(/^[0-9a-f:]{17}$/);
  }, 60_000);
});
