// The socket net tile process: wires the granted sockets and channel regions into the body and
// runs it. See definition.ts for why this is a tile of its own and body.ts for the work.
import { runTile } from "../../shared/tile/runtime";
import { udpChannelRegionNames } from "../../shared/udp/channel";
import { netAppReplicas } from "../../shared/udp/replicas";
import { NetSocketTileBody } from "./body";
import {
  NET_SOCKET_FDS,
  type NetSocketTileConfig,
  netSocketFdRole,
  netSocketMetrics,
  netSocketPolicy,
  netSocketPorts,
} from "./definition";

runTile<NetSocketTileConfig>({
  kind: "net-socket",
  metrics: netSocketMetrics,
  policy: (fds) => netSocketPolicy(fds),
  // The body decides how long to spin (config spinUs): the runtime calls idleWait at once.
  spinUs: 0,
  placement: (c) => ({ idle: c.idle, cpu: c.cpu }),
  // Idle for a second: heartbeat and metrics every 100 ms (the sockets and the apps still wake it at once).
  idleHousekeepingMs: 100,
  setup(ctx) {
    const c = ctx.config;
    const buf = (role: string): ArrayBuffer => ctx.region(role).buf;
    const regionsOf = (dir: "rx" | "tx", app: string) => {
      const r = udpChannelRegionNames(dir, app);
      return { producer: buf(r.producer), consumer: buf(r.consumer), data: buf(r.data) };
    };
    const body = new NetSocketTileBody({
      config: c,
      metrics: ctx.metrics,
      log: ctx.log,
      socketFds: netSocketPorts(c).map((p) => ctx.fd(netSocketFdRole(p))),
      ...(ctx.hasFd(NET_SOCKET_FDS.wake) ? { wakeFd: ctx.fd(NET_SOCKET_FDS.wake) } : {}),
      // Every replica of every app, in (app, replica) order: the body's channel order.
      apps: c.apps.flatMap((app) =>
        netAppReplicas(app).map((r) => ({
          rx: regionsOf("rx", r.channel),
          tx: regionsOf("tx", r.channel),
          ...(r.doorbell !== undefined ? { doorbell: buf(r.doorbell) } : {}),
        })),
      ),
    });
    return { poll: (nowMs) => body.poll(nowMs), idleWait: (ms) => body.idleWait(ms) };
  },
});
