// The socket net tile's work: each port's socket -> recvmmsg batch -> the owning app's rx channel;
// each app's tx channel -> a sendmmsg batch on the socket of the message's source port (so a reply
// leaves through the socket its request came in on, from the address it was sent to).
//
// Hot path: one addon call per batch, never per datagram; the batch buffers are allocated once
// and reused, payloads are copied with copyRegion (slots sit at the channels' payload alignment so
// the word copy applies). Nothing waits on an app: a full rx channel drops (counted). A message
// taken from a tx channel is sent or dropped and counted (EAGAIN: socket buffer full).
//
// Idle (adaptive, as the XDP net tile): return at once for spinUs after the last work, for
// replySpinUs while an app holds datagrams this tile delivered; then raise every tx ring's sleeping
// flag and poll(2) the sockets and the wake eventfd together (native pollWake).

import { type MetricIndexes, metricIndexes } from "../../shared/metrics/keys";
import type { MetricsWriter } from "../../shared/metrics/writer";
import { native } from "../../shared/native";
import {
  UDP_PAYLOAD_ALIGN,
  UdpChannelReader,
  type UdpChannelRegions,
  UdpChannelWriter,
  type UdpMessage,
} from "../../shared/udp/channel";
import { ChannelIdle } from "../../shared/udp/channel-idle";
import { ByteRegion, copyRegion } from "../../shared/udp/copy";
import { doorbellView, ringDoorbell } from "../../shared/udp/doorbell";
import { flowReplica } from "../../shared/udp/flow-hash";
import { netAppReplicas } from "../../shared/udp/replicas";
import {
  SOCKET_BATCH_LENGTH,
  SOCKET_BATCH_LOCAL_IP,
  SOCKET_BATCH_META_WORDS,
  SOCKET_BATCH_PEER_IP,
  SOCKET_BATCH_PEER_PORT,
  SOCKET_BATCH_TRUNCATED,
} from "../../shared/udp/socket-batch";
import {
  NET_SOCKET_DEFAULTS,
  type NetSocketTileConfig,
  netSocketMetrics,
  netSocketPorts,
  validateNetSocketTileConfig,
} from "./definition";

/** The kernel calls the body makes (the addon's; replaceable in tests). */
export interface SocketSyscalls {
  udpRecvBatch(fd: number, buf: Uint8Array, slotBytes: number, meta: Uint32Array, maxMessages: number): number;
  udpSendBatch(fd: number, buf: Uint8Array, slotBytes: number, meta: Uint32Array, first: number, count: number): number;
  pollWake(fds: number | Int32Array, eventFd: number, timeoutMs: number): number;
}

export interface NetSocketTileResources {
  config: NetSocketTileConfig;
  metrics: MetricsWriter;
  log?: { info(obj: object, msg?: string): void };
  /** One socket per port, in netSocketPorts(config) order. */
  socketFds: number[];
  /** The eventfd the apps signal when this tile sleeps (absent: only the sockets wake it). */
  wakeFd?: number;
  /** Per app in config order, per replica in its order: rx (this tile produces), tx (this tile
   *  consumes), and the replica's doorbell (read-write) when it has one. */
  apps: { rx: UdpChannelRegions; tx: UdpChannelRegions; doorbell?: ArrayBuffer }[];
  syscalls?: SocketSyscalls;
}

const EAGAIN = 11;

function bodyMetrics(ix: MetricIndexes<typeof netSocketMetrics>) {
  return {
    rxPackets: ix.rx_packets,
    rxBytes: ix.rx_bytes,
    rxDelivered: ix.rx_delivered,
    rxDeliveredBytes: ix.rx_delivered_bytes,
    oversize: ix.rx_drop_oversize,
    appRingFull: ix.rx_app_ring_full,
    rxErrors: ix.rx_socket_errors,
    txMessages: ix.tx_messages,
    txPackets: ix.tx_packets,
    txIpv6: ix.tx_drop_ipv6,
    txBytes: ix.tx_bytes,
    badSourcePort: ix.tx_bad_source_port,
    badMessage: ix.tx_bad_message,
    socketFull: ix.tx_socket_full,
    sendErrors: ix.tx_send_errors,
    recvCalls: ix.recvmmsg_calls,
    sendCalls: ix.sendmmsg_calls,
    idlePolls: ix.idle_polls,
    idleWakesSocket: ix.idle_wakes_socket,
    idleWakesApp: ix.idle_wakes_app,
    idleTimeouts: ix.idle_timeouts,
  };
}
type BodyMetrics = ReturnType<typeof bodyMetrics>;

/** A batch's buffers with every slot at the channels' payload alignment (see copyRegion). */
class AlignedBatch {
  readonly region: ByteRegion;
  /** The slots' view handed to the addon: slot i starts at its byte i * slotBytes. */
  readonly slotsView: Uint8Array;
  readonly meta: Uint32Array;
  constructor(
    readonly slots: number,
    readonly slotBytes: number,
  ) {
    const buf = new ArrayBuffer(UDP_PAYLOAD_ALIGN + slots * slotBytes + 8);
    this.region = new ByteRegion(buf, 0, buf.byteLength & ~7);
    this.slotsView = new Uint8Array(buf, UDP_PAYLOAD_ALIGN, slots * slotBytes);
    this.meta = new Uint32Array(slots * SOCKET_BATCH_META_WORDS);
  }
  /** Offset of slot i's payload in `region`. */
  at(i: number): number {
    return UDP_PAYLOAD_ALIGN + i * this.slotBytes;
  }
}

export class NetSocketTileBody {
  readonly config: NetSocketTileConfig;
  private readonly metrics: MetricsWriter;
  private readonly m: BodyMetrics;
  private readonly sys: SocketSyscalls;
  private readonly fds: Int32Array;
  /** Per socket: its port and the app (index) owning it. */
  private readonly socketPort: Uint16Array;
  private readonly socketApp: Uint8Array;
  /** Socket index + 1 by port (0: no socket, so no app owns it). */
  private readonly socketOfPort = new Uint8Array(65536);
  /** App index + 1 by port. */
  private readonly portOwner = new Uint8Array(65536);
  /** Per channel (app by app, replica by replica): rx writer, tx reader, its app's index. */
  private readonly writers: UdpChannelWriter[] = [];
  private readonly readers: UdpChannelReader[] = [];
  private readonly channelApp: Uint8Array;
  /** Per app: its first channel and replica count. */
  private readonly appFirst: Int32Array;
  private readonly appReplicas: Int32Array;
  private readonly rx: AlignedBatch;
  private readonly tx: AlignedBatch;
  private readonly batch: number;
  private readonly maxPayload: number;
  private readonly idle: ChannelIdle;
  /** The idle poll, bound once (no closure per wait); idleMs is its timeout. */
  private readonly pollWake: () => number;
  private idleMs = 1;
  private now = 0;
  private lastWorkAt = Number.NEGATIVE_INFINITY;
  private startApp = 0;

  // Transmit pass state: the batch being filled goes out on one socket.
  private txApp = 0;
  private txReader: UdpChannelReader | undefined;
  private txSocket = -1;
  private txFill = 0;
  private readonly onTxMessage: (msg: UdpMessage) => void;

  constructor(res: NetSocketTileResources) {
    const c = res.config;
    validateNetSocketTileConfig(c);
    const ports = netSocketPorts(c);
    if (res.socketFds.length !== ports.length)
      throw new Error(`net-socket tile: ${res.socketFds.length} sockets for ${ports.length} ports`);
    const total = c.apps.reduce((n, app) => n + netAppReplicas(app).length, 0);
    if (res.apps.length !== total)
      throw new Error(`net-socket tile: ${res.apps.length} app channel sets for ${total} configured replica channels`);
    this.config = c;
    this.metrics = res.metrics;
    this.m = bodyMetrics(metricIndexes(res.metrics, netSocketMetrics));
    this.sys = res.syscalls ?? native();
    this.fds = Int32Array.from(res.socketFds);
    this.batch = c.batch ?? NET_SOCKET_DEFAULTS.batch;
    this.maxPayload = c.maxPayload;
    const wakeFd = res.wakeFd ?? -1;
    this.pollWake = () => this.sys.pollWake(this.fds, wakeFd, this.idleMs);
    this.socketPort = Uint16Array.from(ports);
    this.socketApp = new Uint8Array(ports.length);
    this.channelApp = new Uint8Array(total);
    this.appFirst = new Int32Array(c.apps.length);
    this.appReplicas = new Int32Array(c.apps.length);
    let s = 0;
    c.apps.forEach((app, a) => {
      this.openReplicas(res, a);
      for (const p of app.ports) {
        this.portOwner[p] = a + 1;
        this.socketApp[s] = a;
        this.socketOfPort[p] = ++s;
      }
    });
    // Slots one byte larger than maxPayload (rounded to words): a datagram that fills it was too
    // big for the channels, and the kernel's truncation flag says so for anything larger still.
    const slotBytes = (c.maxPayload + 1 + 7) & ~7;
    this.rx = new AlignedBatch(this.batch, slotBytes);
    this.tx = new AlignedBatch(this.batch, slotBytes);
    this.onTxMessage = (msg) => this.stageOne(msg);
    this.idle = new ChannelIdle(this.readers, this.writers, {
      spin: c.idle === "spin",
      spinMs: (c.spinUs ?? NET_SOCKET_DEFAULTS.spinUs) / 1000,
      replySpinMs: (c.replySpinUs ?? NET_SOCKET_DEFAULTS.replySpinUs) / 1000,
    });
    res.log?.info(
      { apps: c.apps.map((a) => `${a.name}:${a.ports.join(",")}`), batch: this.batch },
      "net-socket tile ready",
    );
  }

  /** App a's replica channels, appended to writers/readers. */
  private openReplicas(res: NetSocketTileResources, a: number): void {
    const c = res.config;
    const replicas = netAppReplicas(c.apps[a]);
    this.appFirst[a] = this.writers.length;
    this.appReplicas[a] = replicas.length;
    for (const r of replicas) {
      const regions = res.apps[this.writers.length];
      // A replica reading several channels sleeps on its doorbell, not on this ring's futex.
      const bell = regions.doorbell ? doorbellView(regions.doorbell) : undefined;
      const wake = bell ? () => ringDoorbell(bell) : undefined;
      this.channelApp[this.writers.length] = a;
      this.writers.push(new UdpChannelWriter(`rx.${r.channel}`, "rx", regions.rx, c.channelDepth, c.maxPayload, wake));
      this.readers.push(new UdpChannelReader(`tx.${r.channel}`, "tx", regions.tx, c.channelDepth, c.maxPayload));
    }
  }

  /** Most credit any of app a's replicas has (a stuck replica must not throttle the others). */
  private replicaRoom(a: number): number {
    const first = this.appFirst[a];
    const end = first + this.appReplicas[a];
    let room = 0;
    for (let ch = first; ch < end; ch++) room = Math.max(room, this.writers[ch].available());
    return room;
  }

  /** One pass: a batch from each socket, a batch from each app's tx channel. */
  poll(nowMs: number): number {
    this.now = nowMs;
    let work = 0;
    const fds = this.fds;
    for (let s = 0; s < fds.length; s++) work += this.receive(s);
    work += this.transmit();
    if (work > 0) this.lastWorkAt = nowMs;
    return work;
  }

  /** See the file comment (the policy is shared/udp/channel-idle.ts, the XDP net tile's too). */
  idleWait(timeoutMs: number): void {
    if (this.idle.keepSpinning(this.now - this.lastWorkAt)) return;
    this.idleMs = Math.max(1, Math.ceil(timeoutMs));
    const woke = this.idle.sleep(this.pollWake);
    if (woke < 0) return;
    const mx = this.metrics;
    mx.add(this.m.idlePolls, 1);
    if (woke === 0) mx.add(this.m.idleTimeouts, 1);
    if ((woke & 1) !== 0) mx.add(this.m.idleWakesSocket, 1);
    if ((woke & 2) !== 0) mx.add(this.m.idleWakesApp, 1);
  }

  // ---------------------------------------------------------------- receive

  /** One recvmmsg on socket s, at most what the owning app's channels have credit for; each
   *  datagram to its flow's replica (flowReplica, as the XDP net tiles). */
  private receive(s: number): number {
    const app = this.socketApp[s];
    const first = this.appFirst[app];
    const replicas = this.appReplicas[app];
    const mx = this.metrics;
    const rx = this.rx;
    // No more than the channels have credit for: the rest waits in the socket's buffer (it absorbs
    // the burst). At least one: a stuck app must not leave the socket readable for ever (the idle
    // poll would return at once and the tile spin); that one is dropped and counted.
    const room = Math.max(1, Math.min(this.batch, this.replicaRoom(app)));
    mx.add(this.m.recvCalls, 1);
    const n = this.sys.udpRecvBatch(this.fds[s], rx.slotsView, rx.slotBytes, rx.meta, room);
    if (n <= 0) {
      if (n < 0) mx.add(this.m.rxErrors, 1);
      return 0;
    }
    const meta = rx.meta;
    const port = this.socketPort[s];
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const m = i * SOCKET_BATCH_META_WORDS;
      const length = meta[m + SOCKET_BATCH_LENGTH];
      const peerPort = meta[m + SOCKET_BATCH_PEER_PORT];
      bytes += length;
      if (length > this.maxPayload || (peerPort & SOCKET_BATCH_TRUNCATED) !== 0) {
        mx.add(this.m.oversize, 1);
        continue;
      }
      const peerIp = meta[m + SOCKET_BATCH_PEER_IP];
      const localIp = meta[m + SOCKET_BATCH_LOCAL_IP];
      const replica = replicas === 1 ? 0 : flowReplica(peerIp, peerPort & 0xffff, localIp, port, replicas);
      const w = this.writers[first + replica];
      const at = w.begin();
      if (at < 0) {
        mx.add(this.m.appRingFull, 1);
        continue;
      }
      copyRegion(rx.region, rx.at(i), w.data, at, length);
      w.finish(peerIp, localIp, peerPort & 0xffff, port, length);
      mx.add(this.m.rxDelivered, 1);
      mx.add(this.m.rxDeliveredBytes, length);
    }
    for (let r = 0; r < replicas; r++) this.writers[first + r].flush();
    mx.add(this.m.rxPackets, n);
    mx.add(this.m.rxBytes, bytes);
    return n;
  }

  // ---------------------------------------------------------------- transmit

  private transmit(): number {
    const readers = this.readers;
    const channels = readers.length;
    const mx = this.metrics;
    let handled = 0;
    for (let k = 0; k < channels; k++) {
      const a = (this.startApp + k) % channels;
      const reader = readers[a];
      this.txApp = this.channelApp[a];
      this.txReader = reader;
      const taken = reader.poll(this.batch, this.onTxMessage);
      this.flushTx();
      // Credits back at once: the app's send() reports a full ring from them.
      if (taken > 0) reader.release();
      handled += taken;
      if (reader.malformed !== 0) {
        mx.add(this.m.badMessage, reader.malformed);
        reader.malformed = 0;
      }
    }
    if (channels > 1) this.startApp = (this.startApp + 1) % channels;
    if (handled > 0) mx.add(this.m.txMessages, handled);
    return handled;
  }

  /** Copies one app message into the send batch; a message for another socket sends the batch first. */
  private stageOne(msg: UdpMessage): void {
    const socket = this.socketOfPort[msg.srcPort] - 1;
    if (this.portOwner[msg.srcPort] !== this.txApp + 1 || socket < 0) {
      this.metrics.add(this.m.badSourcePort, 1);
      return;
    }
    if (msg.family !== 4) {
      this.metrics.add(this.m.txIpv6, 1); // IPv4 sockets only (IPv6 here is future work)
      return;
    }
    if (socket !== this.txSocket || this.txFill === this.tx.slots) this.flushTx();
    this.txSocket = socket;
    const tx = this.tx;
    const i = this.txFill++;
    copyRegion((this.txReader as UdpChannelReader).data, msg.offset, tx.region, tx.at(i), msg.length);
    const m = i * SOCKET_BATCH_META_WORDS;
    const meta = tx.meta;
    meta[m + SOCKET_BATCH_LENGTH] = msg.length;
    meta[m + SOCKET_BATCH_PEER_IP] = msg.dstIp;
    meta[m + SOCKET_BATCH_PEER_PORT] = msg.dstPort;
    meta[m + SOCKET_BATCH_LOCAL_IP] = msg.srcIp;
  }

  /** Sends the staged batch: sendmmsg until every datagram is sent or dropped (a refused one is
   *  skipped and counted; EAGAIN drops the rest: the socket buffer is full). */
  private flushTx(): void {
    const count = this.txFill;
    if (count === 0) return;
    this.txFill = 0;
    const tx = this.tx;
    const fd = this.fds[this.txSocket];
    const mx = this.metrics;
    let first = 0;
    let bytes = 0;
    let sent = 0;
    while (first < count) {
      mx.add(this.m.sendCalls, 1);
      const n = this.sys.udpSendBatch(fd, tx.slotsView, tx.slotBytes, tx.meta, first, count - first);
      if (n === -EAGAIN) {
        mx.add(this.m.socketFull, count - first);
        break;
      }
      if (n < 0) {
        mx.add(this.m.sendErrors, 1);
        first++;
        continue;
      }
      for (let i = first; i < first + n; i++) bytes += tx.meta[i * SOCKET_BATCH_META_WORDS + SOCKET_BATCH_LENGTH];
      sent += n;
      first += n;
    }
    mx.add(this.m.txPackets, sent);
    mx.add(this.m.txBytes, bytes);
  }
}
