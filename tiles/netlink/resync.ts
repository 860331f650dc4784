// Convergent resynchronisation of netbase with the kernel, for any order of dumps, overruns and
// events. One attempt:
//   1. drain the event socket until it is empty, applying what it holds. Whatever was lost in an
//      overrun was lost before this point, so the dump below covers it;
//   2. dump links, then addresses, routes and neighbors of IPv4 and of IPv6. Address and neighbor
//      dumps (and IPv6 route dumps, which restart from the root and skip by count when the tree
//      changed) are resumed by position in the kernel and can skip an entry that another change
//      shifted: they are taken twice and
//      merged (an entry counts as present if either dump saw it), and the attempt is "confirmed"
//      only when both saw the same entries;
//   3. apply the merged dump as a diff (readers never see an emptied table);
//   4. drain the socket again, applying every event in kernel order over the dump. Every change
//      after step 1 has its event here, each carrying the entry's whole new state, so an entry that
//      changed during the dump ends in its latest state, and one deleted during the dump stays
//      deleted (its delete event comes after the add event it may follow).
// The attempt converged when step 4 saw no overrun (no event lost after the dump) and step 2 was
// confirmed. Otherwise netbase stays as good as the last dump plus events, `pending` stays set and
// the attempt is retried with exponential backoff (bounded, so that once the kernel stops changing
// netbase is equal within about one attempt plus maxBackoffMs). No rate of change is an error.
import type { NetbaseWriter } from "../../shared/netbase/writer";
import { addr6Key, type EventReader, type NetlinkClient, neigh6Key, route6Key } from "../../shared/netlink";
import type { AddrRecord, NeighRecord, NetEvent, NetSnapshot } from "../../shared/netmodel";

export interface ResyncOptions {
  /** First retry delay after an attempt that did not converge. Default 10 ms. */
  minBackoffMs?: number;
  /** Retry delay ceiling. Default 200 ms. */
  maxBackoffMs?: number;
  /** Datagrams one drain (step 1 or 4) reads at most before the attempt is deemed not converged
   *  (a producer outrunning us). Default 65,536. */
  maxDrainDatagrams?: number;
}

export type AttemptOutcome = "converged" | "changing" | "overrun" | "dump-failed";

export interface AttemptReport {
  outcome: AttemptOutcome;
  /** Differences between netbase (after step 1) and the dump, when asked for (verification). */
  divergences: string[];
  added: number;
  removed: number;
  changed: number;
  durationMs: number;
  /** Why the dump failed, when it did. */
  error?: string;
}

export class ResyncController {
  /** netbase may differ from the kernel (an overrun, an unconfirmed dump, a link flush). */
  pending = true;
  attempts = 0;
  /** Attempts that did not converge and were retried. */
  retries = 0;
  private nextAttemptMs = 0;
  private backoffMs = 0;
  private reasonText = "start";
  private inAttempt = false;
  /** A request arrived during an attempt (e.g. a link went down: the kernel flushed routes the dump
   *  may still hold, without events): that attempt cannot count as converged. */
  private requestedDuringAttempt = false;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxDrain: number;

  constructor(
    private readonly client: NetlinkClient,
    private readonly events: EventReader,
    private readonly writer: NetbaseWriter,
    private readonly onEvent: (ev: NetEvent, nlmsgFlags: number) => void,
    options: ResyncOptions = {},
  ) {
    this.minBackoffMs = options.minBackoffMs ?? 10;
    this.maxBackoffMs = options.maxBackoffMs ?? 200;
    this.maxDrain = options.maxDrainDatagrams ?? 65_536;
  }

  get reason(): string {
    return this.reasonText;
  }

  /** netbase may have diverged: resync at the next due(). */
  request(reason: string, nowMs: number): void {
    if (this.inAttempt) {
      this.requestedDuringAttempt = true;
      this.reasonText = reason;
      return;
    }
    if (this.pending) return;
    this.pending = true;
    this.reasonText = reason;
    this.backoffMs = 0;
    this.nextAttemptMs = nowMs;
  }

  due(nowMs: number): boolean {
    return this.pending && nowMs >= this.nextAttemptMs;
  }

  /** One attempt (see the top of this file). With `verify`, also reports how netbase differed from
   *  the dump before it was applied. */
  attempt(nowMs: number, verify = false): AttemptReport {
    const started = performance.now();
    this.attempts++;
    this.inAttempt = true;
    this.requestedDuringAttempt = false;
    try {
      return this.attemptOnce(nowMs, verify, started);
    } finally {
      this.inAttempt = false;
    }
  }

  private attemptOnce(nowMs: number, verify: boolean, started: number): AttemptReport {
    const report: AttemptReport = {
      outcome: "converged",
      divergences: [],
      added: 0,
      removed: 0,
      changed: 0,
      durationMs: 0,
    };
    if (!this.drainAll()) report.outcome = "overrun";
    let snapshot: { snap: NetSnapshot; confirmed: boolean } | undefined;
    try {
      snapshot = this.dumpMerged();
    } catch (e) {
      report.outcome = "dump-failed";
      report.error = (e as Error).message;
    }
    if (snapshot) {
      if (verify) report.divergences = this.writer.diff(snapshot.snap);
      Object.assign(report, this.writer.resync(snapshot.snap));
      const clean = this.drainAll();
      if (report.outcome === "converged") {
        if (!clean) report.outcome = "overrun";
        else if (!snapshot.confirmed) report.outcome = "changing";
      }
    }
    report.durationMs = performance.now() - started;
    this.settle(report.outcome, nowMs + report.durationMs);
    return report;
  }

  private settle(outcome: AttemptOutcome, nowMs: number): void {
    if (this.requestedDuringAttempt) {
      // Not this attempt's fault: run the next one at once.
      this.pending = true;
      this.nextAttemptMs = nowMs;
      return;
    }
    if (outcome === "converged") {
      this.pending = false;
      this.backoffMs = 0;
      return;
    }
    this.pending = true;
    this.retries++;
    this.reasonText = outcome;
    this.backoffMs = Math.min(this.maxBackoffMs, Math.max(this.minBackoffMs, this.backoffMs * 2));
    this.nextAttemptMs = nowMs + this.backoffMs;
  }

  /** Reads and applies events until the socket is empty; false if an overrun was seen (or the
   *  bound was reached). */
  private drainAll(): boolean {
    let clean = true;
    for (let read = 0; read < this.maxDrain; ) {
      const r = this.events.drain(64, this.onEvent, 0);
      if (r.overrun) clean = false;
      if (r.datagrams === 0) return clean;
      read += r.datagrams;
    }
    return false;
  }

  private dumpMerged(): { snap: NetSnapshot; confirmed: boolean } {
    const c = this.client;
    const links = c.dump("links");
    const addrs = mergeDumps(c.dump("addrs"), c.dump("addrs"), addrKey);
    const routes = c.dump("routes");
    const neighs = mergeDumps(c.dump("neighs"), c.dump("neighs"), neighKey);
    const addrs6 = mergeDumps(c.dump("addrs6"), c.dump("addrs6"), addr6Key);
    const routes6 = mergeDumps(c.dump("routes6"), c.dump("routes6"), route6Key);
    const neighs6 = mergeDumps(c.dump("neighs6"), c.dump("neighs6"), neigh6Key);
    return {
      snap: {
        links,
        addrs: addrs.records,
        routes,
        neighs: neighs.records,
        addrs6: addrs6.records,
        routes6: routes6.records,
        neighs6: neighs6.records,
      },
      confirmed: addrs.confirmed && neighs.confirmed && addrs6.confirmed && routes6.confirmed && neighs6.confirmed,
    };
  }
}

const addrKey = (a: AddrRecord): string => `${a.ifindex}/${a.address}/${a.prefixLen}`;
const neighKey = (n: NeighRecord): string => `${n.ifindex}/${n.ip}`;

/** Entries seen by either dump (the later one's state when both saw it); confirmed when both saw
 *  the same entries, each once. */
export function mergeDumps<T>(
  first: readonly T[],
  second: readonly T[],
  key: (record: T) => string,
): { records: T[]; confirmed: boolean } {
  const merged = new Map<string, T>();
  for (const r of first) merged.set(key(r), r);
  const firstCount = merged.size;
  let confirmed = firstCount === first.length && second.length === first.length;
  const seen = new Set<string>();
  for (const r of second) {
    const k = key(r);
    if (!merged.has(k) || seen.has(k)) confirmed = false;
    seen.add(k);
    merged.set(k, r);
  }
  return { records: [...merged.values()], confirmed };
}
