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
}

/** Descriptor roles: the net tile's wake eventfd (signalled when the net tile sleeps). */
export const APP_FDS = { wake: "wake" } as const;

export const BUILTIN_MODULES = ["builtin:echo", "builtin:dns"] as const;

/**
 * The regions, in grant order: metrics W, then its channel `rx.<channel>.*` as roles rx.producer R,
 * rx.consumer W, rx.data R, and `tx.<channel>.*` as tx.producer W, tx.consumer R, tx.data W (the
 * opposite of the net tile's side). The channel is named after the app.
 */
export function appRegions(tile: string, channel: string = tile): RegionUse[] {
  const rx = udpChannelRegionNames("rx", channel);
  const tx = udpChannelRegionNames("tx", channel);
  return [
    { role: "metrics", region: metricsRegionName(tile), access: "write" },
    { role: "rx.producer", region: rx.producer, access: "read" },
    { role: "rx.consumer", region: rx.consumer, access: "write" },
    { role: "rx.data", region: rx.data, access: "read" },
    { role: "tx.producer", region: tx.producer, access: "write" },
    { role: "tx.consumer", region: tx.consumer, access: "read" },
    { role: "tx.data", region: tx.data, access: "write" },
  ];
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
 *  8-byte write that signals the net tile's wake eventfd (that fd only). */
export function appPolicy(fds: Record<string, number>): SeccompPolicy {
  return appSeccompPolicy(fds[APP_FDS.wake]);
}
