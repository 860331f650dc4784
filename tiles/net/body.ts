// The net tile's work, independent of how its memory arrived (the tile runtime maps granted
// regions; tests make their own): AF_XDP receive -> parse -> the owning app's rx channel, and app
// tx channels -> route + neighbor from netbase -> Ethernet/IPv4/UDP frame in UMEM -> AF_XDP TX.
//
// Hot path: typed-array reads and writes over mapped memory only. Syscalls happen only when the
// kernel asks through a ring flag (TX kick, batched; fill wakeup), when an app sleeps and must be
// woken (futex, by the ring), in the idle wait, and for the socket's statistics in housekeeping.
// Nothing waits on an app: a full rx channel drops (counted); a message stays in an app's tx
// channel while the TX ring or UMEM is full.
//
// Idle: see idleWait (adaptive: a short spin, then one poll(2) on the socket and the eventfd the
// apps signal when they publish to a sleeping net tile; spin: never sleeps).
//
// Route, source, neighbor and the solicit on a neighbor miss: next-hop.ts (IPv4), next-hop6.ts
// (IPv6). Received frames are told apart by EtherType: 0x86dd goes to the IPv6 parser, anything
// else to the IPv4 one (which counts it). Messages say their family (shared/udp/channel.ts).
//
// Capture (tilenet dump, shared/capture/): one read of the attached flag per batch of received
// frames and per transmit pass; only while a dump is attached are frames tested and copied.

import { DIRECTION_RX, DIRECTION_TX } from "../../shared/capture/layout";
import { CaptureWriter, OFFER_CAPTURED, OFFER_DROPPED } from "../../shared/capture/writer";
import { type MetricIndexes, metricIndexes } from "../../shared/metrics/keys";
import type { MetricsWriter } from "../../shared/metrics/writer";
import { native, type XskRings, type XskStatistics } from "../../shared/native";
import { NetbaseReader } from "../../shared/netbase/reader";
import type { Netbase6Lookups } from "../../shared/netbase/v6";
import {
  buildUdpFrame,
  newUdpFrameFields,
  newUdpFrameInfo,
  PARSE_OK,
  parseUdpFrame,
  UDP_PAYLOAD_OFFSET,
  type UdpFrameFields,
  type UdpFrameInfo,
} from "../../shared/packet/udp-frame";
import {
  buildUdp6Frame,
  ETHERTYPE_IPV6,
  newUdp6FrameFields,
  newUdp6FrameInfo,
  parseUdp6Frame,
  UDP6_PAYLOAD_OFFSET,
  type Udp6FrameFields,
  type Udp6FrameInfo,
} from "../../shared/packet/udp6-frame";
import { RingProducer } from "../../shared/ring/producer";
import { UdpChannelReader, type UdpChannelRegions, UdpChannelWriter, type UdpMessage } from "../../shared/udp/channel";
import { ChannelIdle } from "../../shared/udp/channel-idle";
import { ByteRegion, copyRegion } from "../../shared/udp/copy";
import { doorbellView, ringDoorbell } from "../../shared/udp/doorbell";
import { flowReplica } from "../../shared/udp/flow-hash";
import { netbase6Of } from "../../shared/udp/netbase6";
import { QUEUE_MISS_COUNTER_BYTES, readQueueMisses } from "../../shared/xdp/queue-misses";
import { openXskRings, UmemFramePool, type XskRingSet } from "../../shared/xdp/xsk-ring";
import {
  NET_DEFAULTS,
  type NetTileConfig,
  netAppReplicas,
  netMetrics,
  RX_PARSE_DROP_NAMES,
  validateNetTileConfig,
} from "./definition";
import { NextHopCache } from "./next-hop";
import { NextHop6Cache } from "./next-hop6";
import type { EncodeSolicit6 } from "./solicit6";

export { netbase6Of };

/** The kernel calls the body makes (the addon's; replaceable in tests). */
export interface XskSyscalls {
  xskKick(fd: number): number;
  xskWakeup(fd: number): number;
  /** poll(2) on the socket and the wake eventfd (-1: none); bit 1 socket, bit 2 eventfd, 0 timeout. */
  pollWake(fd: number, eventFd: number, timeoutMs: number): number;
  xskStatistics(fd: number): XskStatistics;
}

/** One replica's channel pair (and doorbell) as this tile maps it. */
export interface NetChannelRegions {
  rx: UdpChannelRegions;
  tx: UdpChannelRegions;
  doorbell?: ArrayBuffer;
}

export interface NetTileResources {
  config: NetTileConfig;
  metrics: MetricsWriter;
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** netbase, mapped read-only. */
  netbase: ArrayBuffer;
  /** The IPv6 lookups (tests' fakes); default: the netbase reader's when it has them (netbase6Of). */
  netbase6?: Netbase6Lookups;
  /** The IPv6 solicit encoder (tests); default: shared/solicit's, through tiles/net/solicit6.ts. */
  encodeSolicit6?: EncodeSolicit6;
  /** The UMEM memfd, mapped read-write (frameSize * frameCount bytes). */
  umem: ArrayBuffer;
  xskFd: number;
  /** The eventfd the apps signal when this tile sleeps (see idleWait); absent: only the socket
   *  wakes the tile, and an app's own send waits for the next housekeeping (tests). */
  wakeFd?: number;
  /** The socket's four rings, mapped by the caller (xskMapRings) before any sandbox. */
  xskRings: XskRings;
  solicit: { producer: ArrayBuffer; consumer: ArrayBuffer };
  /** Per app in config order, per replica in its order (netAppReplicas): rx (this tile
   *  produces), tx (this tile consumes), and the replica's doorbell (read-write) when it has one. */
  apps: NetChannelRegions[];
  /** The interface's queue-miss counters, mapped read-only (config queueMisses). */
  queueMisses?: ArrayBuffer;
  /** The capture regions (tilenet dump): control mapped read-only, ring read-write. Absent: no capture. */
  capture?: { control: ArrayBuffer; ring: ArrayBuffer };
  syscalls?: XskSyscalls;
}

const EAGAIN = 11;
const EBUSY = 16;
const ENOBUFS = 105;
/** Kicks per poll while the kernel answers EAGAIN (copy mode sends 32 frames per call). */
const MAX_KICKS_PER_POLL = 8;
/** Frames one copy-mode kick sends (the kernel's TX batch). */
const KICK_BATCH = 32;
const STATS_INTERVAL_MS = 250;

/** The body's metric indexes under short names (the hot path reads fields only). */
function bodyMetrics(ix: MetricIndexes<typeof netMetrics>) {
  return {
    rxPackets: ix.rx_packets,
    rxBytes: ix.rx_bytes,
    rxDelivered: ix.rx_delivered,
    rxDeliveredBytes: ix.rx_delivered_bytes,
    noApp: ix.rx_drop_no_app_for_port,
    oversize: ix.rx_drop_oversize,
    appRingFull: ix.rx_app_ring_full,
    unservedQueue: ix.rx_drop_unserved_queue,
    txMessages: ix.tx_messages,
    txPackets: ix.tx_packets,
    rx6Delivered: ix.rx6_delivered,
    tx6Packets: ix.tx6_packets,
    txBytes: ix.tx_bytes,
    txCompleted: ix.tx_completed,
    badSourcePort: ix.tx_bad_source_port,
    badMessage: ix.tx_bad_message,
    txRingFull: ix.tx_ring_full,
    txNoFrame: ix.tx_no_frame,
    fillEmpty: ix.fill_ring_empty,
    kicks: ix.xsk_tx_kicks,
    kickBusy: ix.xsk_tx_kick_busy,
    kickErrors: ix.xsk_tx_kick_errors,
    wakeups: ix.xsk_rx_wakeups,
    idlePolls: ix.xsk_idle_polls,
    idleWakesSocket: ix.idle_wakes_socket,
    idleWakesApp: ix.idle_wakes_app,
    idleTimeouts: ix.idle_timeouts,
    kRxDropped: ix.xsk_rx_dropped,
    kRxRingFull: ix.xsk_rx_ring_full,
    kFillEmpty: ix.xsk_rx_fill_ring_empty,
    kRxInvalid: ix.xsk_rx_invalid_descs,
    kTxInvalid: ix.xsk_tx_invalid_descs,
    captureFrames: ix.capture_frames,
    captureDrops: ix.capture_drops,
    rxFree: ix.rx_frames_free,
    txFree: ix.tx_frames_free,
  };
}
type BodyMetrics = ReturnType<typeof bodyMetrics>;

/** Metric index by parse result code (index 0 unused). */
function parseDropMetrics(ix: MetricIndexes<typeof netMetrics>): Int32Array {
  const out = new Int32Array(RX_PARSE_DROP_NAMES.length + 1);
  RX_PARSE_DROP_NAMES.forEach((name, i) => {
    out[i + 1] = ix[`rx_drop_${name}`];
  });
  return out;
}

export class NetTileBody {
  readonly config: NetTileConfig;
  private readonly metrics: MetricsWriter;
  private readonly sys: XskSyscalls;
  private readonly fd: number;
  private readonly mapped: XskRings;
  private readonly rings: XskRingSet;
  private readonly umem: ByteRegion;
  private readonly rxPool: UmemFramePool;
  private readonly txPool: UmemFramePool;
  private readonly nextHops: NextHopCache;
  private readonly nextHops6: NextHop6Cache;
  /** Per channel (app by app, replica by replica): rx writer and tx reader. */
  private readonly writers: UdpChannelWriter[];
  private readonly readers: UdpChannelReader[];
  /** Per channel: its app's index. Per app: its first channel and replica count. */
  private readonly channelApp: Uint8Array;
  private readonly appFirst: Int32Array;
  private readonly appReplicas: Int32Array;
  /** App index + 1 by UDP port (0: no app). */
  private readonly portOwner = new Uint8Array(65536);
  /** Queue-miss counters and the sum last reported (config queueMisses). */
  private readonly queueMisses: DataView | undefined;
  private queueMissesSeen = 0;
  private readonly batch: number;
  private readonly maxPayload: number;
  private readonly maxIdleMs: number;
  private readonly idle: ChannelIdle;
  /** The idle poll, bound once (no closure per wait); idleMs is its timeout. */
  private readonly pollWake: () => number;
  private idleMs = 1;
  private lastWorkAt = Number.NEGATIVE_INFINITY;
  private readonly kickDelayMs: number;
  /** Poll time of the oldest frame submitted and not yet kicked (-1: none). */
  private kickPendingSince = -1;
  private readonly log: NetTileResources["log"];
  private readonly capture: CaptureWriter | undefined;
  /** Whether this batch copies frames into the capture ring (the flag is read once per batch). */
  private capturing = false;

  // Parsing and building state, reused for every frame.
  private readonly info: UdpFrameInfo = newUdpFrameInfo();
  private readonly fields: UdpFrameFields = newUdpFrameFields();
  private readonly info6: Udp6FrameInfo = newUdp6FrameInfo();
  private readonly fields6: Udp6FrameFields = newUdp6FrameFields();
  private ipId = 0;
  private now = 0;
  private nextStatsAt = 0;
  private startApp = 0;

  // TX pass state (set before each channel's ring poll; txApp is the channel's app).
  private txApp = 0;
  private txFill = 0;
  private txBytes = 0;
  private txReader: UdpChannelReader | undefined;
  private readonly onTxMessage: (msg: UdpMessage) => void;

  private readonly m: BodyMetrics;
  /** Metric index by parse result code (index 0 unused). */
  private readonly parseDrop: Int32Array;

  constructor(res: NetTileResources) {
    const c = res.config;
    validateNetTileConfig(c);
    this.config = c;
    this.metrics = res.metrics;
    this.log = res.log;
    this.sys = res.syscalls ?? native();
    this.fd = res.xskFd;
    this.batch = c.batch ?? NET_DEFAULTS.batch;
    this.maxPayload = c.maxPayload;
    this.maxIdleMs = c.maxIdleMs ?? NET_DEFAULTS.maxIdleMs;
    const wakeFd = res.wakeFd ?? -1;
    this.pollWake = () => this.sys.pollWake(this.fd, wakeFd, this.idleMs);
    this.kickDelayMs = (c.kickDelayUs ?? NET_DEFAULTS.kickDelayUs) / 1000;
    this.fields.ttl = c.ttl ?? NET_DEFAULTS.ttl;
    this.fields6.hopLimit = this.fields.ttl;
    this.fields6.srcMac = this.fields.srcMac; // one interface MAC, refreshed by the IPv4 cache

    const umemBytes = c.frameSize * c.frameCount;
    if (res.umem.byteLength < umemBytes)
      throw new Error(`net tile: UMEM region of ${res.umem.byteLength} bytes, needs ${umemBytes}`);
    this.umem = new ByteRegion(res.umem, 0, umemBytes);
    this.mapped = res.xskRings;
    this.rings = openXskRings(res.xskRings, c);
    const rxFrames = c.rxFrames ?? c.frameCount / 2;
    this.rxPool = new UmemFramePool(c.frameSize, 0, rxFrames);
    this.txPool = new UmemFramePool(c.frameSize, rxFrames, c.frameCount - rxFrames);
    const solicitRing = new RingProducer("solicit", res.solicit.producer, res.solicit.consumer, c.solicitRing);
    if (solicitRing.spec.kind !== "unreliable")
      throw new Error("net tile: the solicit ring must be unreliable (the net tile never waits for the netlink tile)");

    const channels = this.openChannels(res);
    this.writers = channels.writers;
    this.readers = channels.readers;
    this.channelApp = channels.channelApp;
    this.appFirst = channels.appFirst;
    this.appReplicas = channels.appReplicas;
    if (
      res.queueMisses &&
      c.queueMisses &&
      res.queueMisses.byteLength < c.queueMisses.queueCount * QUEUE_MISS_COUNTER_BYTES
    )
      throw new Error(
        `net tile: queue-miss region of ${res.queueMisses.byteLength} bytes for ${c.queueMisses.queueCount} queues`,
      );
    this.queueMisses = res.queueMisses && c.queueMisses ? new DataView(res.queueMisses) : undefined;
    this.queueMissesSeen = this.sumQueueMisses();

    const mx = res.metrics;
    const ix = metricIndexes(mx, netMetrics);
    this.m = bodyMetrics(ix);
    this.parseDrop = parseDropMetrics(ix);
    const netbase = new NetbaseReader(res.netbase);
    this.nextHops = new NextHopCache({
      netbase,
      ifindex: c.ifindex,
      srcMac: this.fields.srcMac,
      metrics: mx,
      ix,
      solicitRing,
      resolicitMs: c.resolicitMs ?? NET_DEFAULTS.resolicitMs,
    });
    this.nextHops6 = new NextHop6Cache({
      netbase: res.netbase6 ?? netbase6Of(netbase),
      ifindex: c.ifindex,
      metrics: mx,
      ix,
      solicitRing,
      resolicitMs: c.resolicitMs ?? NET_DEFAULTS.resolicitMs,
      interfaceMac: () => this.nextHops.interfaceMac(),
      ...(res.encodeSolicit6 ? { encode: res.encodeSolicit6 } : {}),
    });
    this.capture = res.capture ? new CaptureWriter(res.capture.control, res.capture.ring) : undefined;
    this.onTxMessage = (msg) => this.transmitOne(msg);
    this.idle = new ChannelIdle(this.readers, this.writers, {
      spin: c.idle === "spin",
      spinMs: (c.spinUs ?? NET_DEFAULTS.spinUs) / 1000,
      replySpinMs: (c.replySpinUs ?? NET_DEFAULTS.replySpinUs) / 1000,
    });

    // Give the kernel every receive frame now: the socket receives from the moment the program
    // redirects, which the launcher arranged before this tile started.
    this.refill();
    this.log?.info(
      {
        ifindex: c.ifindex,
        queue: c.queueId,
        apps: c.apps.map((a) => `${a.name}:${a.ports.join(",")}`),
        rxFrames,
        txFrames: c.frameCount - rxFrames,
      },
      "net tile ready",
    );
  }

  /** The channels of every app's replicas, flattened in (app, replica) order; the port map. */
  private openChannels(res: NetTileResources) {
    const c = res.config;
    const total = c.apps.reduce((n, app) => n + netAppReplicas(app).length, 0);
    if (res.apps.length !== total)
      throw new Error(`net tile: ${res.apps.length} app channel sets for ${total} configured replica channels`);
    const writers: UdpChannelWriter[] = [];
    const readers: UdpChannelReader[] = [];
    const channelApp = new Uint8Array(total);
    const appFirst = new Int32Array(c.apps.length);
    const appReplicas = new Int32Array(c.apps.length);
    c.apps.forEach((app, a) => {
      const replicas = netAppReplicas(app);
      appFirst[a] = writers.length;
      appReplicas[a] = replicas.length;
      for (const r of replicas) {
        const regions = res.apps[writers.length];
        // A replica reading several channels sleeps on its doorbell, not on this ring's futex.
        const bell = regions.doorbell ? doorbellView(regions.doorbell) : undefined;
        const wake = bell ? () => ringDoorbell(bell) : undefined;
        channelApp[writers.length] = a;
        writers.push(new UdpChannelWriter(`rx.${r.channel}`, "rx", regions.rx, c.channelDepth, c.maxPayload, wake));
        readers.push(new UdpChannelReader(`tx.${r.channel}`, "tx", regions.tx, c.channelDepth, c.maxPayload));
      }
      for (const p of app.ports) this.portOwner[p] = a + 1;
    });
    return { writers, readers, channelApp, appFirst, appReplicas };
  }

  /** Sum of the unserved queues' miss counters (0 without them). */
  private sumQueueMisses(): number {
    const v = this.queueMisses;
    const qm = this.config.queueMisses;
    if (v === undefined || qm === undefined) return 0;
    let sum = 0;
    for (const q of qm.queues) sum += readQueueMisses(v, q);
    return sum;
  }

  /** One pass: completions, a batch of received frames, a batch of each app's messages. */
  poll(nowMs: number): number {
    this.now = nowMs;
    let work = this.reapCompletions();
    work += this.receive();
    work += this.transmit();
    if (work > 0) this.lastWorkAt = nowMs;
    return work;
  }

  housekeeping(nowMs: number): void {
    const mx = this.metrics;
    mx.set(this.m.rxFree, this.rxPool.available);
    mx.set(this.m.txFree, this.txPool.available);
    if (nowMs < this.nextStatsAt) return;
    this.nextStatsAt = nowMs + STATS_INTERVAL_MS;
    const s = this.sys.xskStatistics(this.fd);
    mx.set(this.m.kRxDropped, s.rxDropped);
    mx.set(this.m.kRxRingFull, s.rxRingFull);
    mx.set(this.m.kFillEmpty, s.rxFillRingEmptyDescs);
    mx.set(this.m.kRxInvalid, s.rxInvalidDescs);
    mx.set(this.m.kTxInvalid, s.txInvalidDescs);
    if (this.queueMisses !== undefined) {
      // The growth since the last look (a reset map restarts the count rather than going negative).
      const sum = this.sumQueueMisses();
      if (sum > this.queueMissesSeen) mx.add(this.m.unservedQueue, sum - this.queueMissesSeen);
      this.queueMissesSeen = sum;
    }
  }

  /**
   * Idle (called by the runtime after every empty poll). Adaptive: return at once (the runtime
   * polls again) for spinUs after the last work, replySpinUs while an app holds datagrams this
   * tile delivered (its answer comes next); then raise the sleeping flag of every app's tx
   * ring and poll(2) the socket and the wake eventfd together. A received frame makes the socket
   * readable; an app that publishes while its ring's flag is up signals the eventfd (RingProducer's
   * wake), so neither waits for a timer. The timeout is only the runtime's housekeeping (or
   * maxIdleMs while frames wait in the TX ring for the kernel). Spin: never sleeps.
   */
  idleWait(timeoutMs: number): void {
    // Poll clock: the runtime polls right before. The policy: shared/udp/channel-idle.ts.
    if (this.idle.keepSpinning(this.now - this.lastWorkAt)) return;
    const tx = this.rings.tx;
    const txWaiting = tx.free(tx.depth) !== tx.depth;
    this.idleMs = Math.max(1, Math.ceil(txWaiting ? Math.min(this.maxIdleMs, timeoutMs) : timeoutMs));
    const woke = this.idle.sleep(this.pollWake);
    if (woke < 0) return;
    const mx = this.metrics;
    mx.add(this.m.idlePolls, 1);
    if (woke === 0) mx.add(this.m.idleTimeouts, 1);
    if ((woke & 1) !== 0) mx.add(this.m.idleWakesSocket, 1);
    if ((woke & 2) !== 0) mx.add(this.m.idleWakesApp, 1);
  }

  /** Unmaps the rings (the socket is released once its fds are closed too). */
  close(): void {
    native().xskUnmapRings(this.mapped);
  }

  // ---------------------------------------------------------------- receive

  private refill(): void {
    const fill = this.rings.fill;
    const pool = this.rxPool;
    if (fill.free(fill.depth) === fill.depth) this.metrics.add(this.m.fillEmpty, 1);
    const want = pool.available;
    if (want === 0) return;
    const n = fill.reserve(want);
    if (n === 0) return;
    for (let i = 0; i < n; i++) fill.setAddr(i, pool.alloc());
    fill.submit(n);
    if (fill.needsWakeup()) {
      this.metrics.add(this.m.wakeups, 1);
      this.sys.xskWakeup(this.fd);
    }
  }

  private receive(): number {
    const rx = this.rings.rx;
    const n = rx.peek(this.batch);
    if (n === 0) return 0;
    this.capturing = this.capture?.attached() === true;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const addr = rx.addr(i);
      const len = rx.len(i);
      bytes += len;
      this.receiveOne(addr, len);
      this.rxPool.free(addr);
    }
    rx.release(n);
    const writers = this.writers;
    for (let a = 0; a < writers.length; a++) writers[a].flush();
    const mx = this.metrics;
    mx.add(this.m.rxPackets, n);
    mx.add(this.m.rxBytes, bytes);
    this.refill();
    return n;
  }

  private receiveOne(addr: number, len: number): void {
    const u8 = this.umem.u8;
    if (len >= 14 && ((u8[addr + 12] << 8) | u8[addr + 13]) === ETHERTYPE_IPV6) {
      this.receiveOne6(addr, len);
      return;
    }
    const info = this.info;
    const mx = this.metrics;
    const r = parseUdpFrame(u8, addr, len, info);
    if (this.capturing) this.captureRx(addr, len, r === PARSE_OK);
    if (r !== PARSE_OK) {
      mx.add(this.parseDrop[r], 1);
      return;
    }
    const app = this.portOwner[info.dstPort];
    if (app === 0) {
      mx.add(this.m.noApp, 1);
      return;
    }
    const length = info.payloadLen;
    if (length > this.maxPayload) {
      mx.add(this.m.oversize, 1);
      return;
    }
    // The app's replica for this flow: every net tile picks the same one for the same 4-tuple.
    const replicas = this.appReplicas[app - 1];
    const replica = replicas === 1 ? 0 : flowReplica(info.srcIp, info.srcPort, info.dstIp, info.dstPort, replicas);
    const w = this.writers[this.appFirst[app - 1] + replica];
    const at = w.begin();
    if (at < 0) {
      mx.add(this.m.appRingFull, 1);
      return;
    }
    copyRegion(this.umem, info.payloadOff, w.data, at, length);
    w.finish(info.srcIp, info.dstIp, info.srcPort, info.dstPort, length);
    mx.add(this.m.rxDelivered, 1);
    mx.add(this.m.rxDeliveredBytes, length);
  }

  private receiveOne6(addr: number, len: number): void {
    const info = this.info6;
    const mx = this.metrics;
    const r = parseUdp6Frame(this.umem.u8, addr, len, info);
    if (this.capturing) this.captureRx6(addr, len, r === PARSE_OK);
    if (r !== PARSE_OK) {
      mx.add(this.parseDrop[r], 1);
      return;
    }
    const app = this.portOwner[info.dstPort];
    if (app === 0) {
      mx.add(this.m.noApp, 1);
      return;
    }
    const length = info.payloadLen;
    if (length > this.maxPayload) {
      mx.add(this.m.oversize, 1);
      return;
    }
    const replicas = this.appReplicas[app - 1];
    const s = info.srcIp;
    const d = info.dstIp;
    const replica =
      replicas === 1
        ? 0
        : flowReplica(s[0] ^ s[1] ^ s[2] ^ s[3], info.srcPort, d[0] ^ d[1] ^ d[2] ^ d[3], info.dstPort, replicas);
    const w = this.writers[this.appFirst[app - 1] + replica];
    const at = w.begin(6);
    if (at < 0) {
      mx.add(this.m.appRingFull, 1);
      return;
    }
    copyRegion(this.umem, info.payloadOff, w.data, at, length);
    w.finish6(s, 0, d, 0, info.srcPort, info.dstPort, length, this.config.ifindex);
    mx.add(this.m.rxDelivered, 1);
    mx.add(this.m.rx6Delivered, 1);
    mx.add(this.m.rxDeliveredBytes, length);
  }

  // ---------------------------------------------------------------- transmit

  private reapCompletions(): number {
    const comp = this.rings.completion;
    const n = comp.peek(this.rings.completion.depth);
    if (n === 0) return 0;
    for (let i = 0; i < n; i++) this.txPool.free(comp.addr(i));
    comp.release(n);
    this.metrics.add(this.m.txCompleted, n);
    return n;
  }

  private transmit(): number {
    const tx = this.rings.tx;
    const mx = this.metrics;
    this.nextHops.startPass(this.now);
    this.nextHops6.startPass(this.now, this.nextHops.generation);
    this.capturing = this.capture?.attached() === true;
    const readers = this.readers;
    const channels = readers.length;
    let handled = 0;
    let submitted = 0;
    for (let k = 0; k < channels; k++) {
      const a = (this.startApp + k) % channels;
      const reader = readers[a];
      const frames = this.txPool.available;
      let room = Math.min(this.batch, frames, tx.free(this.batch));
      if (room === 0) {
        if (reader.hasData()) mx.add(frames === 0 ? this.m.txNoFrame : this.m.txRingFull, 1);
        continue;
      }
      room = tx.reserve(room);
      this.txApp = this.channelApp[a];
      this.txFill = 0;
      this.txBytes = 0;
      this.txReader = reader;
      const taken = reader.poll(room, this.onTxMessage);
      // Credits back at once: the app's send() reports a full ring from them.
      if (taken > 0) reader.release();
      handled += taken;
      const malformed = reader.malformed;
      if (malformed !== 0) {
        mx.add(this.m.badMessage, malformed);
        reader.malformed = 0;
      }
      if (this.txFill > 0) {
        tx.submit(this.txFill);
        submitted += this.txFill;
        mx.add(this.m.txPackets, this.txFill);
        mx.add(this.m.txBytes, this.txBytes);
      }
    }
    if (channels > 1) this.startApp = (this.startApp + 1) % channels;
    if (handled > 0) mx.add(this.m.txMessages, handled);
    this.kick(submitted);
    return handled + submitted;
  }

  /**
   * Kicks while frames wait in the TX ring and the kernel asks for it. Each kick is a syscall that
   * sends up to 32 frames, so while apps keep adding frames, the kick waits for a full batch, for
   * a poll that adds nothing (the burst is over), or kickDelayUs after the first waiting frame.
   */
  private kick(submitted: number): void {
    const tx = this.rings.tx;
    const mx = this.metrics;
    const waiting = tx.depth - tx.free(tx.depth);
    if (waiting === 0) return;
    if (submitted > 0) {
      if (this.kickPendingSince < 0) this.kickPendingSince = this.now;
      if (waiting < KICK_BATCH && this.now - this.kickPendingSince < this.kickDelayMs) return;
    }
    this.kickPendingSince = -1;
    for (let k = 0; k < MAX_KICKS_PER_POLL; k++) {
      if (k > 0 && tx.free(tx.depth) === tx.depth) return;
      if (!tx.needsWakeup()) return;
      mx.add(this.m.kicks, 1);
      const rc = this.sys.xskKick(this.fd);
      if (rc === 0) return;
      if (rc === -EAGAIN || rc === -EBUSY || rc === -ENOBUFS) {
        mx.add(this.m.kickBusy, 1);
        if (rc !== -EAGAIN) return; // completions must drain first
      } else {
        mx.add(this.m.kickErrors, 1);
        return;
      }
    }
  }

  private transmitOne(msg: UdpMessage): void {
    const mx = this.metrics;
    if (this.portOwner[msg.srcPort] !== this.txApp + 1) {
      mx.add(this.m.badSourcePort, 1);
      return;
    }
    if (msg.family === 6) {
      this.transmitOne6(msg);
      return;
    }
    const nextHops = this.nextHops;
    const slot = nextHops.resolve(msg.dstIp, msg.srcIp);
    if (slot < 0) return;
    const addr = this.txPool.alloc();
    const u8 = this.umem.u8;
    copyRegion((this.txReader as UdpChannelReader).data, msg.offset, this.umem, addr + UDP_PAYLOAD_OFFSET, msg.length);
    const f = this.fields;
    const macAt = slot * 6;
    const cmac = nextHops.mac;
    const dmac = f.dstMac;
    for (let i = 0; i < 6; i++) dmac[i] = cmac[macAt + i];
    f.srcIp = nextHops.src[slot] >>> 0;
    f.dstIp = msg.dstIp;
    f.srcPort = msg.srcPort;
    f.dstPort = msg.dstPort;
    f.ipId = this.ipId = (this.ipId + 1) & 0xffff;
    const len = buildUdpFrame(u8, addr, f, msg.length);
    if (this.capturing) this.captureTx(addr, len);
    this.rings.tx.setDesc(this.txFill++, addr, len);
    this.txBytes += len;
  }

  private transmitOne6(msg: UdpMessage): void {
    const nextHops = this.nextHops6;
    const slot = nextHops.resolve(msg.dst6, 0, msg.src6, 0, msg.ifindex);
    if (slot < 0) return;
    const addr = this.txPool.alloc();
    copyRegion((this.txReader as UdpChannelReader).data, msg.offset, this.umem, addr + UDP6_PAYLOAD_OFFSET, msg.length);
    const f = this.fields6;
    const macAt = slot * 6;
    const cmac = nextHops.mac;
    const dmac = f.dstMac;
    for (let i = 0; i < 6; i++) dmac[i] = cmac[macAt + i];
    f.src = nextHops.src;
    f.srcAt = slot * 4;
    f.dst = msg.dst6;
    f.dstAt = 0;
    f.srcPort = msg.srcPort;
    f.dstPort = msg.dstPort;
    const len = buildUdp6Frame(this.umem.u8, addr, f, msg.length);
    if (this.capturing) this.captureTx6(addr, len);
    this.rings.tx.setDesc(this.txFill++, addr, len);
    this.txBytes += len;
    this.metrics.add(this.m.tx6Packets, 1);
  }

  // ---------------------------------------------------------------- capture (tilenet dump)

  /** A received frame, after parsing (info holds its addresses when parsed). */
  private captureRx(addr: number, len: number, parsed: boolean): void {
    const cap = this.capture as CaptureWriter;
    const u8 = this.umem.u8;
    const i = this.info;
    const r = parsed
      ? cap.offerUdp(DIRECTION_RX, u8, addr, len, i.srcIp, i.dstIp, i.srcPort, i.dstPort)
      : cap.offerUnparsed(DIRECTION_RX, u8, addr, len);
    this.countCapture(r);
  }

  /** A received IPv6 frame: the capture filter's addresses are IPv4 (a v6 frame matches only a
   *  filter without an address), its ports apply. */
  private captureRx6(addr: number, len: number, parsed: boolean): void {
    const cap = this.capture as CaptureWriter;
    const u8 = this.umem.u8;
    const i = this.info6;
    const r = parsed
      ? cap.offerUdp(DIRECTION_RX, u8, addr, len, 0, 0, i.srcPort, i.dstPort)
      : cap.offerUnparsed(DIRECTION_RX, u8, addr, len);
    this.countCapture(r);
  }

  private captureTx6(addr: number, len: number): void {
    const f = this.fields6;
    const cap = this.capture as CaptureWriter;
    this.countCapture(cap.offerUdp(DIRECTION_TX, this.umem.u8, addr, len, 0, 0, f.srcPort, f.dstPort));
  }

  /** A frame built for sending, before it is submitted. */
  private captureTx(addr: number, len: number): void {
    const f = this.fields;
    const cap = this.capture as CaptureWriter;
    this.countCapture(cap.offerUdp(DIRECTION_TX, this.umem.u8, addr, len, f.srcIp, f.dstIp, f.srcPort, f.dstPort));
  }

  private countCapture(result: number): void {
    if (result === OFFER_CAPTURED) this.metrics.add(this.m.captureFrames, 1);
    else if (result === OFFER_DROPPED) this.metrics.add(this.m.captureDrops, 1);
  }

  // ---------------------------------------------------------------- introspection (tests, logs)

  get framesFree(): { rx: number; tx: number } {
    return { rx: this.rxPool.available, tx: this.txPool.available };
  }
}
