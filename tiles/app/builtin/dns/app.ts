// The built-in authoritative DNS app (`module = "builtin:dns"`), configured as
//
//   [[app]]
//   name = "dns"
//   module = "builtin:dns"
//   ports = [53]
//   files = { zone = "/etc/tilenet/example.test.zone" }   # handed over as app.files.zone
//   settings = { origin = "example.test." }               # also: max_udp_size, stats_interval_s
//
// Everything DNS is in responder.ts (plain functions of bytes); this file is only the glue an app
// author would write: parse the zone once in init, answer each datagram, report counters on a
// timer. It keeps no per-client state: every query is answered from the zone alone.
import type { AppApi, AppModule } from "../../api";
import { DEFAULT_MAX_UDP_BYTES, Responder } from "./responder";
import { parseZone } from "./zone";

export interface DnsSettings {
  origin?: string;
  maxUdpBytes: number;
  statsIntervalS: number;
}

/** Reads the app's settings table; every error names the key. */
export function dnsSettings(settings: Readonly<Record<string, unknown>>, maxPayload: number): DnsSettings {
  const known = new Set(["origin", "max_udp_size", "stats_interval_s"]);
  for (const k of Object.keys(settings))
    if (!known.has(k)) throw new Error(`settings.${k}: unknown (known: ${[...known].join(", ")})`);
  const { origin, max_udp_size: size = DEFAULT_MAX_UDP_BYTES, stats_interval_s: stats = 60 } = settings;
  if (origin !== undefined && (typeof origin !== "string" || origin === ""))
    throw new Error(`settings.origin: expected a domain name like "example.test.", got ${JSON.stringify(origin)}`);
  if (typeof size !== "number" || !Number.isInteger(size) || size < 512 || size > Math.min(65535, maxPayload))
    throw new Error(`settings.max_udp_size: expected an integer 512..${Math.min(65535, maxPayload)}, got ${size}`);
  if (typeof stats !== "number" || !(stats >= 0 && stats <= 86400))
    throw new Error(`settings.stats_interval_s: expected 0 (never) to 86400 seconds, got ${stats}`);
  return { origin, maxUdpBytes: size, statsIntervalS: stats };
}

/** Parses the zone named files.zone and builds the responder (what init does). */
export function responderFor(app: Pick<AppApi, "files" | "settings" | "maxPayload">): {
  responder: Responder;
  settings: DnsSettings;
} {
  const settings = dnsSettings(app.settings, app.maxPayload);
  const zoneBytes = app.files.zone;
  if (zoneBytes === undefined) throw new Error('no zone: add files = { zone = "/path/to/zone" } to the [[app]] table');
  const zone = parseZone(zoneBytes, settings.origin);
  return { responder: new Responder(zone, settings.maxUdpBytes), settings };
}

export function createDnsApp(): AppModule {
  let responder: Responder | undefined;
  return {
    init(app) {
      const built = responderFor(app);
      responder = built.responder;
      const { zone } = responder;
      app.log.info(`serving ${zone.origin} (${zone.recordCount} records, ${zone.names.size} names) on ${app.ports}`);
      // Counters are reported from a timer: timers run between the tile's polling slices.
      if (built.settings.statsIntervalS > 0) {
        let reported = -1;
        setInterval(() => {
          const c = (responder as Responder).counters;
          if (c.queries === reported) return;
          reported = c.queries;
          app.log.info(`dns counters ${JSON.stringify(c)}`);
        }, built.settings.statsIntervalS * 1000);
      }
    },
    onPacket(pkt, app) {
      const response = responder?.answer(pkt.data, pkt.offset, pkt.length);
      if (response) app.reply(pkt, response);
    },
  };
}

export const dnsApp: AppModule = createDnsApp();
