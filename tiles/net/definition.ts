// The net tile's declared surface: config, region and fd roles, metrics, seccomp policy. Free of
// side effects so the launcher can import it to plan regions and print policies.
import { isPowerOfTwo } from "../../shared/bits";
import { captureRegionNames } from "../../shared/capture/layout";
import { counter, gauge } from "../../shared/metrics/schema";
import { MSG_DONTWAIT } from "../../shared/native";
import { UDP_PARSE_RESULT_NAMES } from "../../shared/packet/udp-frame";
import type { RingSpec } from "../../shared/ring/layout";
import type { ArgCheck, SeccompPolicy } from "../../shared/seccomp/policy";
import { isIdleMode, type TilePlacement } from "../../shared/tile/idle";
import { metricsRegionName, type RegionUse } from "../../shared/tile/regions";
import { udpChannelRegionNames } from "../../shared/udp/channel";
import { channelUses, type NetReplicaChannel, netAppReplicas, validateReplicas } from "../../shared/udp/replicas";
import { XSK_GEOMETRY_FIELDS, type XskGeometry } from "../../shared/xdp/geometry";
import { QUEUE_MISS_MAX_QUEUES } from "../../shared/xdp/queue-misses";

export { channelUses, type NetReplicaChannel, netAppReplicas, validateReplicas };

export interface NetAppPorts {
  name: string;
  ports: number[];
  /** The app's replicas this tile feeds, in replica order. Absent: one, `[{ channel: name }]`. */
  replicas?: NetReplicaChannel[];
}

/** The geometry (UMEM and ring depths) is exactly the one the socket was created with (setUpXdp). */
export interface NetTileConfig extends XskGeometry, TilePlacement {
  /** Interface the AF_XDP socket is bound to (routes must leave through it). */
  ifindex: number;
  queueId: number;
  /** Apps in grant order: their channels are `rx.<name>.*` and `tx.<name>.*`. */
  apps: NetAppPorts[];
  /** Depth of every app channel ring (both directions). */
  channelDepth: number;
  /** Largest UDP payload an app channel carries (and so the largest the tile receives or sends). */
  maxPayload: number;
  /** The solicit ring to the netlink tile (unreliable, slotSize SOLICIT_BYTES). */
  solicitRing: RingSpec;
  /** UMEM frames kept for receiving (the rest transmit). Default frameCount / 2. */
  rxFrames?: number;
  /** Descriptors handled per ring per poll. Default 64. */
  batch?: number;
  /** The same next hop is solicited again only after this many ms. Default 100. */
  resolicitMs?: number;
  /** Longest idle wait while frames wait in the TX ring for the kernel (EAGAIN kicks). Default 1. */
  maxIdleMs?: number;
  /** After the last work, keep polling this long before sleeping (adaptive idle). Default 50. */
  spinUs?: number;
  /** ... and this long while an app holds datagrams this tile delivered (its answer is what comes
   *  next: catching it spinning saves a wake-up of this tile per request). Default 200. */
  replySpinUs?: number;
  /** Longest a submitted frame waits for more to share its TX kick (while apps keep adding). Default 20. */
  kickDelayUs?: number;
  /** IPv4 TTL and IPv6 hop limit of sent datagrams. Default 64. */
  ttl?: number;
  /** The interface's XDP queue-miss counters (shared/xdp/queue-misses.ts), mapped read-only at
   *  NET_QUEUE_MISSES_ROLE: queueCount counters, of which `queues` are the ones no net tile serves
   *  (their growth is counted as rx_drop_unserved_queue). Set on one net tile per interface. */
  queueMisses?: { queueCount: number; queues: number[] };
}

/** Region role of the interface's queue-miss counters (read-only). */
export const NET_QUEUE_MISSES_ROLE = "xdp.queue-misses";

/** Defaults the launcher and tests share. */
export const NET_DEFAULTS = {
  batch: 64,
  resolicitMs: 100,
  maxIdleMs: 1,
  spinUs: 50,
  replySpinUs: 200,
  kickDelayUs: 20,
  ttl: 64,
} as const;

/** Descriptor roles the launcher grants the net tile. */
export const NET_FDS = {
  xsk: "xsk",
  /** An eventfd the tile's apps signal when it sleeps (optional: without it, only the socket wakes it). */
  wake: "wake",
} as const;

/** Region roles of one app's channels as the net tile sees them (the channel's region names). */
export function netAppRegionRoles(app: string): {
  rx: { producer: string; consumer: string; data: string };
  tx: { producer: string; consumer: string; data: string };
} {
  return { rx: udpChannelRegionNames("rx", app), tx: udpChannelRegionNames("tx", app) };
}

/** Region roles of the tile's capture (tilenet dump): the CLI writes the control, the tile the ring. */
export const NET_CAPTURE_ROLES = { control: "capture.control", ring: "capture.ring" } as const;

/** Which of the instance's regions one net tile is wired to. */
export interface NetTileWiring {
  tile: string;
  /** The UMEM region of its AF_XDP socket. */
  umem: string;
  /** Its solicit ring to the netlink tile: regions `<solicitRing>.producer` / `.consumer`. */
  solicitRing: string;
  /** The apps it serves, in config order, each with its replicas' channels (a bare name: one
   *  replica on the channel named after the app, as before replicas). */
  apps: readonly (string | { name: string; replicas: readonly NetReplicaChannel[] })[];
  /** Region name of the interface's queue-miss counters, when this tile reports them. */
  queueMisses?: string;
}

/**
 * The regions, in grant order: metrics W, netbase R, umem W, solicit.producer W, solicit.consumer R,
 * then per app and replica channel c: rx.<c>.producer W, rx.<c>.consumer R, rx.<c>.data W,
 * tx.<c>.producer R, tx.<c>.consumer W, tx.<c>.data R (the net tile writes what it produces and
 * reads the rest), then the replica's doorbell W when it has one; then the queue-miss counters R
 * when wired; then its capture: capture.<tile>.control R (the dump CLI writes it), capture.<tile>.ring W.
 */
export function netRegions(w: NetTileWiring): RegionUse[] {
  const uses: RegionUse[] = [
    { role: "metrics", region: metricsRegionName(w.tile), access: "write" },
    { role: "netbase", region: "netbase", access: "read" },
    { role: "umem", region: w.umem, access: "write" },
    { role: "solicit.producer", region: `${w.solicitRing}.producer`, access: "write" },
    { role: "solicit.consumer", region: `${w.solicitRing}.consumer`, access: "read" },
  ];
  for (const a of w.apps) uses.push(...channelUses(typeof a === "string" ? [{ channel: a }] : a.replicas));
  if (w.queueMisses !== undefined) uses.push({ role: NET_QUEUE_MISSES_ROLE, region: w.queueMisses, access: "read" });
  const capture = captureRegionNames(w.tile);
  uses.push({ role: NET_CAPTURE_ROLES.control, region: capture.control, access: "read" });
  uses.push({ role: NET_CAPTURE_ROLES.ring, region: capture.ring, access: "write" });
  return uses;
}

/** Route types that are not sent (anything but unicast), as metric suffixes. */
export const TX_ROUTE_FAIL_TYPES = [
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "other",
] as const;

/** Parser refusals counted as rx_drop_<reason> (every UdpDrop name). */
export const RX_PARSE_DROP_NAMES: readonly string[] = UDP_PARSE_RESULT_NAMES.slice(1);

export const netMetrics = [
  counter("rx_packets", "Frames taken from the AF_XDP RX ring"),
  counter("rx_bytes", "Bytes of those frames"),
  counter("rx_delivered", "Datagrams handed to an app's rx ring"),
  counter("rx_delivered_bytes", "Payload bytes handed to apps"),
  ...RX_PARSE_DROP_NAMES.map((n) => counter(`rx_drop_${n}`, `Frames dropped by the parser: ${n.replaceAll("_", " ")}`)),
  counter("rx_drop_no_app_for_port", "Datagrams to a port no app owns"),
  counter("rx_drop_oversize", "Datagrams with a payload above the channels' maxPayload"),
  counter("rx_app_ring_full", "Datagrams dropped because the app's rx ring had no credit"),
  counter(
    "rx_drop_unserved_queue",
    "Datagrams for an owned port dropped by the XDP program: they arrived on a receive queue no net tile serves (counted by the interface's first net tile)",
  ),
  counter("tx_messages", "Messages taken from app tx rings"),
  counter("tx_packets", "Frames submitted to the AF_XDP TX ring"),
  counter("tx_bytes", "Bytes of those frames"),
  counter("tx_completed", "Frames the kernel reported sent (completion ring)"),
  counter("tx_route_fail_no_route", "Messages dropped: no route to the destination"),
  ...TX_ROUTE_FAIL_TYPES.map((t) => counter(`tx_route_fail_${t}`, `Messages dropped: the route is of type ${t}`)),
  counter(
    "tx_route_fail_interface",
    "Messages dropped: the route leaves through another interface (or ours is unknown)",
  ),
  counter("tx_route_fail_source_ip", "Messages dropped: no source address for the route"),
  counter("tx_bad_source_ip", "Messages dropped: the app asked for a source address that is not local"),
  counter("tx_bad_source_port", "Messages dropped: the app sent from a port it does not own"),
  counter(
    "tx_bad_message",
    "Messages dropped: malformed channel record (length above maxPayload, or a family other than 4 and 6)",
  ),
  counter("tx_no_neighbor", "Messages dropped: next hop without a link-layer address (solicited)"),
  counter("solicits_published", "Neighbor solicits published to the netlink tile"),
  counter("solicits_suppressed", "Solicits not repeated (same next hop solicited moments ago)"),
  counter("rx6_delivered", "IPv6 datagrams handed to an app's rx ring (also in rx_delivered)"),
  counter("tx6_packets", "IPv6 frames submitted to the AF_XDP TX ring (also in tx_packets)"),
  counter("tx6_route_fail_no_route", "IPv6 messages dropped: no route to the destination (or no IPv6 in netbase)"),
  ...TX_ROUTE_FAIL_TYPES.map((t) => counter(`tx6_route_fail_${t}`, `IPv6 messages dropped: the route is of type ${t}`)),
  counter(
    "tx6_route_fail_interface",
    "IPv6 messages dropped: the route (or a link-local reply's interface) is another interface's, or ours is unknown",
  ),
  counter("tx6_route_fail_source_ip", "IPv6 messages dropped: no source address (route src or link-local)"),
  counter("tx6_bad_source_ip", "IPv6 messages dropped: the app asked for a source address that is not local"),
  counter("tx6_no_neighbor", "IPv6 messages dropped: next hop without a link-layer address (solicited)"),
  counter("solicits6_published", "IPv6 neighbor solicits published to the netlink tile"),
  counter("solicits6_suppressed", "IPv6 solicits not repeated (same next hop solicited moments ago)"),
  counter(
    "solicits6_unsupported",
    "IPv6 neighbor misses not solicited: no IPv6 solicit encoder in this build, or a solicit ring slot too small for it",
  ),
  counter("tx_ring_full", "Polls that left app messages waiting: AF_XDP TX ring full"),
  counter("tx_no_frame", "Polls that left app messages waiting: no free UMEM frame"),
  counter("fill_ring_empty", "Polls that found the fill ring completely empty (RX starved)"),
  counter("xsk_tx_kicks", "TX kick syscalls (sendto) asked for by the ring flag"),
  counter("xsk_tx_kick_busy", "TX kicks answered EAGAIN/EBUSY/ENOBUFS (retried)"),
  counter("xsk_tx_kick_errors", "TX kicks failing otherwise"),
  counter("xsk_rx_wakeups", "Fill/RX wakeup syscalls (recvfrom) asked for by the ring flag"),
  counter("xsk_idle_polls", "Idle waits: poll(2) on the socket and the apps' eventfd"),
  counter("idle_wakes_socket", "Idle waits ended by the socket (a received frame)"),
  counter("idle_wakes_app", "Idle waits ended by an app's send (its eventfd signal)"),
  counter("idle_timeouts", "Idle waits ended by their timeout (housekeeping due, or a TX kick to retry)"),
  counter("xsk_rx_dropped", "Kernel: frames dropped for this socket (XDP_STATISTICS rx_dropped)"),
  counter("xsk_rx_ring_full", "Kernel: frames dropped because the RX ring was full"),
  counter("xsk_rx_fill_ring_empty", "Kernel: times the fill ring was empty on receive"),
  counter("xsk_rx_invalid_descs", "Kernel: invalid RX descriptors"),
  counter("xsk_tx_invalid_descs", "Kernel: invalid TX descriptors"),
  counter("capture_frames", "Frames copied into the capture ring (tilenet dump attached)"),
  counter("capture_drops", "Frames a capture matched but dropped: its ring was full (the reader lags)"),
  gauge("rx_frames_free", "UMEM receive frames not given to the kernel"),
  gauge("tx_frames_free", "UMEM transmit frames free"),
];

const SOL_XDP = 283;
const XDP_STATISTICS = 7;

/** Beyond the Node baseline: the TX kick and RX wakeup on the AF_XDP socket exactly as
 *  native/xsk.cc makes them (sendto/recvfrom with a null buffer and MSG_DONTWAIT), its
 *  XDP_STATISTICS, and poll for the idle wait (its argument is a pointer: not pinnable). */
export function netPolicy(fds: Record<string, number>): SeccompPolicy {
  const xsk = fds[NET_FDS.xsk];
  if (xsk === undefined) throw new Error(`net policy: no fd for ${NET_FDS.xsk}`);
  // (fd, NULL, 0, MSG_DONTWAIT): the kick and the wakeup carry no data.
  const nullBufferOnXsk: ArgCheck[] = [
    { index: 0, op: "eq", value: xsk },
    { index: 1, op: "eq", value: 0 },
    { index: 2, op: "eq", value: 0 },
    { index: 3, op: "eq", value: MSG_DONTWAIT },
  ];
  return {
    name: "net",
    allow: [
      { syscall: "sendto", args: nullBufferOnXsk },
      { syscall: "recvfrom", args: nullBufferOnXsk },
      {
        syscall: "getsockopt",
        args: [
          { index: 0, op: "eq", value: xsk },
          { index: 1, op: "eq", value: SOL_XDP },
          { index: 2, op: "eq", value: XDP_STATISTICS },
        ],
      },
      "poll",
    ],
  };
}

/** Checks a config's shape; throws "net tile config: ..." naming the field. */
export function validateNetTileConfig(c: NetTileConfig): void {
  const fail = (what: string): never => {
    throw new Error(`net tile config: ${what}`);
  };
  if (!Number.isInteger(c.ifindex) || c.ifindex <= 0) fail(`ifindex ${c.ifindex} must be a positive integer`);
  if (c.idle !== undefined && !isIdleMode(c.idle)) fail(`idle ${String(c.idle)} must be "adaptive" or "spin"`);
  if (c.cpu !== undefined && (!Number.isInteger(c.cpu) || c.cpu < 0)) fail(`cpu ${c.cpu} must be a CPU number`);
  for (const k of XSK_GEOMETRY_FIELDS) if (!isPowerOfTwo(c[k])) fail(`${k} ${c[k]} must be a power of two`);
  const rxFrames = c.rxFrames ?? c.frameCount / 2;
  if (!Number.isInteger(rxFrames) || rxFrames < 1 || rxFrames >= c.frameCount)
    fail(`rxFrames ${rxFrames} must leave at least one frame on each side of ${c.frameCount}`);
  if (!isPowerOfTwo(c.channelDepth)) fail(`channelDepth ${c.channelDepth} must be a power of two`);
  // A received frame holds the kernel's headroom (256 in copy mode), then up to 60 bytes of
  // Ethernet + IPv4 (with options) + UDP headers.
  const room = c.frameSize - 256 - 14 - 60 - 8;
  if (!Number.isInteger(c.maxPayload) || c.maxPayload < 1 || c.maxPayload > room)
    fail(`maxPayload ${c.maxPayload} must be from 1 to ${room} for ${c.frameSize}-byte frames`);
  if (c.queueMisses !== undefined) {
    const { queueCount, queues } = c.queueMisses;
    if (!Number.isInteger(queueCount) || queueCount < 1 || queueCount > QUEUE_MISS_MAX_QUEUES)
      fail(`queueMisses.queueCount ${queueCount} must be 1..${QUEUE_MISS_MAX_QUEUES}`);
    for (const q of queues)
      if (!Number.isInteger(q) || q < 0 || q >= queueCount) fail(`queueMisses: queue ${q} is not below ${queueCount}`);
  }
  const seen = new Map<number, string>();
  const names = new Set<string>();
  for (const app of c.apps) {
    if (names.has(app.name)) fail(`app ${app.name} listed twice`);
    names.add(app.name);
    for (const p of app.ports) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) fail(`app ${app.name}: bad port ${p}`);
      const owner = seen.get(p);
      if (owner !== undefined) fail(`port ${p} belongs to both ${owner} and ${app.name}`);
      seen.set(p, app.name);
    }
  }
  validateReplicas(c.apps, fail);
}
