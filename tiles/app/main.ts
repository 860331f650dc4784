// The app tile process: reads the app module's source (before the sandbox), wires the granted
// channel regions into the body and runs it. Inside the sandbox (every thread under the filter),
// before the tile reports "running", the module is compiled, its top level run and its init
// called: the launcher's "all tiles running" means every app is initialised.
import { native } from "../../shared/native";
import { runTile } from "../../shared/tile/runtime";
import { AppInitError, AppTileBody } from "./body";
import {
  APP_DOORBELL_ROLE,
  APP_NETBASE_ROLE,
  type AppTileConfig,
  appChannelRoles,
  appChannels,
  appMetrics,
  appPolicy,
  appWakeRole,
} from "./definition";
import { instantiateAppModule, readAppSource } from "./loader";

runTile<AppTileConfig>({
  kind: "app",
  metrics: appMetrics,
  policy: (fds) => appPolicy(fds),
  // The body decides how long to spin (config spinUs): the runtime calls idleWait at once.
  spinUs: 0,
  placement: (c) => ({ idle: c.idle, cpu: c.cpu }),
  // Idle for a second and no timer pending: heartbeat every 100 ms (datagrams still wake it at once).
  idleHousekeepingMs: 100,
  setup(ctx) {
    const c = ctx.config;
    const buf = (role: string): ArrayBuffer => ctx.region(role).buf;
    const addon = native();
    // Channel k: its regions by appChannelRoles(k), its net tile's eventfd by appWakeRole(k).
    const channels = appChannels(c).map((_, k) => {
      const r = appChannelRoles(k);
      const wakeFd = ctx.hasFd(appWakeRole(k)) ? ctx.fd(appWakeRole(k)) : -1;
      return {
        rx: { producer: buf(r.rx.producer), consumer: buf(r.rx.consumer), data: buf(r.rx.data) },
        tx: { producer: buf(r.tx.producer), consumer: buf(r.tx.consumer), data: buf(r.tx.data) },
        ...(wakeFd >= 0 ? { wakeNet: () => addon.eventfdSignal(wakeFd) } : {}),
      };
    });
    const body = new AppTileBody({
      config: c,
      metrics: ctx.metrics,
      module: (() => {
        const source = readAppSource(c);
        return () => instantiateAppModule(source, c);
      })(),
      log: ctx.log,
      channels,
      ...(ctx.hasRegion(APP_DOORBELL_ROLE) ? { doorbell: buf(APP_DOORBELL_ROLE) } : {}),
      ...(c.routeByNetbase === true ? { netbase: buf(APP_NETBASE_ROLE) } : {}),
    });
    ctx.log.info({ app: c.name, module: c.modulePath, ports: c.ports }, "app module read (it runs once sandboxed)");
    return {
      start() {
        try {
          body.start();
        } catch (e) {
          if (!(e instanceof AppInitError)) throw e;
          ctx.metrics.setState("failed");
          ctx.log.fatal({ app: c.name }, e.message);
          process.exit(1);
        }
      },
      poll: (nowMs) => body.poll(nowMs),
      idleWait: (ms) => body.idleWait(ms),
      // The module's timers run between slices: with one pending, slices end every 10-20 ms.
      slowIdleOk: () => !process.getActiveResourcesInfo().includes("Timeout"),
    };
  },
});
