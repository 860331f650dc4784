// The socket net tile: the instance's net tile when [net] provider is "socket" (or "auto" and XDP
// could not attach). Design: a tile of its own, not a backend switch inside tiles/net/: it shares
// nothing with the AF_XDP tile but the app channels (shared/udp/channel.ts), which both use as
// they are, so apps cannot tell them apart. The kernel does Ethernet, IP, routes and neighbors
// here: no UMEM, no netbase, no solicit ring. The launcher makes one UDP socket per app port in
// the instance's namespace (SO_REUSEPORT, bound to the interface) and grants them; the tile moves
// datagrams with one recvmmsg / sendmmsg per batch (native/udp_batch.cc).
// Free of side effects so the launcher can import it to plan regions and print policies.
import { isPowerOfTwo } from "../../shared/bits";
import { counter } from "../../shared/metrics/schema";
import { MSG_DONTWAIT } from "../../shared/native";
import type { SeccompPolicy } from "../../shared/seccomp/policy";
import { isIdleMode, type TilePlacement } from "../../shared/tile/idle";
import { metricsRegionName, type RegionUse } from "../../shared/tile/regions";
import { UDP_MAX_PAYLOAD_LIMIT } from "../../shared/udp/channel";
import { channelUses, type NetReplicaChannel, validateReplicas } from "../../shared/udp/replicas";
import { SOCKET_BATCH_MAX } from "../../shared/udp/socket-batch";

export interface NetSocketAppPorts {
  name: string;
  ports: number[];
  /** The app's replicas, in replica order (as the XDP net tile's). Absent: `[{ channel: name }]`. */
  replicas?: NetReplicaChannel[];
}

export interface NetSocketTileConfig extends TilePlacement {
  /** Apps in grant order: their channels are `rx.<name>.*` and `tx.<name>.*`; each port's socket
   *  is the descriptor role netSocketFdRole(port). */
  apps: NetSocketAppPorts[];
  /** Depth of every app channel ring (both directions). */
  channelDepth: number;
  /** Largest UDP payload an app channel carries (larger datagrams are dropped, counted). */
  maxPayload: number;
  /** Datagrams per recvmmsg / sendmmsg. Default 64. */
  batch?: number;
  /** After the last work, keep polling this long before sleeping (adaptive idle). Default 50. */
  spinUs?: number;
  /** ... and this long while an app holds datagrams this tile delivered. Default 200. */
  replySpinUs?: number;
}

export const NET_SOCKET_DEFAULTS = { batch: 64, spinUs: 50, replySpinUs: 200 } as const;

/** Descriptor roles: the wake eventfd the apps signal (as the XDP net tile's), one socket per port. */
export const NET_SOCKET_FDS = { wake: "wake" } as const;

export function netSocketFdRole(port: number): string {
  return `udp.${port}`;
}

/** Every port the tile serves, in config order (the order of its sockets). */
export function netSocketPorts(c: Pick<NetSocketTileConfig, "apps">): number[] {
  return c.apps.flatMap((a) => a.ports);
}

/** Regions in grant order: metrics W, then per app and replica channel c rx.<c>.producer W,
 *  rx.<c>.consumer R, rx.<c>.data W, tx.<c>.producer R, tx.<c>.consumer W, tx.<c>.data R, and the
 *  replica's doorbell W when it has one (as netRegions; a bare name is one replica on that channel). */
export function netSocketRegions(
  tile: string,
  apps: readonly (string | { name: string; replicas: readonly NetReplicaChannel[] })[],
): RegionUse[] {
  const uses: RegionUse[] = [{ role: "metrics", region: metricsRegionName(tile), access: "write" }];
  for (const a of apps) uses.push(...channelUses(typeof a === "string" ? [{ channel: a }] : a.replicas));
  return uses;
}

export const netSocketMetrics = [
  counter("rx_packets", "Datagrams taken from the sockets"),
  counter("rx_bytes", "Payload bytes of those datagrams"),
  counter("rx_delivered", "Datagrams handed to an app's rx ring"),
  counter("rx_delivered_bytes", "Payload bytes handed to apps"),
  counter("rx_drop_oversize", "Datagrams with a payload above the channels' maxPayload"),
  counter("rx_app_ring_full", "Datagrams dropped because the app's rx ring had no credit"),
  counter("rx_socket_errors", "recvmmsg calls failing with a socket error"),
  counter("tx_messages", "Messages taken from app tx rings"),
  counter("tx_packets", "Datagrams the kernel took (sendmmsg)"),
  counter("tx_bytes", "Payload bytes of those datagrams"),
  counter("tx_bad_source_port", "Messages dropped: the app sent from a port it does not own"),
  counter("tx_bad_message", "Messages dropped: malformed channel record (length above maxPayload)"),
  counter("tx_drop_ipv6", "Messages dropped: IPv6, which the socket provider does not carry (its sockets are IPv4)"),
  counter("tx_socket_full", "Datagrams dropped: the socket's send buffer was full (EAGAIN)"),
  counter("tx_send_errors", "Datagrams the kernel refused (no route, bad source address...)"),
  counter("recvmmsg_calls", "recvmmsg system calls"),
  counter("sendmmsg_calls", "sendmmsg system calls"),
  counter("idle_polls", "Idle waits: poll(2) on the sockets and the apps' eventfd"),
  counter("idle_wakes_socket", "Idle waits ended by a socket (a received datagram)"),
  counter("idle_wakes_app", "Idle waits ended by an app's send (its eventfd signal)"),
  counter("idle_timeouts", "Idle waits ended by their timeout (housekeeping due)"),
];

/** Beyond the Node baseline: recvmmsg and sendmmsg on the granted sockets only, non-blocking
 *  (MSG_DONTWAIT pinned, recvmmsg without a timeout), and poll for the idle wait (its argument
 *  is a pointer: not pinnable). */
export function netSocketPolicy(fds: Record<string, number>): SeccompPolicy {
  const sockets = Object.entries(fds)
    .filter(([role]) => role.startsWith("udp."))
    .map(([, fd]) => fd);
  if (sockets.length === 0) throw new Error("net-socket policy: no udp.<port> socket granted");
  const onSockets = { index: 0, op: "in", values: sockets } as const;
  const dontWait = { index: 3, op: "eq", value: MSG_DONTWAIT } as const;
  return {
    name: "net-socket",
    allow: [
      { syscall: "recvmmsg", args: [onSockets, dontWait, { index: 4, op: "eq", value: 0 }] },
      { syscall: "sendmmsg", args: [onSockets, dontWait] },
      "poll",
    ],
  };
}

/** Checks a config's shape; throws "net-socket tile config: ..." naming the field. */
export function validateNetSocketTileConfig(c: NetSocketTileConfig): void {
  const fail = (what: string): never => {
    throw new Error(`net-socket tile config: ${what}`);
  };
  if (c.idle !== undefined && !isIdleMode(c.idle)) fail(`idle ${String(c.idle)} must be "adaptive" or "spin"`);
  if (c.cpu !== undefined && (!Number.isInteger(c.cpu) || c.cpu < 0)) fail(`cpu ${c.cpu} must be a CPU number`);
  if (!isPowerOfTwo(c.channelDepth)) fail(`channelDepth ${c.channelDepth} must be a power of two`);
  if (!Number.isInteger(c.maxPayload) || c.maxPayload < 1 || c.maxPayload > UDP_MAX_PAYLOAD_LIMIT)
    fail(`maxPayload ${c.maxPayload} must be from 1 to ${UDP_MAX_PAYLOAD_LIMIT}`);
  const batch = c.batch ?? NET_SOCKET_DEFAULTS.batch;
  if (!Number.isInteger(batch) || batch < 1 || batch > SOCKET_BATCH_MAX)
    fail(`batch ${batch} must be 1..${SOCKET_BATCH_MAX}`);
  validateReplicas(c.apps, fail);
  const seen = new Map<number, string>();
  for (const app of c.apps) {
    for (const p of app.ports) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) fail(`app ${app.name}: bad port ${p}`);
      const owner = seen.get(p);
      if (owner !== undefined) fail(`port ${p} belongs to both ${owner} and ${app.name}`);
      seen.set(p, app.name);
    }
  }
  if (seen.size === 0) fail("no port to serve");
  if (seen.size > 64) fail(`${seen.size} ports: at most 64 (one socket each, one poll)`);
}
