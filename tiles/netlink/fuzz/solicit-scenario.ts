// The `solicit` fuzz target's sequence mode: fast-check generated worlds and operation sequences
// (messages, neighbor events, clock steps), each run under SolicitCheckedRun.
import fc from "fast-check";
import type { SequenceFailure, SequenceFuzz } from "../../../shared/fuzz/types";
import { NeighState, RouteTable, RouteType } from "../../../shared/netmodel";
import { SOLICIT_BYTES, solicitCheck } from "../../../shared/solicit/message";
import type { SolicitConfig } from "../solicit-handler";
import {
  ipLiteral as ip,
  ip6Literal as ip6,
  records6,
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
  v6addrs: fc.array(
    fc.record({
      link: fc.nat(),
      sub: fc.nat(3),
      host: fc.integer({ min: 1, max: 9 }),
      prefixLen: fc.constantFrom(48, 64, 64, 120, 128),
    }),
    { maxLength: 4 },
  ),
  v6linkLocal: fc.array(fc.nat(), { maxLength: 3 }),
  v6routes: fc.array(
    fc.record({
      link: fc.nat(),
      type: fc.constantFrom(RouteType.unicast, RouteType.unicast, RouteType.blackhole, RouteType.throw),
      sub: fc.nat(3),
      dstLen: fc.constantFrom(0, 48, 64, 65, 128),
      gateway: fc.option(fc.integer({ min: 1, max: 9 }), { nil: 0 }),
      priority: fc.integer({ min: 0, max: 3 }),
    }),
    { maxLength: 3 },
  ),
  v6neighs: fc.array(
    fc.record({
      link: fc.nat(),
      sub: fc.nat(3),
      host: fc.integer({ min: 1, max: 9 }),
      linkLocal: fc.boolean(),
      state: fc.constantFrom(...NEIGH_STATES),
      withMac: fc.boolean(),
    }),
    { maxLength: 3 },
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
    v6: world6Of(w, linkOf),
  };
}

/** 2001:2:0:<sub>::<host>: a few subnets shared by every interface, so they overlap. */
const v6Text = (sub: number, host: number) => `2001:2:0:${sub}::${host.toString(16)}`;

function world6Of(w: WorldParts, linkOf: (sel: number) => number): NonNullable<SolicitWorldSpec["v6"]> {
  return {
    addrs: [
      ...w.v6addrs.map((a) => ({ ifindex: linkOf(a.link), address: v6Text(a.sub, a.host), prefixLen: a.prefixLen })),
      ...w.v6linkLocal.map((l) => ({ ifindex: linkOf(l), address: `fe80::${linkOf(l).toString(16)}`, prefixLen: 64 })),
    ],
    routes: w.v6routes.map((r) => ({
      type: r.type,
      dst:
        r.dstLen === 0 ? "::" : r.dstLen === 65 ? `2001:2:0:${r.sub}:8000::` : v6Text(r.sub, r.dstLen === 128 ? 5 : 0),
      dstLen: r.dstLen,
      oif: r.type === RouteType.unicast ? linkOf(r.link) : 0,
      ...(r.type === RouteType.unicast && r.gateway !== 0 ? { gateway: `fe80::${r.gateway}` } : {}),
      priority: r.priority,
    })),
    neighs: w.v6neighs.map((n) => ({
      ifindex: linkOf(n.link),
      ip: n.linkLocal ? `fe80::${n.host}` : v6Text(n.sub, n.host),
      state: n.state,
      withMac: n.withMac,
    })),
  };
}

export const arbSolicitWorld: fc.Arbitrary<SolicitWorldSpec> = arbWorldParts.map(worldSpecOf);

/** How a message is laid out for the handler: DataView at 0, Int32Array at byte 4, misaligned, truncated. */
const arbLayout = fc.constantFrom(0, 0, 0, 0, 1, 1, 2, 3);
const arbTarget = { ipSel: fc.nat(63), raw: fc.integer({ min: 0, max: 0xffffffff }), ifSel: fc.nat(15) };

export type SolicitOp =
  | { t: "msg"; ipSel: number; raw: number; ifSel: number; layout: number }
  | { t: "mut"; ipSel: number; raw: number; ifSel: number; flips: number[]; reserved: number }
  | { t: "msg6"; ipSel: number; raw: number; ifSel: number; layout: number }
  | { t: "mut6"; ipSel: number; raw: number; ifSel: number; flips: number[]; reserved: number; head: number }
  | { t: "neigh6"; ipSel: number; raw: number; ifSel: number; state: number; withMac: boolean; deleted: boolean }
  | { t: "garbage"; bytes: number[] }
  | { t: "repeat" }
  | { t: "resolve" }
  | { t: "neigh"; ipSel: number; raw: number; ifSel: number; state: number; withMac: boolean; deleted: boolean }
  | { t: "clock"; dt: number }
  | { t: "glitch"; back: number };

export const arbSolicitOp: fc.Arbitrary<SolicitOp> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant("msg" as const), ...arbTarget, layout: arbLayout }) },
  { weight: 10, arbitrary: fc.record({ t: fc.constant("msg6" as const), ...arbTarget, layout: arbLayout }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("mut6" as const),
      ...arbTarget,
      flips: fc.array(fc.nat(255), { maxLength: 3 }),
      reserved: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff })),
      head: fc.oneof(fc.constant(0x206), fc.constant(0x204), fc.constantFrom(0x106, 0x205, 0x10206, 0)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("neigh6" as const),
      ...arbTarget,
      state: fc.constantFrom(...NEIGH_STATES),
      withMac: fc.boolean(),
      deleted: fc.boolean(),
    }),
  },
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

const SPECIAL_IP6S = ["::", "::1", "ff02::1", "ff02::1:ff00:5", "::ffff:c612:5", "2001:db8::1", "fe80::5"];

/** IPv6 addresses worth soliciting: the world's own, their neighbors, gateways, link-locals, specials. */
function candidateIp6s(world: SolicitWorldSpec): Uint32Array[] {
  const { addrs6, routes6, neighs6 } = records6(world.v6);
  const out: Uint32Array[] = [];
  const plus = (a: Uint32Array, d: number) => Uint32Array.of(a[0], a[1], a[2], (a[3] + d) >>> 0);
  for (const a of addrs6) out.push(a.address, plus(a.address, 1));
  for (const r of routes6) out.push(r.dst, plus(r.dst, 2), r.gateway);
  for (const n of neighs6) out.push(n.ip);
  for (const t of SPECIAL_IP6S) out.push(ip6(t));
  return out;
}

class ScenarioRunner {
  readonly run: SolicitCheckedRun;
  private readonly candidates: number[];
  private readonly links: number[];
  private readonly candidates6: Uint32Array[];
  /** The last well-formed message's eight words. */
  private readonly last = new Uint32Array(8);
  private hasLast = false;
  private readonly buf = new ArrayBuffer(SOLICIT_BYTES + 8);

  constructor(world: SolicitWorldSpec, faults: SolicitPlantedFaults, totals?: SolicitOutcomeTotals) {
    this.run = new SolicitCheckedRun(world, faults, totals);
    this.candidates = candidateIps(world);
    this.candidates6 = candidateIp6s(world);
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

  private ip6Of(sel: number, raw: number): Uint32Array {
    const c = this.candidates6[sel % this.candidates6.length];
    // Mostly a candidate; sometimes a neighbor of one (same /64, another host).
    return sel < 48 ? c : Uint32Array.of(c[0], c[1], c[2], (c[3] ^ (raw & 0xff)) >>> 0);
  }

  private ifindexOf(sel: number): number {
    return sel < 12 ? this.links[sel % this.links.length] : FOREIGN_IFINDEXES[sel % FOREIGN_IFINDEXES.length];
  }

  private send(words: Uint32Array, layout: number): void {
    const bytes = new Uint8Array(this.buf);
    bytes.fill(0);
    const dv = new DataView(this.buf);
    if (layout === 1 || layout === 2) {
      // Int32Array over the ring slot: at byte 4 (aligned) or byte 2 (misaligned).
      const at = layout === 1 ? 4 : 2;
      for (let i = 0; i < 8; i++) dv.setUint32(at + i * 4, words[i], true);
      this.run.message(new Int32Array(this.buf), at);
    } else {
      const view = new DataView(this.buf, 0, layout === 3 ? SOLICIT_BYTES - 1 : SOLICIT_BYTES);
      for (let i = 0; i < 8; i++) if (i * 4 + 4 <= view.byteLength) view.setUint32(i * 4, words[i], true);
      this.run.message(view, 0);
    }
  }

  /** Eight words of a message with its check (head 0x204/0x206 for a valid one). */
  private static words(head: number, ifindex: number, a: ArrayLike<number>, reserved: number): Uint32Array {
    const w = Uint32Array.of(head, ifindex, a[0] ?? 0, a[1] ?? 0, a[2] ?? 0, a[3] ?? 0, reserved, 0);
    w[7] = solicitCheck(w[0], w[1], w[2], w[3], w[4], w[5], w[6]);
    return w;
  }

  private resolveLast(): void {
    const l = this.last;
    if (l[0] === 0x204) this.run.neighborEvent(l[1], l[2], NeighState.reachable, true, false);
    else this.run.neighbor6Event(l[1], l.subarray(2, 6), NeighState.reachable, true, false);
  }

  apply(op: SolicitOp): void {
    switch (op.t) {
      case "msg": {
        const addr = this.ipOf(op.ipSel, op.raw);
        const ifindex = this.ifindexOf(op.ifSel);
        this.last.set(ScenarioRunner.words(0x204, ifindex, [addr, 0, 0, 0], 0));
        this.hasLast = true;
        this.send(this.last, op.layout);
        return;
      }
      case "msg6": {
        const a = this.ip6Of(op.ipSel, op.raw);
        this.last.set(ScenarioRunner.words(0x206, this.ifindexOf(op.ifSel), a, 0));
        this.hasLast = true;
        this.send(this.last, op.layout);
        return;
      }
      case "mut": {
        const addr = this.ipOf(op.ipSel, op.raw);
        const ifindex = this.ifindexOf(op.ifSel);
        // Reserved or padding words set, or bits flipped after the check (mostly bad_check).
        const pad = (op.raw & 7) === 0 ? op.raw >>> 3 || 1 : 0;
        const words = ScenarioRunner.words(0x204, ifindex, [addr, 0, 0, pad], op.reserved);
        for (const bit of op.flips) words[bit >>> 5] ^= 1 << (bit & 31);
        this.send(words, 0);
        return;
      }
      case "mut6": {
        const a = this.ip6Of(op.ipSel, op.raw);
        const words = ScenarioRunner.words(op.head, this.ifindexOf(op.ifSel), a, op.reserved);
        for (const bit of op.flips) words[bit >>> 5] ^= 1 << (bit & 31);
        this.send(words, 0);
        return;
      }
      case "neigh6": {
        const a = this.ip6Of(op.ipSel, op.raw);
        this.run.neighbor6Event(this.ifindexOf(op.ifSel), a, op.state, op.withMac, op.deleted);
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
        if (this.hasLast) this.resolveLast();
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
