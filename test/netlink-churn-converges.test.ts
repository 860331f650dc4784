// The netlink tile's body (in this process) against a real namespace under churn: seeded random
// bursts of route and neighbor adds, deletes and replaces at the kernel's full rate through a
// 16 KiB event buffer (overruns guaranteed), checking after each burst that netbase equals the
// kernel within a bound, with periodic verification off; and a neighbor storm during resyncs,
// which used to end the tile ("entries kept changing across 33 consecutive dumps").
import { afterEach, describe, expect, it } from "vitest";
import { BodyWorld, type ChurnModel, dotted, macOf, randomBurst, seededRandom } from "../bench/netbase-churn-world";
import { isRoot } from "./support/netlink-netns";

/** Design bound 1 s after the last change; slack for a machine shared by several test runs. */
const BOUND_MS = 5000;

describe.skipIf(!isRoot)("netlink tile body under churn (needs root: network namespaces)", () => {
  let world: BodyWorld | undefined;
  afterEach(() => {
    world?.close();
    world = undefined;
  });

  it("equals the kernel after every burst of seeded random churn (16 KiB event buffer)", async () => {
    const w = new BodyWorld("churn", { rcvbufBytes: 16384 });
    world = w;
    const next = seededRandom(0x17);
    const model: ChurnModel = { routes: new Set(), neighs: new Set() };
    const times: number[] = [];
    for (let burst = 0; burst < 6; burst++) {
      await w.churn(randomBurst(next, 1500, w.dev, model), 20);
      const c = await w.converge(BOUND_MS);
      expect(c.left.slice(0, 10), `burst ${burst}`).toEqual([]);
      times.push(Math.round(c.convergedMs));
    }
    expect(w.metric("enobufs")).toBeGreaterThan(0);
    expect(w.metric("verifications")).toBe(0);
    console.log(`converged after each burst in ${times.join(", ")} ms; retries ${w.metric("resync_retries")}`);
  }, 120_000);

  it("keeps running through a neighbor storm during resyncs and converges once it stops", async () => {
    const w = new BodyWorld("nstorm", { rcvbufBytes: 16384 });
    world = w;
    const routes = Array.from({ length: 5000 }, (_, i) => `route add ${dotted(0xc6130000 + i)}/32 dev ${w.dev}`);
    const neighs = Array.from(
      { length: 5000 },
      (_, i) => `neigh replace ${dotted(0xc6120100 + i)} lladdr ${macOf(i, 1)} dev ${w.dev} nud permanent`,
    );
    await Promise.all([w.churn(routes), w.churn(neighs)]);
    const c = await w.converge(BOUND_MS);
    expect(c.left.slice(0, 10)).toEqual([]);
    expect(w.logs.join("")).not.toMatch(/kept changing|"level":60/);
    expect(w.metric("resync_pending")).toBe(0);
    expect(w.metric("neighbors")).toBe(5000);
  }, 120_000);
});
