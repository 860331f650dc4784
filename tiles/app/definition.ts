// The app tile's declared surface: config, region roles, metrics, seccomp policy. Free of side
// effects so the launcher can import it.
import type { MetricDecl } from "../../shared/metrics/schema";
import type { SeccompPolicy } from "../../shared/seccomp/policy";
import { appSeccompPolicy } from "./seccomp";

export interface AppTileConfig {
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

export const BUILTIN_MODULES = ["builtin:echo", "builtin:dns"] as const;

/** Region roles, in grant order, with how they are mapped. */
export function appRegionRoles(): { role: string; writable: boolean }[] {
  return [
    { role: "metrics", writable: true },
    { role: "rx.producer", writable: false },
    { role: "rx.consumer", writable: true },
    { role: "rx.data", writable: false },
    { role: "tx.producer", writable: true },
    { role: "tx.consumer", writable: false },
    { role: "tx.data", writable: true },
  ];
}

const counter = (name: string, help: string): MetricDecl => ({ name, kind: "counter", help });

export const appMetrics: MetricDecl[] = [
  counter("rx_packets", "Datagrams handed to onPacket"),
  counter("rx_bytes", "Payload bytes handed to onPacket"),
  counter("rx_bad_message", "Malformed rx channel records skipped"),
  counter("tx_packets", "Datagrams queued by reply/send"),
  counter("tx_bytes", "Payload bytes queued by reply/send"),
  counter("tx_ring_full", "reply/send refused: transmit ring full"),
  counter("handler_exceptions", "Exceptions thrown by onPacket (caught)"),
];

/** The Node baseline covers ring wake-ups (futex) and timers; seccomp.ts adds randomness. */
export function appPolicy(_fds: Record<string, number>): SeccompPolicy {
  return appSeccompPolicy();
}
