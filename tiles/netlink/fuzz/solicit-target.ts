// The `solicit` fuzz target: (a) arbitrary byte strings, cut into 16-byte messages, through the
// decoder and the handler in a fixed model world; (b) fast-check generated worlds and operation
// sequences (messages, neighbor events, clock steps). Both run under SolicitCheckedRun, which
// checks the handler against a reference model and its invariants after every step.
import fc from "fast-check";
import type { FuzzRng } from "../../../shared/fuzz/rng";
import type { FuzzTarget, SequenceFailure, SequenceFuzz } from "../../../shared/fuzz/types";
import { NeighState, parseIp, type RouteRecord, RouteTable, RouteType } from "../../../shared/netmodel";
import { SOLICIT_BYTES, solicitCheck } from "../../../shared/solicit/message";
import {
  FIRST_REJECTED_OUTCOME,
  type SolicitConfig,
  SolicitOutcome,
  type SolicitOutcomeName,
} from "../solicit-handler";
import {
  SolicitCheckedRun,
  SolicitEnvironmentModel,
  SolicitOutcomeTotals,
  type SolicitPlantedFaults,
  type SolicitWorldSpec,
} from "./solicit-world";

function ip(text: string): number {
  const v = parseIp(text);
  if (v === undefined) throw new Error(`bad IP literal ${text}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// (a) Byte strings in a fixed world

/**
 * The byte phase's world: net tiles on ifindex 2 (198.18.0.1/24 with 198.18.0.192/27 blackholed, default
 * gateway .254) and 3 (198.18.1.10/29, plus an on-link 198.18.2.0/24 and 10/8 via a gateway);
 * ifindex 4 (198.19.0.1/24) and lo are not net-tile interfaces. Limits are small so short inputs
 * reach every outcome: 6 entries, burst 3 at 20/s, dedupe 40 ms, per-host 100 ms.
 */
export const SOLICIT_BYTE_WORLD: SolicitWorldSpec = {
  config: {
    netIfindexes: [2, 3],
    capacity: 6,
    dedupeIntervalMs: 40,
    perHostIntervalMs: 100,
    ratePerS: 20,
    burst: 3,
  },
  addrs: [
    { ifindex: 2, address: ip("198.18.0.1"), prefixLen: 24, broadcast: ip("198.18.0.255"), scope: 0 },
    { ifindex: 3, address: ip("198.18.1.10"), prefixLen: 29, broadcast: 0, scope: 0 },
    { ifindex: 4, address: ip("198.19.0.1"), prefixLen: 24, broadcast: ip("198.19.0.255"), scope: 0 },
    { ifindex: 1, address: ip("127.0.0.1"), prefixLen: 8, broadcast: 0, scope: 254 },
  ],
  extraRoutes: [
    route(RouteType.unicast, "0.0.0.0", 0, 2, "198.18.0.254"),
    route(RouteType.unicast, "10.0.0.0", 8, 3, "198.18.1.9"),
    route(RouteType.unicast, "198.18.2.0", 24, 3),
    route(RouteType.blackhole, "198.18.0.192", 27, 0),
  ],
  neighs: [
    { ifindex: 2, ip: ip("198.18.0.254"), state: NeighState.reachable, withMac: true },
    { ifindex: 2, ip: ip("198.18.0.7"), state: NeighState.stale, withMac: true },
    { ifindex: 2, ip: ip("198.18.0.8"), state: NeighState.incomplete, withMac: false },
    { ifindex: 3, ip: ip("198.18.1.9"), state: NeighState.failed, withMac: false },
    { ifindex: 3, ip: ip("198.18.2.1"), state: NeighState.permanent, withMac: true },
  ],
  hashSeed: 0x5eed,
  failingLastByte: 66,
};
/** Clock step between two messages of a byte input. */
export const SOLICIT_BYTE_STEP_MS = 5;

function route(type: number, dst: string, dstLen: number, oif: number, gateway?: string): RouteRecord {
  return {
    table: RouteTable.main,
    type,
    dst: ip(dst),
    dstLen,
    gateway: gateway ? ip(gateway) : 0,
    oif,
    prefsrc: 0,
    priority: 0,
    scope: 0,
    protocol: 4,
    tos: 0,
  };
}

const BYTE_DICTIONARY_IPS = [
  "198.18.0.5",
  "198.18.0.6",
  "198.18.0.66",
  "198.18.0.254",
  "198.18.0.7",
  "198.18.0.8",
  "198.18.0.1",
  "198.18.0.255",
  "198.18.0.200",
  "198.18.1.9",
  "198.18.1.12",
  "198.18.1.15",
  "198.18.2.77",
  "198.18.2.1",
  "198.19.0.5",
  "10.1.2.3",
  "8.8.8.8",
  "0.0.0.0",
  "0.1.2.3",
  "127.0.0.1",
  "224.0.0.251",
  "240.0.0.1",
  "255.255.255.255",
].map(ip);
const BYTE_DICTIONARY_IFINDEXES = [2, 2, 2, 3, 3, 4, 1, 0, 99, 0xffffffff];

/** Runs one byte input through a fresh handler; throws SolicitCheckError on a violation. */
export function runSolicitBytes(
  bytes: Uint8Array,
  faults: SolicitPlantedFaults = {},
  totals?: SolicitOutcomeTotals,
  env?: SolicitEnvironmentModel,
): SolicitCheckedRun {
  const run = new SolicitCheckedRun(SOLICIT_BYTE_WORLD, faults, totals, env);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off < bytes.length; off += SOLICIT_BYTES) {
    if (off > 0) run.advance(SOLICIT_BYTE_STEP_MS);
    run.message(view, off);
  }
  run.finish();
  return run;
}

/** Rewrites one 16-byte block as a well-formed message, mostly to addresses the world knows. */
function fixupSolicitBytes(bytes: Uint8Array, rng: FuzzRng): void {
  const blocks = Math.floor(bytes.length / SOLICIT_BYTES);
  if (blocks === 0) return;
  const off = rng.below(blocks) * SOLICIT_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let addr = view.getUint32(off, true);
  if (!rng.oneIn(4)) addr = rng.pick(BYTE_DICTIONARY_IPS);
  if (rng.oneIn(3)) addr = ((addr & 0xffffff00) | rng.below(256)) >>> 0;
  let ifindex = view.getUint32(off + 4, true);
  if (!rng.oneIn(4)) ifindex = rng.pick(BYTE_DICTIONARY_IFINDEXES);
  const reserved = rng.oneIn(16) ? rng.u32() : 0;
  view.setUint32(off, addr, true);
  view.setUint32(off + 4, ifindex, true);
  view.setUint32(off + 8, reserved, true);
  view.setUint32(off + 12, solicitCheck(addr, ifindex, reserved), true);
}

/** Builds a byte input from messages; `raw` entries are copied as they are. */
export function solicitBytes(...parts: Array<[string, number] | { raw: Uint8Array }>): Uint8Array {
  const chunks = parts.map((p) => {
    if ("raw" in p) return p.raw;
    const b = new Uint8Array(SOLICIT_BYTES);
    const v = new DataView(b.buffer);
    const addr = ip(p[0]);
    v.setUint32(0, addr, true);
    v.setUint32(4, p[1], true);
    v.setUint32(12, solicitCheck(addr, p[1], 0), true);
    return b;
  });
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The seed corpus: name = "<outcome of the last message>.<what it is>". test/fuzz/corpus/solicit
 * holds these as files; the corpus test checks every file still ends in its named outcome.
 */
export function solicitCorpusCases(): Array<{ name: string; bytes: Uint8Array }> {
  const filler = { raw: new Uint8Array(SOLICIT_BYTES) }; // all zero: bad_check, no state change
  const flipped = solicitBytes(["198.18.0.5", 2]);
  flipped[1] ^= 0x10;
  const reserved = new Uint8Array(SOLICIT_BYTES);
  const rv = new DataView(reserved.buffer);
  rv.setUint32(0, ip("198.18.0.5"), true);
  rv.setUint32(4, 2, true);
  rv.setUint32(8, 1, true);
  rv.setUint32(12, solicitCheck(ip("198.18.0.5"), 2, 1), true);
  const a: [string, number] = ["198.18.0.5", 2];
  const fillers = (n: number) => Array.from({ length: n }, () => filler);
  return [
    { name: "none.empty", bytes: new Uint8Array(0) },
    { name: "probe_sent.valid-onlink", bytes: solicitBytes(a) },
    { name: "probe_sent.incomplete-neighbor", bytes: solicitBytes(["198.18.0.8", 2]) },
    { name: "probe_sent.failed-neighbor", bytes: solicitBytes(["198.18.1.9", 3]) },
    { name: "probe_sent.onlink-route-without-address", bytes: solicitBytes(["198.18.2.77", 3]) },
    { name: "probe_sent.after-dedupe-and-per-host-expiry", bytes: solicitBytes(a, ...fillers(20), a) },
    { name: "probe_error.probe-fails", bytes: solicitBytes(["198.18.0.66", 2]) },
    { name: "already_known.gateway-reachable", bytes: solicitBytes(["198.18.0.254", 2]) },
    { name: "already_known.stale", bytes: solicitBytes(["198.18.0.7", 2]) },
    { name: "already_known.permanent", bytes: solicitBytes(["198.18.2.1", 3]) },
    { name: "deduplicated.same-twice", bytes: solicitBytes(a, a) },
    {
      name: "rate_limited_global.burst-exhausted",
      bytes: solicitBytes(a, ["198.18.0.6", 2], ["198.18.0.9", 2], ["198.18.0.10", 2]),
    },
    {
      name: "pending_full_drop.table-full",
      bytes: solicitBytes(
        a,
        ["198.18.0.6", 2],
        ["198.18.0.9", 2],
        ["198.18.0.10", 2],
        ["198.18.0.11", 2],
        ["198.18.0.12", 2],
        ["198.18.0.13", 2],
      ),
    },
    { name: "rate_limited_host.reprobe-within-per-host", bytes: solicitBytes(a, ...fillers(8), a) },
    { name: "rejected_truncated.15-bytes", bytes: solicitBytes(a).subarray(0, 15) },
    { name: "rejected_truncated.one-and-a-half", bytes: solicitBytes(a, a).subarray(0, 24) },
    { name: "rejected_bad_check.all-zero", bytes: new Uint8Array(SOLICIT_BYTES) },
    { name: "rejected_bad_check.all-ones", bytes: new Uint8Array(SOLICIT_BYTES).fill(0xff) },
    { name: "rejected_bad_check.flipped-bit", bytes: flipped },
    { name: "rejected_reserved_nonzero.reserved-set", bytes: reserved },
    { name: "rejected_unknown_ifindex.not-net-tile", bytes: solicitBytes(["198.19.0.5", 4]) },
    { name: "rejected_unknown_ifindex.zero", bytes: solicitBytes(["198.18.0.5", 0]) },
    { name: "rejected_unknown_ifindex.max", bytes: solicitBytes(["198.18.0.5", 0xffffffff]) },
    { name: "rejected_zero_address.zero", bytes: solicitBytes(["0.0.0.0", 2]) },
    { name: "rejected_this_network.0-8", bytes: solicitBytes(["0.1.2.3", 2]) },
    { name: "rejected_loopback.127-0-0-1", bytes: solicitBytes(["127.0.0.1", 2]) },
    { name: "rejected_multicast.mdns", bytes: solicitBytes(["224.0.0.251", 2]) },
    { name: "rejected_limited_broadcast.all-ones-address", bytes: solicitBytes(["255.255.255.255", 2]) },
    { name: "rejected_reserved_address.class-e", bytes: solicitBytes(["240.0.0.1", 2]) },
    { name: "rejected_local_address.own-address", bytes: solicitBytes(["198.18.0.1", 2]) },
    { name: "rejected_local_address.other-interface-address", bytes: solicitBytes(["198.19.0.1", 2]) },
    { name: "rejected_subnet_broadcast.brd", bytes: solicitBytes(["198.18.0.255", 2]) },
    { name: "rejected_subnet_broadcast.computed", bytes: solicitBytes(["198.18.1.15", 3]) },
    { name: "rejected_not_on_link.via-gateway", bytes: solicitBytes(["8.8.8.8", 2]) },
    { name: "rejected_not_on_link.blackhole", bytes: solicitBytes(["198.18.0.200", 2]) },
    { name: "rejected_not_on_link.wrong-interface", bytes: solicitBytes(["198.18.0.5", 3]) },
  ];
}

// ---------------------------------------------------------------------------------------------
// (b) Generated worlds and operation sequences

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

export const arbSolicitWorld: fc.Arbitrary<SolicitWorldSpec> = fc
  .record({
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
  })
  .map((w): SolicitWorldSpec => {
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
  });

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

function solicitSequenceFuzz(faults: SolicitPlantedFaults, totals: () => SolicitOutcomeTotals): SequenceFuzz {
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

// ---------------------------------------------------------------------------------------------
// The target

const DECODE_REJECTS = outcomeBits(
  "rejected_truncated",
  "rejected_misaligned",
  "rejected_bad_check",
  "rejected_reserved_nonzero",
);
const ADDRESS_REJECTS = outcomeBits(
  "rejected_zero_address",
  "rejected_this_network",
  "rejected_loopback",
  "rejected_multicast",
  "rejected_limited_broadcast",
  "rejected_reserved_address",
);
const TOPOLOGY_REJECTS = outcomeBits(
  "rejected_unknown_ifindex",
  "rejected_local_address",
  "rejected_subnet_broadcast",
  "rejected_not_on_link",
);
const STATE_MACHINE_OUTCOMES = (1 << FIRST_REJECTED_OUTCOME) - 1;

function outcomeBits(...names: SolicitOutcomeName[]): number {
  return names.reduce((bits, n) => bits | (1 << SolicitOutcome[n]), 0);
}

/** Small counts kept apart, larger ones lumped: 0, 1, 2, 3, 4-5, 6+. */
function countBucket(n: number): number {
  return n < 4 ? n : n < 6 ? 4 : 5;
}

/**
 * Corpus feedback: which state-machine outcomes an input reached, which kinds of rejection
 * (malformed, address class, topology), and how far it pushed the limits (probes sent, table
 * occupancy, in AFL-style count buckets) so inputs that approach a limit are kept as stepping
 * stones. Exact reject reasons would multiply the combinations (2^21) without exercising new
 * state; every reason is still counted in the report.
 */
export function solicitSignature(run: Pick<SolicitCheckedRun, "outcomeMask" | "probeIndex" | "maxTracked">): number {
  const mask = run.outcomeMask;
  let sig = mask & STATE_MACHINE_OUTCOMES;
  if (mask & DECODE_REJECTS) sig |= 1 << 7;
  if (mask & ADDRESS_REJECTS) sig |= 1 << 8;
  if (mask & TOPOLOGY_REJECTS) sig |= 1 << 9;
  return sig | (countBucket(run.probeIndex) << 10) | (countBucket(run.maxTracked) << 13);
}

export interface SolicitFuzzTargetOptions {
  /** Test-only: fuzz a handler with a planted bug, to prove the harness catches it. */
  plantedFaults?: SolicitPlantedFaults;
  /** Registered name (default "solicit"). */
  name?: string;
}

export function createSolicitFuzzTarget(options: SolicitFuzzTargetOptions = {}): FuzzTarget & {
  resetStats(): void;
} {
  const faults = options.plantedFaults ?? {};
  let totals = new SolicitOutcomeTotals();
  const env = new SolicitEnvironmentModel(SOLICIT_BYTE_WORLD);
  let lastSignature = 0;
  return {
    name: options.name ?? "solicit",
    corpusDir: "test/fuzz/corpus/solicit",
    maxInputBytes: 64 * SOLICIT_BYTES,
    runOne(bytes: Uint8Array): void {
      lastSignature = 0;
      lastSignature = solicitSignature(runSolicitBytes(bytes, faults, totals, env));
    },
    lastSignature: () => lastSignature,
    fixup: fixupSolicitBytes,
    seeds: () => solicitCorpusCases().map((c) => c.bytes),
    stats: () => totals.toRecord(),
    resetStats(): void {
      totals = new SolicitOutcomeTotals();
    },
    sequence: solicitSequenceFuzz(faults, () => totals),
  };
}
