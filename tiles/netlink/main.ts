// The netlink tile: mirrors the kernel's links, IPv4 addresses, IPv4 routes (tables local and
// main) and neighbors into netbase, the region only it writes; answers neighbor solicits from
// net tiles by making the kernel resolve the neighbor (an empty UDP datagram, TTL 1).
//
// Sync model: the event socket was subscribed by the launcher before this tile started, so no
// change is missed between subscription and the first dump; after any doubt (ENOBUFS, a
// malformed message, a link flush) a convergent resync (resync.ts) runs, retried with backoff
// until a dump and the events around it agree. This file opens the tile's parts; its life is
// NetlinkTileBody (body.ts).

import { native } from "../../shared/native";
import { NetbaseReader } from "../../shared/netbase/reader";
import { NetbaseWriter } from "../../shared/netbase/writer";
import { createCounters, EventReader, NetlinkClient } from "../../shared/netlink";
import { RingConsumer } from "../../shared/ring/consumer";
import { runTile } from "../../shared/tile/runtime";
import { NetlinkTileBody } from "./body";
import { NETLINK_FDS, type NetlinkTileConfig, netlinkMetrics, netlinkPolicy } from "./definition";
import { NetbaseSolicitEnv } from "./netbase-env";
import { ReaderWake } from "./reader-wake";
import { asNetbase6Lookups, Netbase6SolicitEnv } from "./solicit-env6";
import { SolicitHandler } from "./solicit-handler";
import { PROBE6_FD_ROLE, udpProbe6 } from "./solicit-probe6";

runTile<NetlinkTileConfig>({
  kind: "netlink",
  metrics: netlinkMetrics,
  policy: (fds) => netlinkPolicy(fds),
  // Idle for a second: heartbeat and solicit expiries every 100 ms (the event socket still wakes it at once).
  idleHousekeepingMs: 100,
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
    // IPv6: netbase's IPv6 lookups when this reader has them; the UDP probe when the launcher
    // granted the probe6 socket (also under ntf-use: an empty datagram needs no capability).
    const lookups6 = asNetbase6Lookups(reader);
    const handler = new SolicitHandler({
      config: config.solicit,
      env: new NetbaseSolicitEnv(reader),
      ...(lookups6 ? { env6: new Netbase6SolicitEnv(lookups6) } : {}),
      ...(ctx.hasFd(PROBE6_FD_ROLE) ? { probe6: udpProbe6(addon, ctx.fd(PROBE6_FD_ROLE), config.probePort) } : {}),
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

    const body = new NetlinkTileBody({
      writer,
      client,
      events,
      counters,
      handler,
      rings,
      metrics,
      log,
      verifyIntervalMs: config.verifyIntervalMs,
      waitForEvents: (timeoutMs) => addon.pollIn(eventsFd, timeoutMs),
      readerWake: new ReaderWake(netbaseBuf),
    });
    body.firstSync(performance.now());
    return body;
  },
});
