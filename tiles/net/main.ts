// The net tile process: maps the AF_XDP socket's rings (before the sandbox; nothing can be mapped
// after it), wires the granted regions into the body, and runs it. See body.ts for the work.
import { native } from "../../shared/native";
import { runTile } from "../../shared/tile/runtime";
import { NetTileBody } from "./body";
import {
  NET_CAPTURE_ROLES,
  NET_FDS,
  NET_QUEUE_MISSES_ROLE,
  type NetTileConfig,
  netAppRegionRoles,
  netAppReplicas,
  netMetrics,
  netPolicy,
} from "./definition";

runTile<NetTileConfig>({
  kind: "net",
  metrics: netMetrics,
  policy: (fds) => netPolicy(fds),
  // The body decides how long to spin (config spinUs): the runtime calls idleWait at once.
  spinUs: 0,
  placement: (c) => ({ idle: c.idle, cpu: c.cpu }),
  // Idle for a second: heartbeat and metrics every 100 ms (the socket and the apps still wake it at once).
  idleHousekeepingMs: 100,
  setup(ctx) {
    const c = ctx.config;
    const fd = ctx.fd(NET_FDS.xsk);
    const xskRings = native().xskMapRings(fd, c.fillDepth, c.completionDepth, c.rxDepth, c.txDepth);
    const buf = (role: string): ArrayBuffer => ctx.region(role).buf;
    const body = new NetTileBody({
      config: c,
      metrics: ctx.metrics,
      log: ctx.log,
      netbase: buf("netbase"),
      umem: buf("umem"),
      xskFd: fd,
      ...(ctx.hasFd(NET_FDS.wake) ? { wakeFd: ctx.fd(NET_FDS.wake) } : {}),
      xskRings,
      solicit: { producer: buf("solicit.producer"), consumer: buf("solicit.consumer") },
      ...(ctx.hasRegion(NET_CAPTURE_ROLES.ring)
        ? { capture: { control: buf(NET_CAPTURE_ROLES.control), ring: buf(NET_CAPTURE_ROLES.ring) } }
        : {}),
      ...(c.queueMisses !== undefined ? { queueMisses: buf(NET_QUEUE_MISSES_ROLE) } : {}),
      // Every replica of every app, in (app, replica) order: the body's channel order.
      apps: c.apps.flatMap((app) =>
        netAppReplicas(app).map((replica) => {
          const r = netAppRegionRoles(replica.channel);
          return {
            rx: { producer: buf(r.rx.producer), consumer: buf(r.rx.consumer), data: buf(r.rx.data) },
            tx: { producer: buf(r.tx.producer), consumer: buf(r.tx.consumer), data: buf(r.tx.data) },
            ...(replica.doorbell !== undefined ? { doorbell: buf(replica.doorbell) } : {}),
          };
        }),
      ),
    });
    return {
      poll: (nowMs) => body.poll(nowMs),
      housekeeping: (nowMs) => body.housekeeping(nowMs),
      idleWait: (ms) => body.idleWait(ms),
    };
  },
});
