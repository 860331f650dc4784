// The netlink tile's life once set up: kernel events into netbase, convergent resyncs (see
// resync.ts) after any doubt, periodic verification, solicits from the net tiles, metrics. Built
// from already-open sockets and mapped regions, so tests run it in-process against a namespace.
import type { Logger } from "../../shared/log";
import { type MetricIndexes, type MetricName, metricIndexes } from "../../shared/metrics/keys";
import type { MetricsWriter } from "../../shared/metrics/writer";
import type { NetbaseWriter } from "../../shared/netbase/writer";
import {
  type EventReader,
  isRoute6Replace,
  malformedTotal,
  type NetlinkClient,
  type NetlinkCounters,
} from "../../shared/netlink";
import type { NetEvent, Route6Record } from "../../shared/netmodel";
import type { RingConsumer } from "../../shared/ring/consumer";
import type { TileBody } from "../../shared/tile/runtime";
import { netbaseFullness } from "./capacity";
import { netlinkMetrics } from "./definition";
import type { ReaderWake } from "./reader-wake";
import { ResyncController, type ResyncOptions } from "./resync";
import { SOLICIT_METRIC_NAMES, type SolicitHandler } from "./solicit-handler";

export interface NetlinkTileParts {
  writer: NetbaseWriter;
  client: NetlinkClient;
  events: EventReader;
  /** Shared by client and events. */
  counters: NetlinkCounters;
  handler: SolicitHandler;
  rings: RingConsumer[];
  metrics: MetricsWriter;
  log: Logger;
  /** Full verification against a fresh dump every this many ms (0 = never). */
  verifyIntervalMs: number;
  /** Blocks until the event socket may be readable (the tile: poll(2) on it). */
  waitForEvents(timeoutMs: number): void;
  resync?: ResyncOptions;
  /** Wakes netbase's readers in other processes after each applied batch (the tile always
   *  passes it; in-process tests may leave it out). */
  readerWake?: ReaderWake;
}

const EVENT_METRIC = {
  link: "events_link",
  addr: "events_addr",
  route: "events_route",
  neigh: "events_neigh",
  addr6: "events_addr6",
  route6: "events_route6",
  neigh6: "events_neigh6",
} as const;

/** An optional writer operation (helper v6-netbase may add it to NetbaseWriter): apply an IPv6
 *  route event the kernel flagged NLM_F_REPLACE, i.e. store `route` and remove the route of the
 *  same (table, prefix, metric) it replaced; false when that cannot be told (several such routes
 *  stored, or `route` dropped): the tile then resyncs. Without it, every replace is a resync. */
export interface Route6ReplaceSink extends Pick<NetbaseWriter, "applyEvent"> {
  replaceRoute6?(route: Route6Record): boolean;
}

/** What the solicit handler offers for IPv6 neighbor events (helper v6-solicit adds it to
 *  SolicitHandler): optional, so this body works with a handler that predates it. */
export interface Neighbor6EventSink extends Pick<SolicitHandler, "onNeighborEvent"> {
  onNeighbor6Event?(
    ifindex: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    state: number,
    deleted: boolean,
  ): void;
}

export class NetlinkTileBody implements TileBody {
  readonly resync: ResyncController;
  private readonly p: NetlinkTileParts;
  private readonly idx: MetricIndexes<typeof netlinkMetrics>;
  private readonly solicitIdx: number[];
  private readonly solicitValues = new Float64Array(SOLICIT_METRIC_NAMES.length);
  private lastMalformed = 0;
  private nextVerify = -1;
  private now = 0;
  private ring: RingConsumer | undefined;
  /** Something the kernel holds did not fit: set by a drop, cleared by a converged resync without one. */
  private full = false;
  private dropsSeen = 0;
  private readonly onSolicit = (offset: number): void => {
    if (this.ring) this.p.handler.handle(this.ring.dv, offset, this.now);
  };
  private readonly onEvent = (ev: NetEvent, nlmsgFlags: number): void => this.applyEvent(ev, nlmsgFlags);

  constructor(parts: NetlinkTileParts) {
    this.p = parts;
    this.idx = metricIndexes(parts.metrics, netlinkMetrics);
    this.solicitIdx = SOLICIT_METRIC_NAMES.map((n) => parts.metrics.index(`solicit_${n}`));
    this.resync = new ResyncController(parts.client, parts.events, parts.writer, this.onEvent, parts.resync);
  }

  /** The first sync, in set-up before the sandbox and the loop (a failure leaves it pending: poll
   *  retries). Not the runtime's start(): the dump must not wait for the sandbox. */
  firstSync(nowMs: number): void {
    this.runResync(nowMs, false);
    this.p.readerWake?.afterBatch();
  }

  poll(nowMs: number): number {
    this.now = nowMs;
    let handled = 0;
    const drained = this.p.events.drain(16, this.onEvent, 0);
    handled += drained.events;
    if (drained.overrun) this.resync.request("event overrun (ENOBUFS)", nowMs);
    const malformed = malformedTotal(this.p.counters);
    if (malformed !== this.lastMalformed) {
      this.lastMalformed = malformed;
      this.resync.request("malformed event", nowMs);
    }
    if (this.resync.due(nowMs)) {
      this.runResync(nowMs, false);
      handled++;
    }
    this.p.readerWake?.afterBatch();
    for (const ring of this.p.rings) {
      this.ring = ring;
      handled += ring.poll(64, this.onSolicit);
    }
    return handled;
  }

  housekeeping(nowMs: number): void {
    this.p.handler.tick(nowMs);
    const interval = this.p.verifyIntervalMs;
    if (this.nextVerify < 0) this.nextVerify = interval > 0 ? nowMs + interval : Number.POSITIVE_INFINITY;
    if (nowMs >= this.nextVerify) {
      this.nextVerify = nowMs + interval;
      this.runResync(nowMs, true);
      this.p.readerWake?.afterBatch();
    }
    this.publish();
  }

  idleWait(timeoutMs: number): void {
    // A pending resync waits out its backoff, not an event.
    this.p.waitForEvents(this.resync.pending ? Math.min(timeoutMs, 5) : timeoutMs);
  }

  private applyEvent(ev: NetEvent, nlmsgFlags: number): void {
    const writer: Route6ReplaceSink = this.p.writer;
    if (isRoute6Replace(ev, nlmsgFlags) && ev.kind === "route6") {
      // The kernel replaced a route of this table, prefix and metric without a delete event.
      if (writer.replaceRoute6 === undefined || !writer.replaceRoute6(ev.route)) {
        this.p.writer.applyEvent(ev);
        this.resync.request("IPv6 route replaced (the replaced next hop is unknown)", this.now);
      }
    } else this.p.writer.applyEvent(ev);
    this.p.metrics.add(this.idx[EVENT_METRIC[ev.kind]], 1);
    if (ev.kind === "link" && (ev.op === "del" || !ev.link.up)) {
      // The kernel flushes a downed or deleted link's routes without RTM_DELROUTE events.
      this.resync.request("link down or deleted", this.now);
    } else if (ev.kind === "neigh") {
      this.p.handler.onNeighborEvent(ev.neigh.ifindex, ev.neigh.ip | 0, ev.neigh.state, ev.op === "del");
    } else if (ev.kind === "neigh6") {
      const n = ev.neigh;
      const ip = n.ip;
      const sink: Neighbor6EventSink = this.p.handler;
      sink.onNeighbor6Event?.(n.ifindex, ip[0] ?? 0, ip[1] ?? 0, ip[2] ?? 0, ip[3] ?? 0, n.state, ev.op === "del");
    }
  }

  private runResync(nowMs: number, verify: boolean): void {
    const why = verify ? "verification" : this.resync.reason;
    const dropsBefore = netbaseFullness(this.p.writer).drops;
    const r = this.resync.attempt(nowMs, verify);
    const { metrics, log } = this.p;
    if (r.outcome === "converged" && netbaseFullness(this.p.writer).drops === dropsBefore) this.full = false;
    metrics.add(this.idx.full_syncs ?? -1, 1);
    if (verify) {
      metrics.add(this.idx.verifications ?? -1, 1);
      if (r.divergences.length > 0) {
        metrics.add(this.idx.divergences ?? -1, r.divergences.length);
        log.warn(
          { count: r.divergences.length, first: r.divergences.slice(0, 5) },
          "netbase diverged from the kernel; repaired",
        );
      }
    }
    const fields = {
      why,
      outcome: r.outcome,
      added: r.added,
      removed: r.removed,
      changed: r.changed,
      ms: Math.round(r.durationMs),
    };
    if (r.outcome === "converged" || r.outcome === "changing") log.info(fields, "full sync applied");
    else log.warn({ ...fields, error: r.error }, "full sync did not converge; retrying with backoff");
    metrics.set(this.idx.resync_pending, this.resync.pending ? 1 : 0);
  }

  private publish(): void {
    const { metrics, writer, counters } = this.p;
    const set = (name: MetricName<typeof netlinkMetrics>, value: number): void => metrics.set(this.idx[name], value);
    const c = writer.counters();
    set("malformed_messages", malformedTotal(counters));
    set("enobufs", counters.enobufs);
    set("dump_retries", counters.dump_retries);
    set("interfaces", c.interfaces);
    set("routes", c.routes_local + c.routes_main);
    set("neighbors", c.neighbors);
    set("resync_pending", this.resync.pending ? 1 : 0);
    set("resync_retries", this.resync.retries);
    const use = netbaseFullness(writer);
    if (use.drops > this.dropsSeen) {
      if (!this.full) {
        const fullest = use.structures.filter((s) => s.pct >= 100).map((s) => s.name);
        this.p.log.warn(
          { dropped: use.drops - this.dropsSeen, full: fullest, structures: use.structures },
          `netbase is full: ${use.drops - this.dropsSeen} updates did not fit (${fullest.join(", ") || "see structures"})`,
        );
      }
      this.full = true;
      this.dropsSeen = use.drops;
    }
    set("netbase_full_drops", use.drops);
    set("netbase_full", this.full ? 1 : 0);
    set("route_capacity_used_pct", use.routePct);
    set("neighbor_capacity_used_pct", use.neighborPct);
    for (const s of use.structures) set(`netbase_${s.name}_used_pct`, s.pct);
    let overruns = 0;
    for (const r of this.p.rings) overruns += r.lostCount;
    set("solicit_ring_overruns", overruns);
    this.p.handler.readMetrics(this.solicitValues);
    for (let i = 0; i < this.solicitIdx.length; i++) metrics.set(this.solicitIdx[i] ?? -1, this.solicitValues[i] ?? 0);
  }
}
