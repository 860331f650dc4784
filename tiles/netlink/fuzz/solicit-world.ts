// The solicit fuzzer's model world and its checked run: a small topology (interfaces, subnets,
// routes, neighbors) answered by the reference environment, the real handler driven by a fuzz
// input, and the checks made after every step. Shared by the byte and the sequence phases.

import { formatIp6, isIp6LinkLocal, parseIp6 } from "../../../shared/ip6";
import {
  type Addr6Record,
  type AddrRecord,
  ipToString,
  type Neigh6Record,
  type NeighRecord,
  parseIp,
  type Route6Record,
  type RouteRecord,
  RouteTable,
} from "../../../shared/netmodel";
import { Address6Class, AddressClass, classifyAddress, classifyAddress6 } from "../../../shared/solicit/address";
import { isUsableNeighState, type SolicitEnvironment6 } from "../../../shared/solicit/environment";
import { SOLICIT_BYTES } from "../../../shared/solicit/message";
import {
  SOLICIT_METRIC_NAMES,
  SOLICIT_OUTCOME_COUNT,
  SOLICIT_OUTCOME_NAMES,
  type SolicitConfig,
  SolicitHandler,
  type SolicitHandlerOptions,
  SolicitOutcome,
  type SolicitOutcomeValue,
  solicitCounterName,
} from "../solicit-handler";
import { routesForAddress, routesForAddress6, Snapshot6SolicitEnv, SnapshotSolicitEnv } from "./snapshot-env";
import { type ModelFraming, SolicitReferenceModel } from "./solicit-model";

/** An IPv4 literal of the fuzzer's worlds as a host-order number (throws on a typo). */
export function ipLiteral(text: string): number {
  const v = parseIp(text);
  if (v === undefined) throw new Error(`bad IP literal ${text}`);
  return v;
}

/** An IPv6 literal of the fuzzer's worlds as four words (throws on a typo). */
export function ip6Literal(text: string): Uint32Array {
  const v = parseIp6(text);
  if (v === undefined) throw new Error(`bad IPv6 literal ${text}`);
  return v;
}

/** The IPv6 side of a world, addresses as text (plain JSON). */
export interface SolicitWorld6Spec {
  addrs: Array<{ ifindex: number; address: string; prefixLen: number }>;
  /** Routes of table main besides those derived from addrs; gateway absent when on-link. */
  routes: Array<{ type: number; dst: string; dstLen: number; oif: number; gateway?: string; priority?: number }>;
  neighs: Array<{ ifindex: number; ip: string; state: number; withMac: boolean }>;
}

/** Everything a scenario starts from; plain JSON so failing cases can be saved and replayed. */
export interface SolicitWorldSpec {
  config: SolicitConfig;
  addrs: AddrRecord[];
  /** Routes besides those the kernel derives from addrs (gateways, blackholes, more-specifics). */
  extraRoutes: RouteRecord[];
  /** Neighbors the kernel knows at the start (withMac: it has a link-layer address). */
  neighs: Array<{ ifindex: number; ip: number; state: number; withMac: boolean }>;
  hashSeed: number;
  /** Probes to addresses whose last byte is this value fail with -EHOSTUNREACH (exercises probe_errors). */
  failingLastByte: number;
  /** IPv6 addresses, routes and neighbors (absent: the world has no IPv6). */
  v6?: SolicitWorld6Spec;
}

export interface SolicitPlantedFaults {
  leakRefusedEntries?: boolean;
}

const EHOSTUNREACH = 113;
const CLOCK_REGRESSIONS = SOLICIT_METRIC_NAMES.indexOf("clock_regressions");
const PENDING = SOLICIT_METRIC_NAMES.indexOf("pending");
/** Slack for floating-point rounding in the token-bucket bound. */
const BUCKET_EPSILON = 1e-6;

export class SolicitCheckError extends Error {}

/** Totals over many runs, for the fuzz report. */
export class SolicitOutcomeTotals {
  readonly counts = new Float64Array(SOLICIT_OUTCOME_COUNT);
  bitmask = 0;

  add(outcome: SolicitOutcomeValue): void {
    this.counts[outcome]++;
    this.bitmask |= 1 << outcome;
  }

  toRecord(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < SOLICIT_OUTCOME_COUNT; i++) {
      if (this.counts[i] > 0) out[solicitCounterName(i as SolicitOutcomeValue)] = this.counts[i];
    }
    return out;
  }
}

/**
 * One checked run: every call drives the handler and the reference model, then verifies
 * invariants. A violation throws SolicitCheckError naming the step.
 */
export class SolicitCheckedRun {
  readonly handler: SolicitHandler;
  readonly env: SolicitEnvironmentModel;
  readonly model: SolicitReferenceModel;
  now = 0;
  steps = 0;
  /** Bitmask of outcomes seen in this run. */
  outcomeMask = 0;
  /** Outcome of the last message, or -1 before the first. */
  lastOutcome = -1;
  /** Most entries the table held at once. */
  maxTracked = 0;

  private readonly nets: Set<number>;
  private readonly ratePerMs: number;
  /** Probes sent so far (successful or not). */
  probeIndex = 0;
  /** max over earlier probes i of (1 - i + rate * t_i): makes the window bound check O(1). */
  private bestWindowStart = Number.NEGATIVE_INFINITY;
  private readonly lastProbeAt = new Map<string, number>();
  private lastProbeResult = 0;
  private probeCalled = false;
  private readonly metricValues = new Float64Array(SOLICIT_METRIC_NAMES.length);

  constructor(
    readonly spec: SolicitWorldSpec,
    faults: SolicitPlantedFaults = {},
    private readonly totals?: SolicitOutcomeTotals,
    sharedEnv?: SolicitEnvironmentModel,
  ) {
    this.env = sharedEnv ?? new SolicitEnvironmentModel(spec);
    this.nets = new Set(spec.config.netIfindexes);
    this.ratePerMs = spec.config.ratePerS / 1000;
    const options: SolicitHandlerOptions = {
      config: spec.config,
      env: this.env,
      probe: (ip, ifindex) => this.onProbe(ip, ifindex),
      env6: this.env,
      probe6: (ifindex, a0, a1, a2, a3) => this.onProbe6(ifindex, a0, a1, a2, a3),
      hashSeed: spec.hashSeed,
      plantedFaults: faults,
    };
    this.handler = new SolicitHandler(options);
    this.model = new SolicitReferenceModel(spec.config, this.env);
  }

  /** Delivers the message at byteOffset of view (a DataView or an Int32Array) at time atMs. */
  message(view: DataView | Int32Array, byteOffset: number, atMs = this.now): SolicitOutcomeValue {
    this.steps++;
    const framing = framingOf(view, byteOffset);
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const expectedName = this.model.message(
      framing,
      framing === "ok" ? bytes.subarray(byteOffset, byteOffset + SOLICIT_BYTES) : bytes,
      atMs,
    );
    this.probeCalled = false;
    const outcome = this.handler.handle(view, byteOffset, atMs);
    this.totals?.add(outcome);
    this.outcomeMask |= 1 << outcome;
    this.lastOutcome = outcome;
    if (this.handler.tracked > this.maxTracked) this.maxTracked = this.handler.tracked;
    let expected: SolicitOutcomeValue = SolicitOutcome[expectedName];
    if (expected === SolicitOutcome.probe_sent && this.lastProbeResult !== 0) expected = SolicitOutcome.probe_error;
    if (outcome !== expected) {
      this.fail(
        `handler said ${SOLICIT_OUTCOME_NAMES[outcome]}, the reference model ${SOLICIT_OUTCOME_NAMES[expected]}`,
      );
    }
    const probed = outcome === SolicitOutcome.probe_sent || outcome === SolicitOutcome.probe_error;
    if (probed !== this.probeCalled)
      this.fail(`outcome ${SOLICIT_OUTCOME_NAMES[outcome]} but probe called: ${this.probeCalled}`);
    this.verify();
    return outcome;
  }

  neighborEvent(ifindex: number, ip: number, state: number, withMac: boolean, deleted: boolean): void {
    this.steps++;
    // The kernel reports a usable state only for an entry it has a MAC for.
    this.env.applyNeighbor(neighRecord({ ifindex, ip, state, withMac: withMac || isUsableNeighState(state) }), deleted);
    this.handler.onNeighborEvent(ifindex, ip, state, deleted);
    this.model.neighborEvent(ifindex, ip, state, deleted);
    this.verify();
  }

  /** An IPv6 neighbor event (address as four words). */
  neighbor6Event(ifindex: number, a: Uint32Array, state: number, withMac: boolean, deleted: boolean): void {
    this.steps++;
    this.env.applyNeighbor6(neigh6Record(ifindex, a, state, withMac || isUsableNeighState(state)), deleted);
    this.handler.onNeighbor6Event(ifindex, a[0], a[1], a[2], a[3], state, deleted);
    this.model.neighbor6Event(ifindex, a, state, deleted);
    this.verify();
  }

  /** Moves the clock forward by dtMs and lets the handler expire entries. */
  advance(dtMs: number): void {
    this.steps++;
    this.now += dtMs;
    this.handler.tick(this.now);
    this.model.clock(this.now);
    this.verify();
  }

  /** Gives the handler a time earlier than its clock (it must hold its clock and count it). */
  clockGlitch(backMs: number): void {
    this.steps++;
    this.handler.tick(this.now - backMs);
    this.model.clock(this.now - backMs);
    this.verify();
  }

  /** End of scenario: with no new input, every entry must be gone after the longest interval. */
  finish(): void {
    this.now += this.handler.maxIntervalMs;
    this.handler.tick(this.now);
    this.model.clock(this.now);
    this.verify();
    if (this.handler.pending !== 0 || this.handler.tracked !== 0) {
      this.fail(
        `${this.handler.pending} pending / ${this.handler.tracked} tracked entries left ${this.handler.maxIntervalMs} ms after the last input`,
      );
    }
  }

  private onProbe(ip: number, ifindex: number): number {
    this.probeCalled = true;
    const what = `probe to ${ipToString(ip)} on ${ifindex}`;
    if (!this.nets.has(ifindex)) this.fail(`${what}: not a net-tile interface`);
    if (classifyAddress(ip) !== AddressClass.unicast) this.fail(`${what}: not a unicast address`);
    if (this.env.isLocalAddress(ip)) this.fail(`${what}: a local address`);
    if (this.env.isSubnetBroadcast(ifindex, ip)) this.fail(`${what}: a subnet broadcast`);
    if (!this.env.onLink(ifindex, ip)) this.fail(`${what}: not on-link through that interface`);
    if (isUsableNeighState(this.env.neighborState(ifindex, ip))) this.fail(`${what}: neighbor already known`);
    this.lastProbeResult = this.checkProbeLimits(what, `${ifindex}/${ip}`, ip & 255);
    return this.lastProbeResult;
  }

  private onProbe6(ifindex: number, a0: number, a1: number, a2: number, a3: number): number {
    this.probeCalled = true;
    const what = `probe to ${formatIp6(a0, a1, a2, a3)} on ${ifindex}`;
    if (!this.nets.has(ifindex)) this.fail(`${what}: not a net-tile interface`);
    if (classifyAddress6(a0, a1, a2, a3) !== Address6Class.unicast) this.fail(`${what}: not a unicast address`);
    if (this.env.isLocalAddress6(a0, a1, a2, a3)) this.fail(`${what}: a local address`);
    if (!this.env.onLink6(ifindex, a0, a1, a2, a3)) this.fail(`${what}: not on-link through that interface`);
    if (isUsableNeighState(this.env.neighborState6(ifindex, a0, a1, a2, a3))) {
      this.fail(`${what}: neighbor already known`);
    }
    if (isIp6LinkLocal(a0) && ifindex === 0) this.fail(`${what}: link-local without an interface`);
    this.lastProbeResult = this.checkProbeLimits(what, `6/${ifindex}/${a0}:${a1}:${a2}:${a3}`, a3 & 255);
    return this.lastProbeResult;
  }

  /** Per-host interval and the token-bucket bound over both families; the probe's result. */
  private checkProbeLimits(what: string, key: string, lastByte: number): number {
    // The model saw the same (clamped) time as the handler for this message.
    const now = this.model.now;
    const last = this.lastProbeAt.get(key);
    if (last !== undefined && now - last < this.spec.config.perHostIntervalMs) {
      this.fail(`${what}: ${now - last} ms after the previous one (per-host ${this.spec.config.perHostIntervalMs} ms)`);
    }
    this.lastProbeAt.set(key, now);
    // Probes i..j must number at most burst + rate * (t_j - t_i), for every window.
    const j = this.probeIndex++;
    const startTerm = 1 - j + this.ratePerMs * now;
    if (startTerm > this.bestWindowStart) this.bestWindowStart = startTerm;
    const worst = j - this.ratePerMs * now + this.bestWindowStart;
    if (worst > this.spec.config.burst + BUCKET_EPSILON) {
      this.fail(`${what}: ${worst.toFixed(3)} probes over the token-bucket bound (burst ${this.spec.config.burst})`);
    }
    return lastByte === this.spec.failingLastByte ? -EHOSTUNREACH : 0;
  }

  private verify(): void {
    const broken = this.handler.checkInvariants(this.model.now);
    if (broken !== null) this.fail(`invariant: ${broken}`);
    if (this.handler.pending !== this.model.pending || this.handler.tracked !== this.model.tracked) {
      this.fail(
        `table: handler ${this.handler.pending} pending / ${this.handler.tracked} tracked, model ${this.model.pending} / ${this.model.tracked}`,
      );
    }
    this.handler.readMetrics(this.metricValues);
    if (this.metricValues[CLOCK_REGRESSIONS] !== this.model.clockRegressions) {
      this.fail("clock_regressions differs from the model");
    }
    if (this.metricValues[PENDING] > this.spec.config.capacity) this.fail("pending above capacity");
  }

  private fail(message: string): never {
    throw new SolicitCheckError(`solicit: ${message} (step ${this.steps}, t=${this.now} ms)`);
  }
}

/** The reference environment (both families), with the neighbor tables the scenario mutates. */
export class SolicitEnvironmentModel extends SnapshotSolicitEnv implements SolicitEnvironment6 {
  private readonly v6: Snapshot6SolicitEnv;

  constructor(spec: SolicitWorldSpec) {
    super({ addrs: spec.addrs, routes: allRoutes(spec), neighs: spec.neighs.map(neighRecord) });
    this.v6 = new Snapshot6SolicitEnv(records6(spec.v6));
  }

  isLocalAddress6(a0: number, a1: number, a2: number, a3: number): boolean {
    return this.v6.isLocalAddress6(a0, a1, a2, a3);
  }

  onLink6(ifindex: number, a0: number, a1: number, a2: number, a3: number): boolean {
    return this.v6.onLink6(ifindex, a0, a1, a2, a3);
  }

  neighborState6(ifindex: number, a0: number, a1: number, a2: number, a3: number): number {
    return this.v6.neighborState6(ifindex, a0, a1, a2, a3);
  }

  applyNeighbor6(neigh: Neigh6Record, deleted: boolean): void {
    this.v6.applyNeighbor6(neigh, deleted);
  }
}

function neigh6Record(ifindex: number, ip: Uint32Array, state: number, withMac: boolean): Neigh6Record {
  return {
    ifindex,
    ip: Uint32Array.from(ip),
    mac: withMac ? Uint8Array.of(2, 0, 6, 0, ip[3] & 255, ifindex & 255) : null,
    state,
    flags: 0,
  };
}

/** The IPv6 records of a world: its addresses, the routes the kernel derives, its extra routes. */
export function records6(v6: SolicitWorld6Spec | undefined): {
  addrs6: Addr6Record[];
  routes6: Route6Record[];
  neighs6: Neigh6Record[];
} {
  const addrs6: Addr6Record[] = (v6?.addrs ?? []).map((a) => ({
    ifindex: a.ifindex,
    address: ip6Literal(a.address),
    prefixLen: a.prefixLen,
    scope: isIp6LinkLocal(ip6Literal(a.address)[0]) ? 253 : 0,
    flags: 0,
  }));
  const zero = new Uint32Array(4);
  const extra: Route6Record[] = (v6?.routes ?? []).map((r) => ({
    table: RouteTable.main,
    type: r.type,
    dst: ip6Literal(r.dst),
    dstLen: r.dstLen,
    gateway: r.gateway === undefined ? zero : ip6Literal(r.gateway),
    oif: r.oif,
    prefsrc: zero,
    priority: r.priority ?? 1024,
    protocol: 4,
  }));
  const neighs6 = (v6?.neighs ?? []).map((n) => neigh6Record(n.ifindex, ip6Literal(n.ip), n.state, n.withMac));
  return { addrs6, routes6: [...addrs6.flatMap(routesForAddress6), ...extra], neighs6 };
}

function neighRecord(n: SolicitWorldSpec["neighs"][number]): NeighRecord {
  return {
    ifindex: n.ifindex,
    ip: n.ip,
    mac: n.withMac ? Uint8Array.of(2, 0, 0, 0, n.ip & 255, n.ifindex & 255) : null,
    state: n.state,
    flags: 0,
  };
}

export function allRoutes(spec: Pick<SolicitWorldSpec, "addrs" | "extraRoutes">): RouteRecord[] {
  return [...spec.addrs.flatMap(routesForAddress), ...spec.extraRoutes];
}

function framingOf(view: DataView | Int32Array, byteOffset: number): ModelFraming {
  if (!(byteOffset >= 0) || byteOffset % 1 !== 0 || byteOffset + SOLICIT_BYTES > view.byteLength) return "truncated";
  if (view instanceof Int32Array && byteOffset % 4 !== 0) return "misaligned";
  return "ok";
}
