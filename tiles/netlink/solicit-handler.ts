// The netlink tile's handling of neighbor-solicit messages from net tiles: the only path from
// untrusted traffic into the netlink tile, so it is a small pure state machine. The clock, the
// view of the kernel's state and the probe sender are injected; nothing here does I/O.
//
// Per message, in order: decode and validate (counted by reason, never fatal; IPv4 and IPv6 each
// with their address classes, this host's addresses and on-link through a route of the message's
// interface), skip neighbors the kernel already resolved, deduplicate through a bounded pending table whose every entry expires
// (unlike Firedancer, whose placeholders leak when its rate limiter refuses, PR 11211), per-host
// suppression, a global token bucket, then probe. The hot path is allocation-free: the table is
// an open-addressing hash index over a fixed pool of typed arrays, with a min-heap of deadlines.
// Entries are keyed by (family, address words, ifindex): IPv4 198.18.0.5 and an IPv6 address
// whose first word is 0xc6120005 never share an entry, a per-host interval or a dedupe window.

import { formatIp6, isIp6LinkLocal } from "../../shared/ip6";
import { ipToString } from "../../shared/netmodel";
import {
  type Address6ClassValue,
  type AddressClassValue,
  classifyAddress,
  classifyAddress6,
} from "../../shared/solicit/address";
import {
  isUsableNeighState,
  type SolicitEnvironment,
  type SolicitEnvironment6,
} from "../../shared/solicit/environment";
import {
  createSolicitFields,
  decodeSolicit,
  SOLICIT_FAMILY_IPV4,
  SOLICIT_FAMILY_IPV6,
  SolicitCode,
  type SolicitCodeValue,
  type SolicitView,
} from "../../shared/solicit/message";
import {
  checkSetting,
  SOLICIT_HANDLER_SETTINGS,
  type SolicitHandlerSettings,
  solicitHandlerDefaults,
} from "./solicit-config";

// ---------------------------------------------------------------------------------------------
// Configuration

/** The handler's settings (tiles/netlink/solicit-config.ts declares them, with their limits). */
export interface SolicitConfig extends SolicitHandlerSettings {
  /** Interfaces served by net tiles: solicits for any other ifindex are rejected. */
  netIfindexes: readonly number[];
}

const MAX_IFINDEX = 0x7fffffff;

/** Throws an Error naming the offending key (e.g. "solicit.rate_per_s must be a number from 0.001 to 1000000"). */
export function validateSolicitConfig(config: SolicitConfig): void {
  for (const [field, spec] of Object.entries(SOLICIT_HANDLER_SETTINGS)) {
    const expected = checkSetting(spec, config[field as keyof SolicitHandlerSettings]);
    if (expected !== undefined) throw new Error(`solicit.${spec.key} must be ${expected}`);
  }
  if (!Array.isArray(config.netIfindexes)) throw new Error("solicit.net_ifindexes must be a list of interface indexes");
  for (const i of config.netIfindexes) {
    if (typeof i !== "number" || !Number.isInteger(i) || i < 1 || i > MAX_IFINDEX) {
      throw new Error(`solicit.net_ifindexes must hold interface indexes from 1 to ${MAX_IFINDEX} (got ${String(i)})`);
    }
  }
}

/** Defaults filled in, then validated. */
export function solicitConfig(partial: Partial<SolicitConfig> & Pick<SolicitConfig, "netIfindexes">): SolicitConfig {
  const config: SolicitConfig = { ...solicitHandlerDefaults(), ...partial };
  validateSolicitConfig(config);
  return config;
}

// ---------------------------------------------------------------------------------------------
// Outcomes and metrics

/** What happened to one message: exactly one per handle() call. */
export const SolicitOutcome = {
  probe_sent: 0,
  probe_error: 1,
  already_known: 2,
  deduplicated: 3,
  rate_limited_host: 4,
  rate_limited_global: 5,
  pending_full_drop: 6,
  rejected_truncated: 7,
  rejected_misaligned: 8,
  rejected_bad_check: 9,
  rejected_reserved_nonzero: 10,
  rejected_unknown_ifindex: 11,
  rejected_zero_address: 12,
  rejected_this_network: 13,
  rejected_loopback: 14,
  rejected_multicast: 15,
  rejected_limited_broadcast: 16,
  rejected_reserved_address: 17,
  rejected_local_address: 18,
  rejected_subnet_broadcast: 19,
  rejected_not_on_link: 20,
  rejected_bad_version: 21,
  rejected_bad_family: 22,
  rejected_padding_nonzero: 23,
  rejected_unspecified6: 24,
  rejected_loopback6: 25,
  rejected_multicast6: 26,
  rejected_v4_mapped6: 27,
  rejected_link_local_no_interface6: 28,
  rejected_local_address6: 29,
  rejected_not_on_link6: 30,
} as const;
export type SolicitOutcomeName = keyof typeof SolicitOutcome;
export type SolicitOutcomeValue = (typeof SolicitOutcome)[SolicitOutcomeName];
export const SOLICIT_OUTCOME_COUNT = 31;
export const SOLICIT_OUTCOME_NAMES = Object.keys(SolicitOutcome) as SolicitOutcomeName[];
export const FIRST_REJECTED_OUTCOME = SolicitOutcome.rejected_truncated;

/** Counter name of each outcome, indexed by outcome value. */
const OUTCOME_COUNTERS = [
  "probes_sent",
  "probe_errors",
  "already_known",
  "deduplicated",
  "rate_limited_host",
  "rate_limited_global",
  "pending_full_drops",
  "rejected_truncated",
  "rejected_misaligned",
  "rejected_bad_check",
  "rejected_reserved_nonzero",
  "rejected_unknown_ifindex",
  "rejected_zero_address",
  "rejected_this_network",
  "rejected_loopback",
  "rejected_multicast",
  "rejected_limited_broadcast",
  "rejected_reserved_address",
  "rejected_local_address",
  "rejected_subnet_broadcast",
  "rejected_not_on_link",
  "rejected_bad_version",
  "rejected_bad_family",
  "rejected_padding_nonzero",
  "rejected_unspecified6",
  "rejected_loopback6",
  "rejected_multicast6",
  "rejected_v4_mapped6",
  "rejected_link_local_no_interface6",
  "rejected_local_address6",
  "rejected_not_on_link6",
] as const;

/** Every metric, in a stable order (the tile lays its metrics region out in this order). */
export const SOLICIT_METRIC_NAMES = [
  "received",
  ...OUTCOME_COUNTERS,
  /** Gauge: entries waiting for the kernel (deduplicating repeats). */
  "pending",
  /** Gauge: entries in the table (pending or only suppressing probes to their host). */
  "tracked",
  /** Calls whose clock went backwards or was not a finite number (the clock is held). */
  "clock_regressions",
] as const;
export type SolicitMetricName = (typeof SOLICIT_METRIC_NAMES)[number];
export type SolicitMetrics = Record<SolicitMetricName, number>;

export function solicitCounterName(outcome: SolicitOutcomeValue): (typeof OUTCOME_COUNTERS)[number] {
  return OUTCOME_COUNTERS[outcome];
}

const DECODE_OUTCOME: Record<Exclude<SolicitCodeValue, 0>, SolicitOutcomeValue> = {
  [SolicitCode.truncated]: SolicitOutcome.rejected_truncated,
  [SolicitCode.misaligned]: SolicitOutcome.rejected_misaligned,
  [SolicitCode.bad_check]: SolicitOutcome.rejected_bad_check,
  [SolicitCode.reserved_nonzero]: SolicitOutcome.rejected_reserved_nonzero,
  [SolicitCode.bad_version]: SolicitOutcome.rejected_bad_version,
  [SolicitCode.bad_family]: SolicitOutcome.rejected_bad_family,
  [SolicitCode.padding_nonzero]: SolicitOutcome.rejected_padding_nonzero,
};
const CLASS_OUTCOME: Record<Exclude<AddressClassValue, 0>, SolicitOutcomeValue> = {
  1: SolicitOutcome.rejected_zero_address,
  2: SolicitOutcome.rejected_this_network,
  3: SolicitOutcome.rejected_loopback,
  4: SolicitOutcome.rejected_multicast,
  5: SolicitOutcome.rejected_limited_broadcast,
  6: SolicitOutcome.rejected_reserved_address,
};
const CLASS6_OUTCOME: Record<Exclude<Address6ClassValue, 0>, SolicitOutcomeValue> = {
  1: SolicitOutcome.rejected_unspecified6,
  2: SolicitOutcome.rejected_loopback6,
  3: SolicitOutcome.rejected_multicast6,
  4: SolicitOutcome.rejected_v4_mapped6,
};

// ---------------------------------------------------------------------------------------------
// The handler

/** Sends one probe that makes the kernel resolve ip on ifindex; returns 0 or a negative errno. */
export type SolicitProbe = (ip: number, ifindex: number) => number;
/** The IPv6 probe: address as four u32 words (shared/ip6.ts); returns 0 or a negative errno. */
export type SolicitProbe6 = (ifindex: number, a0: number, a1: number, a2: number, a3: number) => number;

export interface SolicitHandlerOptions {
  config: SolicitConfig;
  env: SolicitEnvironment;
  probe: SolicitProbe;
  /** IPv6 state; without it every IPv6 solicit is refused as rejected_not_on_link6. */
  env6?: SolicitEnvironment6;
  /** IPv6 probe; without it IPv6 probes fail with -EAFNOSUPPORT (counted as probe_error). */
  probe6?: SolicitProbe6;
  /** Seed of the table's hash (default random, so senders cannot aim collisions). */
  hashSeed?: number;
  /** Test-only faults, for proving the fuzzer catches them. Never set in production. */
  plantedFaults?: {
    /** Firedancer's PR 11211: an entry the global rate limiter refused never expires. */
    leakRefusedEntries?: boolean;
  };
}

const NO_SLOT = -1;
const EAFNOSUPPORT = 97;
/** IPv6 state for a tile without it: nothing is local, on-link or known. */
const NO_ENV6: SolicitEnvironment6 = {
  isLocalAddress6: () => false,
  onLink6: () => false,
  neighborState6: () => 0,
};

export class SolicitHandler {
  readonly config: Readonly<SolicitConfig>;
  /** Longest time an entry can live after the last call that touched it. */
  readonly maxIntervalMs: number;

  private readonly env: SolicitEnvironment;
  private readonly probe: SolicitProbe;
  private readonly env6: SolicitEnvironment6;
  private readonly probe6: SolicitProbe6;
  private readonly netIfindexes: Set<number>;
  private readonly fields = createSolicitFields();
  private readonly leakRefused: boolean;

  private readonly counts = new Float64Array(SOLICIT_OUTCOME_COUNT);
  private received = 0;
  private clockRegressions = 0;
  /** The handler's clock: the largest finite time it was given (never goes back). */
  private now = 0;

  // Global token bucket; starts full (the first refill from -Infinity saturates it).
  private readonly ratePerMs: number;
  private tokens: number;
  private tokenTime = Number.NEGATIVE_INFINITY;

  // Entry pool: slot-indexed fields. A slot is in use iff inUse[slot] = 1.
  private readonly capacity: number;
  /** Keys: family (4, 6), ifindex and the address words (4 per slot; IPv4: ip, 0, 0, 0) as int32 bits. */
  private readonly keyFamily: Uint8Array;
  private readonly keyAddr: Int32Array;
  private readonly keyIfindex: Int32Array;
  private readonly inUse: Uint8Array;
  private readonly isPending: Uint8Array;
  /** Valid while isPending. */
  private readonly pendingUntil: Float64Array;
  /** -Infinity when the host is not suppressed. */
  private readonly suppressUntil: Float64Array;
  /** The entry's next deadline (its heap key). */
  private readonly deadline: Float64Array;
  private readonly freeSlots: Int32Array;
  private freeCount: number;
  private size = 0;
  private pendingCount = 0;

  // Hash index: linear probing over slot+1 (0 = empty cell), at most half full.
  private readonly index: Int32Array;
  private readonly indexMask: number;
  private readonly hashSeed: number;

  // Min-heap of slots by deadline.
  private readonly heap: Int32Array;
  private readonly heapPos: Int32Array;
  private heapSize = 0;

  constructor(options: SolicitHandlerOptions) {
    validateSolicitConfig(options.config);
    this.config = { ...options.config, netIfindexes: [...options.config.netIfindexes] };
    this.env = options.env;
    this.probe = options.probe;
    this.env6 = options.env6 ?? NO_ENV6;
    this.probe6 = options.probe6 ?? (() => -EAFNOSUPPORT);
    this.netIfindexes = new Set(options.config.netIfindexes);
    this.leakRefused = options.plantedFaults?.leakRefusedEntries === true;
    this.maxIntervalMs = Math.max(this.config.dedupeIntervalMs, this.config.perHostIntervalMs);
    this.ratePerMs = this.config.ratePerS / 1000;
    this.tokens = this.config.burst;

    const cap = this.config.capacity;
    this.capacity = cap;
    this.keyFamily = new Uint8Array(cap);
    this.keyAddr = new Int32Array(cap * 4);
    this.keyIfindex = new Int32Array(cap);
    this.inUse = new Uint8Array(cap);
    this.isPending = new Uint8Array(cap);
    this.pendingUntil = new Float64Array(cap);
    this.suppressUntil = new Float64Array(cap).fill(Number.NEGATIVE_INFINITY);
    this.deadline = new Float64Array(cap);
    this.freeSlots = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.freeSlots[i] = cap - 1 - i;
    this.freeCount = cap;
    let cells = 2;
    while (cells < cap * 2) cells *= 2;
    this.index = new Int32Array(cells);
    this.indexMask = cells - 1;
    this.hashSeed = (options.hashSeed ?? Math.floor(Math.random() * 0x100000000)) | 0;
    this.heap = new Int32Array(cap);
    this.heapPos = new Int32Array(cap).fill(NO_SLOT);
  }

  /** Processes the message at byteOffset of view at time nowMs (monotonic ms). */
  handle(view: SolicitView, byteOffset: number, nowMs: number): SolicitOutcomeValue {
    const now = this.advanceClock(nowMs);
    this.received++;
    const code = decodeSolicit(view, byteOffset, this.fields);
    if (code !== SolicitCode.ok) return this.count(DECODE_OUTCOME[code]);
    // From here on addresses and ifindexes travel as int32 bit patterns (see SolicitEnvironment).
    const f = this.fields;
    if (f.family === SOLICIT_FAMILY_IPV4) return this.process(f.ip | 0, f.ifindex | 0, now);
    return this.process6(f.ifindex | 0, f.a0 | 0, f.a1 | 0, f.a2 | 0, f.a3 | 0, now);
  }

  /**
   * A kernel neighbor event. A usable state (the kernel has the MAC) ends the wait of a pending
   * entry; per-host suppression stays. Pass deleted = true for RTM_DELNEIGH: a deletion resolves
   * nothing, whatever state the deleted entry had.
   */
  onNeighborEvent(ifindex: number, ip: number, state: number, deleted = false): void {
    if (deleted || !isUsableNeighState(state)) return;
    this.resolved(this.find(SOLICIT_FAMILY_IPV4, ifindex | 0, ip | 0, 0, 0, 0));
  }

  /** The IPv6 twin of onNeighborEvent (RTM_NEWNEIGH / RTM_DELNEIGH of family AF_INET6). */
  onNeighbor6Event(
    ifindex: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    state: number,
    deleted = false,
  ): void {
    if (deleted || !isUsableNeighState(state)) return;
    this.resolved(this.find(SOLICIT_FAMILY_IPV6, ifindex | 0, a0 | 0, a1 | 0, a2 | 0, a3 | 0));
  }

  private resolved(slot: number): void {
    if (slot === NO_SLOT || this.isPending[slot] === 0) return;
    this.isPending[slot] = 0;
    this.pendingCount--;
    this.reschedule(slot);
  }

  /** Expires what is due at nowMs. */
  tick(nowMs: number): void {
    this.advanceClock(nowMs);
  }

  get pending(): number {
    return this.pendingCount;
  }

  get tracked(): number {
    return this.size;
  }

  /** The metrics as a plain object (allocates: for housekeeping and tests). */
  metrics(): SolicitMetrics {
    const out = {} as SolicitMetrics;
    SOLICIT_METRIC_NAMES.forEach((name, i) => {
      out[name] = this.metricAt(i);
    });
    return out;
  }

  /** Writes every metric into out[0 ..] in SOLICIT_METRIC_NAMES order, without allocating. */
  readMetrics(out: Float64Array | number[]): void {
    for (let i = 0; i < SOLICIT_METRIC_NAMES.length; i++) out[i] = this.metricAt(i);
  }

  private metricAt(i: number): number {
    if (i === 0) return this.received;
    if (i <= SOLICIT_OUTCOME_COUNT) return this.counts[i - 1];
    if (i === SOLICIT_OUTCOME_COUNT + 1) return this.pendingCount;
    if (i === SOLICIT_OUTCOME_COUNT + 2) return this.size;
    return this.clockRegressions;
  }

  /**
   * Checks every structural invariant (for tests and the fuzzer; O(capacity)). Returns a
   * description of the first violation, or null.
   */
  checkInvariants(nowMs: number): string | null {
    const now = Number.isFinite(nowMs) && nowMs > this.now ? nowMs : this.now;
    const { dedupeIntervalMs, perHostIntervalMs, burst } = this.config;
    if (this.size > this.capacity) return `tracked ${this.size} > capacity ${this.capacity}`;
    if (this.pendingCount > this.size) return `pending ${this.pendingCount} > tracked ${this.size}`;
    if (this.size + this.freeCount !== this.capacity)
      return `tracked ${this.size} + free ${this.freeCount} != capacity`;
    if (this.heapSize !== this.size) return `heap holds ${this.heapSize} entries, table ${this.size}`;
    let live = 0;
    let pendingSeen = 0;
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.inUse[slot] === 0) continue;
      live++;
      const name = `entry ${this.keyIfindex[slot]}/${this.keyText(slot)}`;
      if (this.findSlotKey(slot) !== slot) return `${name} is not reachable by its key`;
      if (this.isPending[slot] !== 0) {
        pendingSeen++;
        if (!(this.pendingUntil[slot] <= now + dedupeIntervalMs)) {
          return `${name} pending until ${this.pendingUntil[slot]}, later than now ${now} + dedupe ${dedupeIntervalMs}`;
        }
      }
      if (this.suppressUntil[slot] > now + perHostIntervalMs) {
        return `${name} suppressed until ${this.suppressUntil[slot]}, later than now ${now} + per-host ${perHostIntervalMs}`;
      }
      const pos = this.heapPos[slot];
      if (pos < 0 || pos >= this.heapSize || this.heap[pos] !== slot) return `${name} is not scheduled to expire`;
      if (this.deadline[slot] !== this.nextDeadline(slot)) return `${name} is scheduled at a stale deadline`;
      if (!(this.deadline[slot] <= now + this.maxIntervalMs)) return `${name} expires later than now + max interval`;
    }
    if (live !== this.size) return `${live} slots in use, tracked says ${this.size}`;
    if (pendingSeen !== this.pendingCount) return `${pendingSeen} pending entries, gauge says ${this.pendingCount}`;
    for (let i = 1; i < this.heapSize; i++) {
      if (this.deadline[this.heap[(i - 1) >> 1]] > this.deadline[this.heap[i]]) return `heap order broken at ${i}`;
    }
    let outcomes = 0;
    for (let i = 0; i < SOLICIT_OUTCOME_COUNT; i++) outcomes += this.counts[i];
    if (outcomes !== this.received) return `received ${this.received} != sum of outcomes ${outcomes}`;
    if (!(this.tokens <= burst) || !(this.tokens >= 0)) return `token bucket holds ${this.tokens}, burst ${burst}`;
    return null;
  }

  // ---- the decision path ----

  /** ip and ifindex are int32 bit patterns; a valid ifindex is positive either way. */
  private process(ip: number, ifindex: number, now: number): SolicitOutcomeValue {
    if (!this.netIfindexes.has(ifindex)) return this.count(SolicitOutcome.rejected_unknown_ifindex);
    const cls = classifyAddress(ip);
    if (cls !== 0) return this.count(CLASS_OUTCOME[cls]);
    if (this.env.isLocalAddress(ip)) return this.count(SolicitOutcome.rejected_local_address);
    if (this.env.isSubnetBroadcast(ifindex, ip)) return this.count(SolicitOutcome.rejected_subnet_broadcast);
    if (!this.env.onLink(ifindex, ip)) return this.count(SolicitOutcome.rejected_not_on_link);
    if (isUsableNeighState(this.env.neighborState(ifindex, ip))) return this.count(SolicitOutcome.already_known);
    return this.admit(SOLICIT_FAMILY_IPV4, ifindex, ip, 0, 0, 0, now);
  }

  /** The IPv6 checks, the same classes as IPv4 (words and ifindex as int32 bits). */
  private process6(ifindex: number, a0: number, a1: number, a2: number, a3: number, now: number): SolicitOutcomeValue {
    // A link-local address means nothing without its interface: say so rather than "unknown ifindex".
    if (ifindex === 0 && isIp6LinkLocal(a0)) return this.count(SolicitOutcome.rejected_link_local_no_interface6);
    if (!this.netIfindexes.has(ifindex)) return this.count(SolicitOutcome.rejected_unknown_ifindex);
    const cls = classifyAddress6(a0, a1, a2, a3);
    if (cls !== 0) return this.count(CLASS6_OUTCOME[cls]);
    const env = this.env6;
    if (env.isLocalAddress6(a0, a1, a2, a3)) return this.count(SolicitOutcome.rejected_local_address6);
    if (!env.onLink6(ifindex, a0, a1, a2, a3)) return this.count(SolicitOutcome.rejected_not_on_link6);
    if (isUsableNeighState(env.neighborState6(ifindex, a0, a1, a2, a3))) {
      return this.count(SolicitOutcome.already_known);
    }
    return this.admit(SOLICIT_FAMILY_IPV6, ifindex, a0, a1, a2, a3, now);
  }

  /** Dedupe, per-host suppression, the global bucket, then the probe (IPv4: a0 is the address). */
  private admit(
    family: number,
    ifindex: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    now: number,
  ): SolicitOutcomeValue {
    let slot = this.find(family, ifindex, a0, a1, a2, a3);
    if (slot === NO_SLOT) {
      // Due entries were expired by advanceClock, so a full table is really full.
      if (this.size === this.capacity) return this.count(SolicitOutcome.pending_full_drop);
      slot = this.insert(family, ifindex, a0, a1, a2, a3);
    } else if (this.isPending[slot] !== 0) {
      return this.count(SolicitOutcome.deduplicated);
    }
    // From here the entry is pending whatever happens, and expires dedupeIntervalMs from now.
    this.isPending[slot] = 1;
    this.pendingCount++;
    this.pendingUntil[slot] = now + this.config.dedupeIntervalMs;
    this.reschedule(slot);

    if (this.suppressUntil[slot] > now) return this.count(SolicitOutcome.rate_limited_host);
    if (!this.takeToken(now)) {
      if (this.leakRefused) this.plantLeak(slot);
      return this.count(SolicitOutcome.rate_limited_global);
    }
    this.suppressUntil[slot] = now + this.config.perHostIntervalMs;
    this.reschedule(slot);
    let rc: number;
    try {
      rc =
        family === SOLICIT_FAMILY_IPV4
          ? this.probe(a0 >>> 0, ifindex)
          : this.probe6(ifindex, a0 >>> 0, a1 >>> 0, a2 >>> 0, a3 >>> 0);
    } catch (err) {
      // A throwing probe is a bug in the tile, not bad input: keep the counters whole, rethrow.
      this.count(SolicitOutcome.probe_error);
      throw err;
    }
    return this.count(rc === 0 ? SolicitOutcome.probe_sent : SolicitOutcome.probe_error);
  }

  private count(outcome: SolicitOutcomeValue): SolicitOutcomeValue {
    this.counts[outcome]++;
    return outcome;
  }

  private advanceClock(nowMs: number): number {
    if (Number.isFinite(nowMs) && nowMs >= this.now) this.now = nowMs;
    else this.clockRegressions++;
    this.expireDue(this.now);
    return this.now;
  }

  private takeToken(now: number): boolean {
    this.tokens = Math.min(this.config.burst, this.tokens + (now - this.tokenTime) * this.ratePerMs);
    this.tokenTime = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private plantLeak(slot: number): void {
    // The bug being reproduced: a placeholder nobody will ever expire.
    this.pendingUntil[slot] = Number.POSITIVE_INFINITY;
    this.heapRemove(this.heapPos[slot]);
  }

  // ---- expiry ----

  private nextDeadline(slot: number): number {
    const p = this.isPending[slot] !== 0 ? this.pendingUntil[slot] : Number.POSITIVE_INFINITY;
    const s =
      this.suppressUntil[slot] === Number.NEGATIVE_INFINITY ? Number.POSITIVE_INFINITY : this.suppressUntil[slot];
    return Math.min(p, s);
  }

  private expireDue(now: number): void {
    while (this.heapSize > 0) {
      const slot = this.heap[0];
      if (this.deadline[slot] > now) return;
      if (this.isPending[slot] !== 0 && this.pendingUntil[slot] <= now) {
        this.isPending[slot] = 0;
        this.pendingCount--;
      }
      if (this.suppressUntil[slot] <= now) this.suppressUntil[slot] = Number.NEGATIVE_INFINITY;
      this.reschedule(slot);
    }
  }

  /** Re-keys slot in the heap, or frees it when nothing remains to wait for. */
  private reschedule(slot: number): void {
    const next = this.nextDeadline(slot);
    if (next === Number.POSITIVE_INFINITY) {
      this.remove(slot);
      return;
    }
    this.deadline[slot] = next;
    const pos = this.heapPos[slot];
    if (pos === NO_SLOT) {
      const at = this.heapSize++;
      this.heap[at] = slot;
      this.heapPos[slot] = at;
      this.siftUp(at);
    } else {
      this.siftDown(this.siftUp(pos));
    }
  }

  // ---- table ----

  private home(family: number, ifindex: number, a0: number, a1: number, a2: number, a3: number): number {
    let h = Math.imul(a0 ^ this.hashSeed, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ a1, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ a2, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ a3, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ ifindex ^ (family << 24), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.indexMask;
  }

  private homeOf(slot: number): number {
    const k = this.keyAddr;
    const w = slot * 4;
    return this.home(this.keyFamily[slot], this.keyIfindex[slot], k[w], k[w + 1], k[w + 2], k[w + 3]);
  }

  private find(family: number, ifindex: number, a0: number, a1: number, a2: number, a3: number): number {
    const k = this.keyAddr;
    for (let i = this.home(family, ifindex, a0, a1, a2, a3); ; i = (i + 1) & this.indexMask) {
      const cell = this.index[i];
      if (cell === 0) return NO_SLOT;
      const slot = cell - 1;
      const w = slot * 4;
      if (
        k[w] === a0 &&
        k[w + 1] === a1 &&
        k[w + 2] === a2 &&
        k[w + 3] === a3 &&
        this.keyIfindex[slot] === ifindex &&
        this.keyFamily[slot] === family
      ) {
        return slot;
      }
    }
  }

  /** find() with a slot's own key (invariant checks). */
  private findSlotKey(slot: number): number {
    const k = this.keyAddr;
    const w = slot * 4;
    return this.find(this.keyFamily[slot], this.keyIfindex[slot], k[w], k[w + 1], k[w + 2], k[w + 3]);
  }

  /** The slot's address as text (invariant messages only: allocates). */
  private keyText(slot: number): string {
    const k = this.keyAddr;
    const w = slot * 4;
    if (this.keyFamily[slot] === SOLICIT_FAMILY_IPV4) return ipToString(k[w] >>> 0);
    return formatIp6(k[w] >>> 0, k[w + 1] >>> 0, k[w + 2] >>> 0, k[w + 3] >>> 0);
  }

  private insert(family: number, ifindex: number, a0: number, a1: number, a2: number, a3: number): number {
    const slot = this.freeSlots[--this.freeCount];
    this.inUse[slot] = 1;
    const w = slot * 4;
    this.keyFamily[slot] = family;
    this.keyAddr[w] = a0;
    this.keyAddr[w + 1] = a1;
    this.keyAddr[w + 2] = a2;
    this.keyAddr[w + 3] = a3;
    this.keyIfindex[slot] = ifindex;
    this.isPending[slot] = 0;
    this.suppressUntil[slot] = Number.NEGATIVE_INFINITY;
    this.heapPos[slot] = NO_SLOT;
    let i = this.home(family, ifindex, a0, a1, a2, a3);
    while (this.index[i] !== 0) i = (i + 1) & this.indexMask;
    this.index[i] = slot + 1;
    this.size++;
    return slot;
  }

  private remove(slot: number): void {
    if (this.isPending[slot] !== 0) {
      this.isPending[slot] = 0;
      this.pendingCount--;
    }
    if (this.heapPos[slot] !== NO_SLOT) this.heapRemove(this.heapPos[slot]);
    // Backward-shift deletion keeps every probe sequence gap-free without tombstones.
    let hole = this.homeOf(slot);
    while (this.index[hole] !== slot + 1) hole = (hole + 1) & this.indexMask;
    for (let j = (hole + 1) & this.indexMask; this.index[j] !== 0; j = (j + 1) & this.indexMask) {
      const other = this.index[j] - 1;
      const h = this.homeOf(other);
      // Move the entry at j into the hole unless its home lies cyclically in (hole, j].
      const homeInRange = hole <= j ? h > hole && h <= j : h > hole || h <= j;
      if (!homeInRange) {
        this.index[hole] = this.index[j];
        hole = j;
      }
    }
    this.index[hole] = 0;
    this.inUse[slot] = 0;
    this.freeSlots[this.freeCount++] = slot;
    this.size--;
  }

  // ---- heap ----

  private siftUp(pos: number): number {
    const slot = this.heap[pos];
    const key = this.deadline[slot];
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      const p = this.heap[parent];
      if (this.deadline[p] <= key) break;
      this.heap[pos] = p;
      this.heapPos[p] = pos;
      pos = parent;
    }
    this.heap[pos] = slot;
    this.heapPos[slot] = pos;
    return pos;
  }

  private siftDown(pos: number): void {
    const slot = this.heap[pos];
    const key = this.deadline[slot];
    for (;;) {
      const left = pos * 2 + 1;
      if (left >= this.heapSize) break;
      const right = left + 1;
      const child =
        right < this.heapSize && this.deadline[this.heap[right]] < this.deadline[this.heap[left]] ? right : left;
      const c = this.heap[child];
      if (this.deadline[c] >= key) break;
      this.heap[pos] = c;
      this.heapPos[c] = pos;
      pos = child;
    }
    this.heap[pos] = slot;
    this.heapPos[slot] = pos;
  }

  private heapRemove(pos: number): void {
    const slot = this.heap[pos];
    this.heapPos[slot] = NO_SLOT;
    const last = this.heap[--this.heapSize];
    if (pos === this.heapSize) return;
    this.heap[pos] = last;
    this.heapPos[last] = pos;
    this.siftDown(this.siftUp(pos));
  }
}
