// A deliberately naive restatement of the solicit handler's rules (a Map, full scans, no typed
// arrays), used by the fuzzer as a differential oracle: after every step the real handler must
// have produced the outcome this model predicts. Written from the specification, not the code.

import { AddressClass, classifyAddress } from "../../../shared/solicit/address";
import { isUsableNeighState, type SolicitEnvironment } from "../../../shared/solicit/environment";
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
    private readonly env: SolicitEnvironment,
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

  /** The outcome the handler must report for `bytes` (the message's 16 bytes when framing is ok). */
  message(framing: ModelFraming, bytes: Uint8Array, nowMs: number): SolicitOutcomeName {
    const now = this.clock(nowMs);
    if (framing === "truncated") return "rejected_truncated";
    if (framing === "misaligned") return "rejected_misaligned";
    if (bytes.length < SOLICIT_BYTES) throw new Error("model: a framed message needs 16 bytes");
    const ip = u32le(bytes, 0);
    const ifindex = u32le(bytes, 4);
    const reserved = u32le(bytes, 8);
    if (u32le(bytes, 12) !== solicitCheck(ip, ifindex, reserved)) return "rejected_bad_check";
    if (reserved !== 0) return "rejected_reserved_nonzero";
    if (!this.nets.has(ifindex)) return "rejected_unknown_ifindex";
    const cls = classifyAddress(ip);
    if (cls !== AddressClass.unicast) return ADDRESS_REJECTS[cls];
    if (this.env.isLocalAddress(ip)) return "rejected_local_address";
    if (this.env.isSubnetBroadcast(ifindex, ip)) return "rejected_subnet_broadcast";
    if (!this.env.onLink(ifindex, ip)) return "rejected_not_on_link";
    if (isUsableNeighState(this.env.neighborState(ifindex, ip))) return "already_known";

    const key = `${ifindex}/${ip}`;
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
    if (deleted || !isUsableNeighState(state)) return;
    const key = `${ifindex >>> 0}/${ip >>> 0}`;
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.pendingUntil = undefined;
    if (entry.suppressUntil === undefined) this.entries.delete(key);
  }
}
