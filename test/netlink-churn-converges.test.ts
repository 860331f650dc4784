// The netlink tile's body (in this process) against a real namespace under churn: seeded random
// bursts of route and neighbor adds, deletes and replaces at the kernel's full rate through a
// 16 KiB event buffer (overruns guaranteed), checking after each burst that netbase equals the
// kernel within a bound, with periodic verification off; and a neighbor storm during resyncs,
// which used to end the tile ("entries kept changing across 33 consecutive dumps").
import { afterEach, describe, expect, it } from "vitest";
import { BodyWorld, dotted, macOf } from "./netlink-body-world";
import { isRoot } from "./netlink-netns";

/** Design bound 1 s after the last change; slack for a machine shared by several test runs. */
const BOUND_MS = 5000;

/** xorshift32: the same seed gives the same churn. */
function rng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

/** What the churn believes the kernel holds, so that every generated operation is valid (an
 *  `ip -batch` stops at its first failure). */
export interface ChurnModel {
  routes: Set<string>;
  neighs: Set<string>;
}

/** One burst of mixed route and neighbor adds, deletes and replaces (ip -batch lines). */
export function randomBurst(next: () => number, count: number, dev: string, model: ChurnModel): string[] {
  const lines: string[] = [];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  for (let i = 0; i < count; i++) {
    if (next() < 0.6) {
      const len = pick([16, 20, 24, 24, 25, 28, 30, 32, 32, 32]);
      const dst = (0xc6130000 + Math.floor(next() * 0x10000)) & (~0 << (32 - len));
      const key = `${dotted(dst >>> 0)}/${len} dev ${dev} metric ${pick([0, 0, 10])}`;
      const via = next() < 0.5 ? ` via ${dotted(0xc6120000 + 1 + Math.floor(next() * 200))}` : "";
      const op = model.routes.has(key) ? pick(["del", "replace"]) : pick(["add", "replace"]);
      if (op === "del") model.routes.delete(key);
      else model.routes.add(key);
      lines.push(`route ${op} ${key}${op === "del" ? "" : via}`);
    } else {
      const key = dotted(0xc6120100 + Math.floor(next() * 4000));
      const op = model.neighs.has(key) ? pick(["del", "replace", "replace"]) : pick(["add", "replace"]);
      if (op === "del") model.neighs.delete(key);
      else model.neighs.add(key);
      const mac = ` lladdr ${macOf(i, Math.floor(next() * 4))} nud ${pick(["permanent", "reachable", "stale"])}`;
      lines.push(`neigh ${op} ${key}${op === "del" ? "" : mac} dev ${dev}`);
    }
  }
  return lines;
}

describe.skipIf(!isRoot)("netlink tile body under churn (needs root: network namespaces)", () => {
  let world: BodyWorld | undefined;
  afterEach(() => {
    world?.close();
    world = undefined;
  });

  it("equals the kernel after every burst of seeded random churn (16 KiB event buffer)", async () => {
    const w = new BodyWorld("churn", { rcvbufBytes: 16384 });
    world = w;
    const next = rng(0x17);
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
