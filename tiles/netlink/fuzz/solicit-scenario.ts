// The `solicit` fuzz target's sequence mode: fast-check generated worlds and operation sequences
// (messages, neighbor events, clock steps), each run under SolicitCheckedRun.
import fc from "fast-check";
import type { SequenceFailure, SequenceFuzz } from "../../../shared/fuzz/types";
import { NeighState, RouteTable, RouteType } from "../../../shared/netmodel";
import { SOLICIT_BYTES, solicitCheck } from "../../../shared/solicit/message";
import type { SolicitConfig } from "../solicit-handler";
import {
  ipLiteral as ip,
  SolicitCheckedRun,
  type SolicitOutcomeTotals,
  type SolicitPlantedFaults,
  type SolicitWorldSpec,
} from "./solicit-world";

/** Addresses mostly from a small range, so subnets of different interfaces overlap. */
const arbAddress = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: ip("198.18.0.0"), max: ip("198.18.1.255") }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);
const LINK_POOL = [1, 2, 3, 4, 7, 1000];
const NEIGH_STATES = Object.values(NeighState);
const SPECIAL_IPS = ["0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255"].map(ip);
const FOREIGN_IFINDEXES = [0, 99, 0x7fffffff, 0xffffffff];

const arbConfig: fc.Arbitrary<Omit<SolicitConfig, "netIfindexes">> = fc.record({
  capacity: fc.integer({ min: 1, max: 24 }),
  dedupeIntervalMs: fc.integer({ min: 1, max: 300 }),
  perHostIntervalMs: fc.integer({ min: 1, max: 600 }),
  ratePerS: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constantFrom(0.5, 2.5, 1000)),
  burst: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(1.5)),
});

/** A world's parts before they are tied together: links are chosen by index (modulo their count). */
const arbWorldParts = fc.record({
  links: fc.uniqueArray(fc.record({ ifindex: fc.constantFrom(...LINK_POOL), net: fc.boolean() }), {
    minLength: 1,
    maxLength: 4,
    selector: (l) => l.ifindex,
  }),
  addrs: fc.array(
    fc.record({
      link: fc.nat(),
      address: arbAddress,
      prefixLen: fc.oneof(fc.integer({ min: 8, max: 32 }), fc.constantFrom(24, 28, 30, 31, 32)),
      brd: fc.boolean(),
    }),
    { maxLength: 5 },
  ),
  routes: fc.array(
    fc.record({
      link: fc.nat(),
      type: fc.constantFrom(
        RouteType.unicast,
        RouteType.unicast,
        RouteType.blackhole,
        RouteType.unreachable,
        RouteType.throw,
      ),
      table: fc.constantFrom(RouteTable.main, RouteTable.main, RouteTable.local),
      dst: arbAddress,
      dstLen: fc.integer({ min: 0, max: 32 }),
      gateway: fc.option(arbAddress, { nil: 0 }),
      priority: fc.integer({ min: 0, max: 3 }),
    }),
    { maxLength: 4 },
  ),
  neighs: fc.array(
    fc.record({ link: fc.nat(), ip: arbAddress, state: fc.constantFrom(...NEIGH_STATES), withMac: fc.boolean() }),
    { maxLength: 4 },
  ),
  config: arbConfig,
  hashSeed: fc.integer(),
  failingLastByte: fc.integer({ min: 0, max: 255 }),
});
type WorldParts = typeof arbWorldParts extends fc.Arbitrary<infer T> ? T : never;

function worldSpecOf(w: WorldParts): SolicitWorldSpec {
  const linkOf = (sel: number) => w.links[sel % w.links.length].ifindex;
  return {
    config: { ...w.config, netIfindexes: w.links.filter((l) => l.net).map((l) => l.ifindex) },
    addrs: w.addrs.map((a) => ({
      ifindex: linkOf(a.link),
      address: a.address,
      prefixLen: a.prefixLen,
      broadcast: a.brd && a.prefixLen < 31 ? (a.address | (0xffffffff >>> a.prefixLen)) >>> 0 : 0,
      scope: 0,
    })),
    extraRoutes: w.routes.map((r) => ({
      table: r.table,
      type: r.type,
      dst: r.dstLen === 0 ? 0 : (r.dst & (0xffffffff << (32 - r.dstLen))) >>> 0,
      dstLen: r.dstLen,
      gateway: r.type === RouteType.unicast ? r.gateway : 0,
      oif: r.type === RouteType.unicast ? linkOf(r.link) : 0,
      prefsrc: 0,
      priority: r.priority,
      scope: 0,
      protocol: 4,
      tos: 0,
    })),
    neighs: w.neighs.map((n) => ({ ifindex: linkOf(n.link), ip: n.ip, state: n.state, withMac: n.withMac })),
    hashSeed: w.hashSeed,
    failingLastByte: w.failingLastByte,
  };
}

export const arbSolicitWorld: fc.Arbitrary<SolicitWorldSpec> = arbWorldParts.map(worldSpecOf);

/** How a message is laid out for the handler: DataView at 0, Int32Array at byte 4, misaligned, truncated. */
const arbLayout = fc.constantFrom(0, 0, 0, 0, 1, 1, 2, 3);
const arbTarget = { ipSel: fc.nat(63), raw: fc.integer({ min: 0, max: 0xffffffff }), ifSel: fc.nat(15) };

export type SolicitOp =
  | { t: "msg"; ipSel: number; raw: number; ifSel: number; layout: number }
  | { t: "mut"; ipSel: number; raw: number; ifSel: number; flips: number[]; reserved: number }
  | { t: "garbage"; bytes: number[] }
  | { t: "repeat" }
  | { t: "resolve" }
  | { t: "neigh"; ipSel: number; raw: number; ifSel: number; state: number; withMac: boolean; deleted: boolean }
  | { t: "clock"; dt: number }
  | { t: "glitch"; back: number };

export const arbSolicitOp: fc.Arbitrary<SolicitOp> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant("msg" as const), ...arbTarget, layout: arbLayout }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("mut" as const),
      ...arbTarget,
      flips: fc.array(fc.nat(127), { maxLength: 3 }),
      reserved: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("garbage" as const), bytes: fc.array(fc.nat(255), { maxLength: 20 }) }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("repeat" as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("resolve" as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("neigh" as const),
      ...arbTarget,
      state: fc.constantFrom(...NEIGH_STATES),
      withMac: fc.boolean(),
      deleted: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("clock" as const),
      dt: fc.oneof(
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 0, max: 100_000 }),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("glitch" as const), back: fc.integer({ min: 1, max: 1000 }) }) },
);

export const arbSolicitScenario = fc.tuple(arbSolicitWorld, fc.array(arbSolicitOp, { maxLength: 80, size: "medium" }));
export type SolicitScenario = [SolicitWorldSpec, SolicitOp[]];

/** Addresses worth soliciting in a world: its own, its subnets' edges and hosts, gateways, neighbors. */
function candidateIps(world: SolicitWorldSpec): number[] {
  const out: number[] = [];
  for (const a of world.addrs) {
    const mask = a.prefixLen === 0 ? 0 : (0xffffffff << (32 - a.prefixLen)) >>> 0;
    const net = (a.address & mask) >>> 0;
    out.push(a.address, net, (net | ~mask) >>> 0, (a.address + 1) >>> 0, (a.address - 1) >>> 0);
  }
  for (const r of world.extraRoutes) out.push(r.dst, (r.dst + 1) >>> 0, r.gateway);
  for (const n of world.neighs) out.push(n.ip);
  out.push(...SPECIAL_IPS);
  return out;
}

class ScenarioRunner {
  readonly run: SolicitCheckedRun;
  private readonly candidates: number[];
  private readonly links: number[];
  private readonly last = new Uint32Array(4);
  private hasLast = false;
  private readonly buf = new ArrayBuffer(32);

  constructor(world: SolicitWorldSpec, faults: SolicitPlantedFaults, totals?: SolicitOutcomeTotals) {
    this.run = new SolicitCheckedRun(world, faults, totals);
    this.candidates = candidateIps(world);
    this.links = [...new Set([...world.config.netIfindexes, ...world.addrs.map((a) => a.ifindex)])];
    if (this.links.length === 0) this.links.push(2);
  }

  private ipOf(sel: number, raw: number): number {
    if (sel < this.candidates.length) return this.candidates[sel];
    // A host inside one of the world's subnets, or any address at all.
    const a = this.run.spec.addrs[raw % Math.max(1, this.run.spec.addrs.length)];
    if (a && sel % 2 === 0 && a.prefixLen > 0) {
      const mask = (0xffffffff << (32 - a.prefixLen)) >>> 0;
      return ((a.address & mask) | (raw & ~mask)) >>> 0;
    }
    return raw >>> 0;
  }

  private ifindexOf(sel: number): number {
    return sel < 12 ? this.links[sel % this.links.length] : FOREIGN_IFINDEXES[sel % FOREIGN_IFINDEXES.length];
  }

  private send(words: Uint32Array, layout: number): void {
    const bytes = new Uint8Array(this.buf);
    bytes.fill(0);
    if (layout === 1 || layout === 2) {
      // Int32Array over the ring slot: at byte 4 (aligned) or byte 2 (misaligned).
      const at = layout === 1 ? 4 : 2;
      new DataView(this.buf).setUint32(at, words[0], true);
      new DataView(this.buf).setUint32(at + 4, words[1], true);
      new DataView(this.buf).setUint32(at + 8, words[2], true);
      new DataView(this.buf).setUint32(at + 12, words[3], true);
      this.run.message(new Int32Array(this.buf), at);
    } else {
      const view = new DataView(this.buf, 0, layout === 3 ? SOLICIT_BYTES - 1 : SOLICIT_BYTES);
      for (let i = 0; i < 4; i++) if (i * 4 + 4 <= view.byteLength) view.setUint32(i * 4, words[i], true);
      this.run.message(view, 0);
    }
  }

  apply(op: SolicitOp): void {
    switch (op.t) {
      case "msg": {
        const addr = this.ipOf(op.ipSel, op.raw);
        const ifindex = this.ifindexOf(op.ifSel);
        this.last.set([addr, ifindex, 0, solicitCheck(addr, ifindex, 0)]);
        this.hasLast = true;
        this.send(this.last, op.layout);
        return;
      }
      case "mut": {
        const addr = this.ipOf(op.ipSel, op.raw);
        const ifindex = this.ifindexOf(op.ifSel);
        const words = Uint32Array.of(addr, ifindex, op.reserved, solicitCheck(addr, ifindex, op.reserved));
        for (const bit of op.flips) words[bit >>> 5] ^= 1 << (bit & 31);
        this.send(words, 0);
        return;
      }
      case "garbage": {
        const b = Uint8Array.from(op.bytes);
        this.run.message(new DataView(b.buffer), 0);
        return;
      }
      case "repeat":
        if (this.hasLast) this.send(this.last, 0);
        return;
      case "resolve":
        if (this.hasLast) this.run.neighborEvent(this.last[1], this.last[0], NeighState.reachable, true, false);
        return;
      case "neigh":
        this.run.neighborEvent(this.ifindexOf(op.ifSel), this.ipOf(op.ipSel, op.raw), op.state, op.withMac, op.deleted);
        return;
      case "clock":
        this.run.advance(op.dt);
        return;
      case "glitch":
        this.run.clockGlitch(op.back);
        return;
    }
  }
}

/** Runs one scenario; throws on the first violated check. Returns the number of steps. */
export function runSolicitScenario(
  [world, ops]: SolicitScenario,
  faults: SolicitPlantedFaults = {},
  totals?: SolicitOutcomeTotals,
): number {
  const runner = new ScenarioRunner(world, faults, totals);
  for (const op of ops) runner.apply(op);
  runner.run.finish();
  return runner.run.steps;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isScenario(value: unknown): value is SolicitScenario {
  if (!Array.isArray(value) || value.length !== 2 || !Array.isArray(value[1])) return false;
  const world: unknown = value[0];
  return typeof world === "object" && world !== null && "config" in world && "addrs" in world;
}

export function solicitSequenceFuzz(faults: SolicitPlantedFaults, totals: () => SolicitOutcomeTotals): SequenceFuzz {
  let steps = 0;
  const property = fc.property(arbSolicitScenario, (scenario) => {
    steps += runSolicitScenario(scenario, faults, totals());
  });
  return {
    check(seed: number, numRuns: number): SequenceFailure | null {
      const details = fc.check(property, { seed, numRuns });
      if (!details.failed) return null;
      if (details.counterexample === null)
        return { message: "fast-check gave up", seed, path: "", counterexample: null };
      return {
        message: errorText(details.errorInstance),
        seed: details.seed,
        path: details.counterexamplePath,
        counterexample: details.counterexample[0],
      };
    },
    replay(counterexample: unknown): string | null {
      if (!isScenario(counterexample)) return "not a solicit scenario ([world, ops])";
      try {
        steps += runSolicitScenario(counterexample, faults, totals());
        return null;
      } catch (err) {
        return errorText(err);
      }
    },
    steps: () => steps,
  };
}
