import { it, expect } from "vitest";
import { formatFuzzReport, runFuzz } from "../shared/fuzz/engine";
import { createSolicitFuzzTarget } from "../tiles/netlink/fuzz/solicit-target";
it("long", async () => {
  for (const seed of [7, 99]) {
    const report = await runFuzz({ target: createSolicitFuzzTarget(), seconds: 20, seed, failureDir: "/tmp/v6s/fz" });
    console.log(formatFuzzReport(report));
    expect(report.failed).toBe(false);
  }
}, 120_000);
