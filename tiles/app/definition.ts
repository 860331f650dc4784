// The app tile's declared surface: config, region roles, metrics, seccomp policy. Free of side
// effects so the launcher can import it.
import { counter } from "../../shared/metrics/schema";
import type { SeccompPolicy } from "../../shared/seccomp/policy";
import type { TilePlacement } from "../../shared/tile/idle";
import { metricsRegionName, type RegionUse } from "../../shared/tile/regions";
import { udpChannelRegionNames } from "../../shared/udp/channel";
import { appSeccompPolicy } from "./seccomp";

export interface AppTileConfig extends TilePlacement {
  name: string;
  /** "builtin:echo", or the absolute path of the staged single-file CommonJS module. */
  modulePath: string;
  ports: number[];
  /** [[app]].settings, handed to the module. */
  settings: Record<string, unknown>;
  /** [[app]].files: contents by key, read by the launcher (launcher/app-files.ts). */
  files?: Record<string, Uint8Array>;
  /** Depth of both channel rings (must match the net tile's channelDepth). */
  channelDepth: number;
  maxPayload: number;
  /** Messages handled per poll. Default 64. */
  batch?: number;
  /** After the last datagram, keep polling this long before sleeping on the rx ring. Default 0: the net tile's
   *  publish wakes it at once, and a spinning app takes the CPU the net tile and the kernel need. */
  spinUs?: number;
  /** The channels this replica reads and writes, one per net tile feeding it (channel 0 first).
   *  Default: one, `[{ channel: name, netTile: "net", ifindex: 0 }]`. */
  channels?: AppChannel[];
  /** Region name of this replica's doorbell: it sleeps on it when it has several channels. */
  doorbell?: string;
  /** send() picks among the channels of the interface the route to the destination leaves
   *  through (netbase, region role "netbase"): set when the channels span several interfaces. */
  routeByNetbase?: boolean;
  /** This tile's replica number (0-based) of the app's `replicas` (default 0 of 1). */
  replica?: number;
  replicas?: number;
}

/** One channel of an app replica: its key (`rx.<channel>.*`, `tx.<channel>.*`), the net tile at
 *  its other end and that tile's interface. */
export interface AppChannel {
  channel: string;
  netTile: string;
  ifindex: number;
}

/** The replica's channels (the default: one named after the app). */
export function appChannels(c: Pick<AppTileConfig, "name" | "channels">): AppChannel[] {
  return c.channels ?? [{ channel: c.name, netTile: "net", ifindex: 0 }];
}

/** Descriptor roles: the net tile's wake eventfd (signalled when the net tile sleeps). */
export const APP_FDS = { wake: "wake" } as const;

/** The wake eventfd role of channel k's net tile: "wake" for channel 0, `wake.<k>` after. */
export function appWakeRole(k: number): string {
  return k === 0 ? APP_FDS.wake : `${APP_FDS.wake}.${k}`;
}

/** Region roles of the doorbell and of netbase (both read-only). */
export const APP_DOORBELL_ROLE = "doorbell";
export const APP_NETBASE_ROLE = "netbase";

/** Region roles of channel k: rx.producer ... tx.data for channel 0 (as before channels), and
 *  rx.<k>.producer ... tx.<k>.data after. */
export function appChannelRoles(k: number): {
  rx: { producer: string; consumer: string; data: string };
  tx: { producer: string; consumer: string; data: string };
} {
  const at = (dir: string, part: string): string => (k === 0 ? `${dir}.${part}` : `${dir}.${k}.${part}`);
  return {
    rx: { producer: at("rx", "producer"), consumer: at("rx", "consumer"), data: at("rx", "data") },
    tx: { producer: at("tx", "producer"), consumer: at("tx", "consumer"), data: at("tx", "data") },
  };
}

/** Which regions one app replica is wired to (default: the one channel named after the tile). */
export interface AppWiring {
  /** Channel keys in channel order. */
  channels: readonly string[];
  /** Its doorbell's region name. */
  doorbell?: string;
  /** Whether it maps netbase (routeByNetbase). */
  netbase?: boolean;
}

export const BUILTIN_MODULES = ["builtin:echo", "builtin:dns"] as const;

/**
 * The regions, in grant order: metrics W, then per channel k `rx.<channel>.*` as roles
 * (appChannelRoles(k)) rx.producer R, rx.consumer W, rx.data R, and `tx.<channel>.*` as
 * tx.producer W, tx.consumer R, tx.data W (the opposite of the net tile's side); then the doorbell
 * R and netbase R when wired. Default: one channel named after the tile.
 */
export function appRegions(tile: string, wiring: AppWiring = { channels: [tile] }): RegionUse[] {
  const uses: RegionUse[] = [{ role: "metrics", region: metricsRegionName(tile), access: "write" }];
  wiring.channels.forEach((channel, k) => {
    const roles = appChannelRoles(k);
    const rx = udpChannelRegionNames("rx", channel);
    const tx = udpChannelRegionNames("tx", channel);
    uses.push(
      { role: roles.rx.producer, region: rx.producer, access: "read" },
      { role: roles.rx.consumer, region: rx.consumer, access: "write" },
      { role: roles.rx.data, region: rx.data, access: "read" },
      { role: roles.tx.producer, region: tx.producer, access: "write" },
      { role: roles.tx.consumer, region: tx.consumer, access: "read" },
      { role: roles.tx.data, region: tx.data, access: "write" },
    );
  });
  if (wiring.doorbell !== undefined) uses.push({ role: APP_DOORBELL_ROLE, region: wiring.doorbell, access: "read" });
  if (wiring.netbase === true) uses.push({ role: APP_NETBASE_ROLE, region: "netbase", access: "read" });
  return uses;
}

export const appMetrics = [
  counter("rx_packets", "Datagrams handed to onPacket"),
  counter("rx_bytes", "Payload bytes handed to onPacket"),
  counter("rx_bad_message", "Malformed rx channel records skipped"),
  counter("tx_packets", "Datagrams queued by reply/send"),
  counter("tx_bytes", "Payload bytes queued by reply/send"),
  counter("tx_ring_full", "reply/send refused: transmit ring full"),
  counter("handler_exceptions", "Exceptions thrown by onPacket (caught)"),
];

/** The Node baseline covers ring wake-ups (futex) and timers; seccomp.ts adds randomness and the
 *  8-byte write that signals the net tiles' wake eventfds (the granted wake fds only: roles
 *  appWakeRole(k)). */
export function appPolicy(fds: Record<string, number>): SeccompPolicy {
  const isWake = (role: string): boolean => role === APP_FDS.wake || role.startsWith(`${APP_FDS.wake}.`);
  return appSeccompPolicy(
    Object.entries(fds)
      .filter(([role]) => isWake(role))
      .map(([, fd]) => fd),
  );
}
