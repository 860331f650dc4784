// A deliberately naive restatement of the solicit handler's rules (a Map, full scans, no typed
// arrays), used by the fuzzer as a differential oracle: after every step the real handler must
// have produced the outcome this model predicts. Written from the specification, not the code.

import { isIp6LinkLocal, isIp6Loopback, isIp6Multicast, isIp6Unspecified } from "../../../shared/ip6";
import { AddressClass, classifyAddress } from "../../../shared/solicit/address";
import {
  isUsableNeighState,
  type SolicitEnvironment,
  type SolicitEnvironment6,
} from "../../../shared/solicit/environment";
import { SOLICIT_BYTES, solicitCheck } from "../../../shared/solicit/message";
import type { SolicitConfig, SolicitOutcomeName } from "../solicit-handler";

interface ModelEntry {
  /** undefined when not waiting for the kernel. */
  pendingUntil: number | undefined;
  /** undefined when probes to the host are not suppressed. */
  suppressUntil: number | undefined;
}

/** How the harness presented the message: what the decoder can see before reading words. */
export type ModelFraming = "ok" | "truncated" | "misaligned";

const ADDRESS_REJECTS: Record<number, SolicitOutcomeName> = {
  [AddressClass.zero_address]: "rejected_zero_address",
  [AddressClass.this_network]: "rejected_this_network",
  [AddressClass.loopback]: "rejected_loopback",
  [AddressClass.multicast]: "rejected_multicast",
  [AddressClass.limited_broadcast]: "rejected_limited_broadcast",
  [AddressClass.reserved_address]: "rejected_reserved_address",
};

function u32le(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

export class SolicitReferenceModel {
  now = 0;
  clockRegressions = 0;
  readonly entries = new Map<string, ModelEntry>();
  private tokens: number;
  private tokenTime = Number.NEGATIVE_INFINITY;
  private readonly nets: ReadonlySet<number>;

  constructor(
    private readonly config: SolicitConfig,
    private readonly env: SolicitEnvironment & SolicitEnvironment6,
  ) {
    this.tokens = config.burst;
    this.nets = new Set(config.netIfindexes);
  }

  get pending(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.pendingUntil !== undefined) n++;
    return n;
  }

  get tracked(): number {
    return this.entries.size;
  }

  clock(nowMs: number): number {
    if (Number.isFinite(nowMs) && nowMs >= this.now) this.now = nowMs;
    else this.clockRegressions++;
    // Deleting the current entry while iterating a Map is well-defined in JS.
    for (const [key, e] of this.entries) {
      if (e.pendingUntil !== undefined && e.pendingUntil <= this.now) e.pendingUntil = undefined;
      if (e.suppressUntil !== undefined && e.suppressUntil <= this.now) e.suppressUntil = undefined;
      if (e.pendingUntil === undefined && e.suppressUntil === undefined) this.entries.delete(key);
    }
    return this.now;
  }

  /** The outcome the handler must report for `bytes` (the message's 32 bytes when framing is ok). */
  message(framing: ModelFraming, bytes: Uint8Array, nowMs: number): SolicitOutcomeName {
    const now = this.clock(nowMs);
    if (framing === "truncated") return "rejected_truncated";
    if (framing === "misaligned") return "rejected_misaligned";
    if (bytes.length < SOLICIT_BYTES) throw new Error("model: a framed message needs 32 bytes");
    const w = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => u32le(bytes, i * 4));
    const [head, ifindex, a0, a1, a2, a3, reserved, check] = w as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    if (check !== solicitCheck(head, ifindex, a0, a1, a2, a3, reserved)) return "rejected_bad_check";
    if (head >>> 8 !== 2) return "rejected_bad_version";
    if (head !== 0x204 && head !== 0x206) return "rejected_bad_family";
    if (reserved !== 0) return "rejected_reserved_nonzero";
    if (head === 0x204) {
      if (a1 !== 0 || a2 !== 0 || a3 !== 0) return "rejected_padding_nonzero";
      const verdict = this.check4(ifindex, a0);
      return verdict ?? this.admit(`4/${ifindex}/${a0}`, now);
    }
    const verdict = this.check6(ifindex, a0, a1, a2, a3);
    return verdict ?? this.admit(`6/${ifindex}/${a0}:${a1}:${a2}:${a3}`, now);
  }

  private check4(ifindex: number, ip: number): SolicitOutcomeName | undefined {
    if (!this.nets.has(ifindex)) return "rejected_unknown_ifindex";
    const cls = classifyAddress(ip);
    if (cls !== AddressClass.unicast) return ADDRESS_REJECTS[cls];
    if (this.env.isLocalAddress(ip)) return "rejected_local_address";
    if (this.env.isSubnetBroadcast(ifindex, ip)) return "rejected_subnet_broadcast";
    if (!this.env.onLink(ifindex, ip)) return "rejected_not_on_link";
    if (isUsableNeighState(this.env.neighborState(ifindex, ip))) return "already_known";
    return undefined;
  }

  private check6(ifindex: number, a0: number, a1: number, a2: number, a3: number): SolicitOutcomeName | undefined {
    if (ifindex === 0 && isIp6LinkLocal(a0)) return "rejected_link_local_no_interface6";
    if (!this.nets.has(ifindex)) return "rejected_unknown_ifindex";
    if (isIp6Unspecified(a0, a1, a2, a3)) return "rejected_unspecified6";
    if (isIp6Loopback(a0, a1, a2, a3)) return "rejected_loopback6";
    if (isIp6Multicast(a0)) return "rejected_multicast6";
    if (a0 === 0 && a1 === 0 && a2 === 0xffff) return "rejected_v4_mapped6";
    if (this.env.isLocalAddress6(a0, a1, a2, a3)) return "rejected_local_address6";
    if (!this.env.onLink6(ifindex, a0, a1, a2, a3)) return "rejected_not_on_link6";
    if (isUsableNeighState(this.env.neighborState6(ifindex, a0, a1, a2, a3))) return "already_known";
    return undefined;
  }

  /** Dedupe, per-host, then the global bucket: the same for both families. */
  private admit(key: string, now: number): SolicitOutcomeName {
    let entry = this.entries.get(key);
    if (entry?.pendingUntil !== undefined) return "deduplicated";
    if (!entry) {
      if (this.entries.size >= this.config.capacity) return "pending_full_drop";
      entry = { pendingUntil: undefined, suppressUntil: undefined };
      this.entries.set(key, entry);
    }
    entry.pendingUntil = now + this.config.dedupeIntervalMs;
    if (entry.suppressUntil !== undefined) return "rate_limited_host";
    this.tokens = Math.min(this.config.burst, this.tokens + (now - this.tokenTime) * (this.config.ratePerS / 1000));
    this.tokenTime = now;
    if (this.tokens < 1) return "rate_limited_global";
    this.tokens -= 1;
    entry.suppressUntil = now + this.config.perHostIntervalMs;
    return "probe_sent"; // or probe_error: the harness knows what its probe returned
  }

  neighborEvent(ifindex: number, ip: number, state: number, deleted: boolean): void {
    this.resolved(`4/${ifindex >>> 0}/${ip >>> 0}`, state, deleted);
  }

  neighbor6Event(ifindex: number, a: Uint32Array, state: number, deleted: boolean): void {
    this.resolved(`6/${ifindex >>> 0}/${a[0]}:${a[1]}:${a[2]}:${a[3]}`, state, deleted);
  }

  private resolved(key: string, state: number, deleted: boolean): void {
    if (deleted || !isUsableNeighState(state)) return;
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.pendingUntil = undefined;
    if (entry.suppressUntil === undefined) this.entries.delete(key);
  }
}
