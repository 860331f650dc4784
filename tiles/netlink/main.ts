// The netlink tile: mirrors the kernel's links, IPv4 addresses, IPv4 routes (tables local and
// main) and neighbors into netbase, the region only it writes; answers neighbor solicits from
// net tiles by making the kernel resolve the neighbor (an empty UDP datagram, TTL 1).
//
// Sync model: the event socket was subscribed by the launcher before this tile started, so no
// change is missed between subscription and the first dump; after any doubt (ENOBUFS, a
// malformed message, an interrupted dump) the whole state is dumped again and applied as a diff,
// so readers never see emptied tables. A periodic verification compares netbase with a fresh
// dump, counts divergences and repairs them.

import { metricIndexes } from "../../shared/metrics/keys";
import { native } from "../../shared/native";
import { NetbaseReader } from "../../shared/netbase/reader";
import { NetbaseWriter } from "../../shared/netbase/writer";
import { createCounters, EventReader, malformedTotal, NetlinkClient } from "../../shared/netlink";
import type { NetEvent } from "../../shared/netmodel";
import { RingConsumer } from "../../shared/ring/consumer";
import { runTile } from "../../shared/tile/runtime";
import { NETLINK_FDS, type NetlinkTileConfig, netlinkMetrics, netlinkPolicy } from "./definition";
import { NetbaseSolicitEnv } from "./netbase-env";
import { SOLICIT_METRIC_NAMES, SolicitHandler } from "./solicit-handler";

runTile<NetlinkTileConfig>({
  kind: "netlink",
  metrics: netlinkMetrics,
  policy: (fds) => netlinkPolicy(fds),
  setup(ctx) {
    const { config, metrics, log } = ctx;
    const addon = native();
    const netbaseBuf = ctx.region("netbase").buf;
    const writer = new NetbaseWriter(netbaseBuf);
    const reader = new NetbaseReader(netbaseBuf);
    const counters = createCounters();
    const client = new NetlinkClient(ctx.fd(NETLINK_FDS.requests), { counters });
    const eventsFd = ctx.fd(NETLINK_FDS.events);
    const events = new EventReader(eventsFd, { counters });
    const probeFd = ctx.fd(NETLINK_FDS.probe);
    const rings = config.solicitRings.map(
      (prefix) => new RingConsumer(prefix, ctx.region(`${prefix}.producer`).buf, ctx.region(`${prefix}.consumer`).buf),
    );
    const handler = new SolicitHandler({
      config: config.solicit,
      env: new NetbaseSolicitEnv(reader),
      probe:
        config.resolveWith === "ntf-use"
          ? (ip, ifindex) => {
              // RTM_NEWNEIGH with NTF_USE on the request socket: resolution exactly as a packet
              // would start it (needs the CAP_NET_ADMIN this tile then keeps).
              try {
                client.neighUse(ip >>> 0, ifindex);
                return 0;
              } catch (e) {
                return -((e as { errno?: number }).errno ?? 1);
              }
            }
          : (ip, ifindex) => addon.probeSend(probeFd, ip >>> 0, ifindex, config.probePort),
    });

    const ix = metricIndexes(metrics, netlinkMetrics);
    const m = {
      link: ix.events_link,
      addr: ix.events_addr,
      route: ix.events_route,
      neigh: ix.events_neigh,
      fullSyncs: ix.full_syncs,
      enobufs: ix.enobufs,
      malformed: ix.malformed_messages,
      dumpRetries: ix.dump_retries,
      verifications: ix.verifications,
      divergences: ix.divergences,
      fullDrops: ix.netbase_full_drops,
      interfaces: ix.interfaces,
      routes: ix.routes,
      neighbors: ix.neighbors,
      routePct: ix.route_capacity_used_pct,
      neighPct: ix.neighbor_capacity_used_pct,
      ringOverruns: ix.solicit_ring_overruns,
    };
    const solicitIdx = SOLICIT_METRIC_NAMES.map((n) => ix[`solicit_${n}`]);
    const solicitValues = new Float64Array(SOLICIT_METRIC_NAMES.length);

    let needResync = false;
    let lastMalformed = 0;
    const fullSync = (why: string): void => {
      const result = writer.resync(client.fullSnapshot());
      metrics.add(m.fullSyncs, 1);
      log.info({ why, ...result }, "full sync applied");
    };

    const onEvent = (ev: NetEvent): void => {
      writer.applyEvent(ev);
      switch (ev.kind) {
        case "link":
          metrics.add(m.link, 1);
          // The kernel flushes a downed or deleted link's routes without RTM_DELROUTE events.
          if (ev.op === "del" || !ev.link.up) needResync = true;
          break;
        case "addr":
          metrics.add(m.addr, 1);
          break;
        case "route":
          metrics.add(m.route, 1);
          break;
        case "neigh":
          metrics.add(m.neigh, 1);
          handler.onNeighborEvent(ev.neigh.ifindex, ev.neigh.ip | 0, ev.neigh.state, ev.op === "del");
          break;
      }
    };

    let now = 0;
    let ring = rings[0];
    const onSolicit = (offset: number): void => {
      if (ring) handler.handle(ring.dv, offset, now);
    };

    const publish = (): void => {
      const c = writer.counters();
      metrics.set(m.malformed, malformedTotal(counters));
      metrics.set(m.enobufs, counters.enobufs);
      metrics.set(m.dumpRetries, counters.dump_retries);
      const routes = c.routes_local + c.routes_main;
      metrics.set(m.interfaces, c.interfaces);
      metrics.set(m.routes, routes);
      metrics.set(m.neighbors, c.neighbors);
      metrics.set(
        m.fullDrops,
        c.drop_routes_full +
          c.drop_nexthops_full +
          c.drop_tbl8_full +
          c.drop_neighbors_full +
          c.drop_interfaces_full +
          c.drop_addrs_full,
      );
      metrics.set(m.routePct, (routes / writer.layout.caps.routes) * 100);
      metrics.set(m.neighPct, (c.neighbors / writer.layout.caps.neighbors) * 100);
      let overruns = 0;
      for (const r of rings) overruns += r.lostCount;
      metrics.set(m.ringOverruns, overruns);
      handler.readMetrics(solicitValues);
      for (let i = 0; i < solicitIdx.length; i++) metrics.set(solicitIdx[i] ?? 0, solicitValues[i] ?? 0);
    };

    fullSync("start");
    // Set at the first housekeeping, on the loop's clock (CLOCK_MONOTONIC milliseconds).
    let nextVerify = -1;

    return {
      poll(nowMs) {
        now = nowMs;
        let handled = 0;
        const drained = events.drain(16, onEvent, 0);
        handled += drained.events;
        if (drained.overrun) needResync = true;
        const malformed = malformedTotal(counters);
        if (malformed !== lastMalformed) {
          lastMalformed = malformed;
          needResync = true;
        }
        if (needResync) {
          needResync = false;
          fullSync(drained.overrun ? "event overrun (ENOBUFS)" : "link down or malformed event");
          handled++;
        }
        for (let i = 0; i < rings.length; i++) {
          ring = rings[i];
          handled += ring?.poll(64, onSolicit) ?? 0;
        }
        return handled;
      },
      housekeeping(nowMs) {
        handler.tick(nowMs);
        if (nextVerify < 0)
          nextVerify = config.verifyIntervalMs > 0 ? nowMs + config.verifyIntervalMs : Number.POSITIVE_INFINITY;
        if (nowMs >= nextVerify) {
          nextVerify = nowMs + config.verifyIntervalMs;
          const snap = client.fullSnapshot();
          const diffs = writer.diff(snap);
          metrics.add(m.verifications, 1);
          if (diffs.length > 0) {
            metrics.add(m.divergences, diffs.length);
            log.warn({ count: diffs.length, first: diffs.slice(0, 5) }, "netbase diverged from the kernel; repairing");
            writer.resync(snap);
          }
        }
        publish();
      },
      idleWait(timeoutMs) {
        addon.pollIn(eventsFd, timeoutMs);
      },
    };
  },
});
