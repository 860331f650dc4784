// The app tile's work, independent of how its memory arrived: read the rx channels, call the
// module's onPacket with one reused packet object per channel whose payload lies in place in that
// channel's rx data region, and let reply/send copy payloads into a tx channel (published once per
// poll). A replica has one channel per net tile feeding it: reply() answers on the channel the
// packet came in on; send() picks one by flow hash (among the channels of the route's interface
// when routeByNetbase), so one flow keeps one channel. With several channels it sleeps on its
// doorbell (shared/udp/doorbell.ts), since one futex cannot watch several rings.
// IPv6: messages carry their family; a packet's IPv6 addresses are reused Uint32Array(4) views
// filled per delivery (api.ts), and reply/send write IPv6 records (finish6) without allocating.

import { formatIp6, isIp6V4Mapped, parseIp6 } from "../../shared/ip6";
import { metricIndexes } from "../../shared/metrics/keys";
import type { MetricsWriter } from "../../shared/metrics/writer";
import { NetbaseReader, RouteResult } from "../../shared/netbase/reader";
import { type Netbase6Lookups, Route6Result } from "../../shared/netbase/v6";
import { ipToString, parseIp } from "../../shared/netmodel";
import { UdpChannelReader, type UdpChannelRegions, UdpChannelWriter, type UdpMessage } from "../../shared/udp/channel";
import { type ByteRegion, copyIntoRegion, copyRegion } from "../../shared/udp/copy";
import { doorbellView, sleepOnDoorbell } from "../../shared/udp/doorbell";
import { flowReplica } from "../../shared/udp/flow-hash";
import { netbase6Of } from "../../shared/udp/netbase6";
import type { AppApi, AppLog, AppModule, UdpPacket } from "./api";
import { type AppTileConfig, appChannels, appMetrics } from "./definition";

/** One channel as this tile maps it: rx (it consumes), tx (it produces), and how to wake the
 *  net tile at its other end when that sleeps (its eventfd; absent: FUTEX_WAKE on the tx ring). */
export interface AppChannelResources {
  rx: UdpChannelRegions;
  tx: UdpChannelRegions;
  wakeNet?: () => void;
}

export interface AppTileResources {
  config: AppTileConfig;
  metrics: MetricsWriter;
  /** The module, or how to make it: called at start(), i.e. inside the sandbox (its top level runs then). */
  module: AppModule | (() => AppModule);
  log: {
    info(obj: object, msg?: string): void;
    warn(obj: object, msg?: string): void;
    error(obj: object, msg?: string): void;
  };
  /** The channels in config order (appChannels). Or, for one channel, rx / tx / wakeNet below. */
  channels?: AppChannelResources[];
  /** One channel: rx (this tile consumes), tx (this tile produces). */
  rx?: UdpChannelRegions;
  tx?: UdpChannelRegions;
  /** Wakes the net tile when it sleeps (signals its eventfd); absent: FUTEX_WAKE on the tx ring. */
  wakeNet?: () => void;
  /** The doorbell (read-only), required with several channels. */
  doorbell?: ArrayBuffer;
  /** netbase (read-only), required with routeByNetbase. */
  netbase?: ArrayBuffer;
}

/** The channels of a resources object, one-channel shorthand expanded. */
function channelResources(res: AppTileResources): AppChannelResources[] {
  if (res.channels !== undefined) return res.channels;
  if (res.rx === undefined || res.tx === undefined) throw new Error("app tile: no channel regions");
  return [{ rx: res.rx, tx: res.tx, ...(res.wakeNet ? { wakeNet: res.wakeNet } : {}) }];
}

/** Route cache slots of send() with routeByNetbase (direct-mapped by destination). */
const ROUTE_CACHE_SLOTS = 256;

const DEFAULT_BATCH = 64;
const DEFAULT_SPIN_US = 0;
const EXCEPTION_LOG_INTERVAL_MS = 1000;

const ZERO6 = new Uint32Array(4);

class ReceivedPacket implements UdpPacket {
  family: 4 | 6 = 4;
  readonly src6 = new Uint32Array(4);
  readonly dst6 = new Uint32Array(4);
  ifindex = 0;
  srcIp = 0;
  srcPort = 0;
  dstIp = 0;
  dstPort = 0;
  offset = 0;
  length = 0;
  /** data: the rx data region of channel `channel`, the one reply() answers on. */
  constructor(
    readonly data: Uint8Array,
    readonly channel: number,
  ) {}
  get payload(): Uint8Array {
    return this.data.subarray(this.offset, this.offset + this.length);
  }
}

/** Thrown when the module's init fails: the tile must stop. */
export class AppInitError extends Error {}

export class AppTileBody {
  readonly config: AppTileConfig;
  readonly api: AppApi;
  private module: AppModule | (() => AppModule);
  private readonly metrics: MetricsWriter;
  private readonly log: AppTileResources["log"];
  /** Per channel: reader, writer, its rx data and the packet object delivered from it. */
  private readonly readers: UdpChannelReader[] = [];
  private readonly writers: UdpChannelWriter[] = [];
  private readonly rxData: ByteRegion[] = [];
  private readonly packets: ReceivedPacket[] = [];
  /** Per channel: messages taken in this poll (credits go back after the answers are published). */
  private readonly taken: Int32Array;
  private readonly doorbell: Int32Array | undefined;
  private readonly ownsPort = new Uint8Array(65536);
  private readonly batch: number;
  private readonly maxPayload: number;
  private readonly onMessage: (msg: UdpMessage) => void;
  private readonly spinMs: number;
  private readonly spin: boolean;
  /** Channel being read (deliver's packet) and the first channel read next poll (fairness). */
  private rxChannel = 0;
  private startChannel = 0;
  /** send() candidates: all channels, and (routeByNetbase) the channels of each interface. */
  private readonly allChannels: Int32Array;
  private readonly channelsByIfindex = new Map<number, Int32Array>();
  private readonly netbase: NetbaseReader | undefined;
  private readonly netbase6: Netbase6Lookups | undefined;
  private readonly route = new RouteResult();
  private readonly route6 = new Route6Result();
  private readonly routeCacheIp = new Int32Array(ROUTE_CACHE_SLOTS);
  /** Cached egress ifindex (0: none), valid while its generation + 1 is the netbase's + 1. */
  private readonly routeCacheIfindex = new Int32Array(ROUTE_CACHE_SLOTS);
  private readonly routeCacheGen = new Float64Array(ROUTE_CACHE_SLOTS).fill(-1);
  private lastWorkAt = Number.NEGATIVE_INFINITY;
  private started = false;
  private exceptionsSinceLog = 0;
  private lastExceptionLogAt = Number.NEGATIVE_INFINITY;
  private now = 0;
  private readonly m: {
    rxPackets: number;
    rxBytes: number;
    rxBad: number;
    txPackets: number;
    txBytes: number;
    txRingFull: number;
    exceptions: number;
  };

  constructor(res: AppTileResources) {
    const c = res.config;
    this.config = c;
    this.module = res.module;
    this.metrics = res.metrics;
    this.log = res.log;
    this.batch = c.batch ?? DEFAULT_BATCH;
    this.spinMs = (c.spinUs ?? DEFAULT_SPIN_US) / 1000;
    this.spin = c.idle === "spin";
    this.maxPayload = c.maxPayload;
    this.openChannels(res);
    const n = this.readers.length;
    this.taken = new Int32Array(n);
    if (n > 1 && res.doorbell === undefined) throw new Error(`app ${c.name}: ${n} channels need a doorbell`);
    this.doorbell = n > 1 && res.doorbell ? doorbellView(res.doorbell) : undefined;
    this.allChannels = Int32Array.from(this.readers, (_, k) => k);
    if (c.routeByNetbase === true) {
      if (res.netbase === undefined) throw new Error(`app ${c.name}: routeByNetbase needs netbase`);
      this.netbase = new NetbaseReader(res.netbase);
      this.netbase6 = netbase6Of(this.netbase);
    }
    for (const p of c.ports) this.ownsPort[p] = 1;
    const ix = metricIndexes(res.metrics, appMetrics);
    this.m = {
      rxPackets: ix.rx_packets,
      rxBytes: ix.rx_bytes,
      rxBad: ix.rx_bad_message,
      txPackets: ix.tx_packets,
      txBytes: ix.tx_bytes,
      txRingFull: ix.tx_ring_full,
      exceptions: ix.handler_exceptions,
    };
    this.onMessage = (msg) => this.deliver(msg);
    this.api = this.makeApi();
  }

  /** A reader and a writer per configured channel, and the channels of each interface. */
  private openChannels(res: AppTileResources): void {
    const c = res.config;
    const configured = appChannels(c);
    const given = channelResources(res);
    if (given.length !== configured.length)
      throw new Error(`app ${c.name}: ${given.length} channel region sets for ${configured.length} channels`);
    const byIfindex = new Map<number, number[]>();
    configured.forEach((ch, k) => {
      const r = given[k];
      const reader = new UdpChannelReader(`rx.${ch.channel}`, "rx", r.rx, c.channelDepth, c.maxPayload);
      this.readers.push(reader);
      this.writers.push(new UdpChannelWriter(`tx.${ch.channel}`, "tx", r.tx, c.channelDepth, c.maxPayload, r.wakeNet));
      this.rxData.push(reader.data);
      this.packets.push(new ReceivedPacket(reader.data.u8, k));
      byIfindex.set(ch.ifindex, [...(byIfindex.get(ch.ifindex) ?? []), k]);
    });
    for (const [ifindex, ks] of byIfindex) this.channelsByIfindex.set(ifindex, Int32Array.from(ks));
  }

  private makeApi(): AppApi {
    const c = this.config;
    const log = this.log;
    const appLog: AppLog = {
      info: (msg) => log.info({ app: c.name }, String(msg)),
      warn: (msg) => log.warn({ app: c.name }, String(msg)),
      error: (msg) => log.error({ app: c.name }, String(msg)),
    };
    return {
      name: c.name,
      replica: c.replica ?? 0,
      replicas: c.replicas ?? 1,
      ports: Object.freeze([...c.ports]),
      settings: Object.freeze({ ...c.settings }),
      files: Object.freeze({ ...c.files }),
      maxPayload: c.maxPayload,
      log: appLog,
      reply: (pkt, payload, offset = 0, length = payload.length - offset) => this.reply(pkt, payload, offset, length),
      send: (dst, dstPort, srcPort, payload, offset = 0, length = payload.length - offset) => {
        if (this.ownsPort[srcPort & 0xffff] !== 1 || srcPort !== (srcPort & 0xffff))
          throw new RangeError(
            `app ${c.name}: send from port ${srcPort}, which is not one of its ports (${c.ports.join(", ")})`,
          );
        return this.send(dst, dstPort, srcPort, payload, offset, length);
      },
      formatAddress: (addr) =>
        typeof addr === "number" ? ipToString(addr >>> 0) : formatIp6(addr[0], addr[1], addr[2], addr[3]),
      parseAddress: (text) => (text.includes(":") ? parseIp6(text) : parseIp(text)),
    };
  }

  /** The channel the packet came in on (a packet-like object of the app's own: as send would). */
  private reply(pkt: UdpPacket, payload: Uint8Array, offset: number, length: number): boolean {
    const own = pkt instanceof ReceivedPacket;
    if (pkt.family === 6) {
      const src = pkt.src6 ?? ZERO6;
      const dst = pkt.dst6 ?? ZERO6;
      const channel = own ? pkt.channel : this.sendChannel6(src, pkt.dstPort, pkt.srcPort);
      return this.enqueue6(channel, dst, src, pkt.dstPort, pkt.srcPort, pkt.ifindex ?? 0, payload, offset, length);
    }
    const channel = own ? pkt.channel : this.sendChannel(pkt.srcIp, pkt.dstPort, pkt.srcPort);
    return this.enqueue(channel, pkt.dstIp, pkt.srcIp, pkt.dstPort, pkt.srcPort, payload, offset, length);
  }

  /** send(): an IPv4 number, IPv6 words (v4-mapped ones go as IPv4), or text of either. */
  private send(
    dst: number | Uint32Array | string,
    dstPort: number,
    srcPort: number,
    payload: Uint8Array,
    offset: number,
    length: number,
  ): boolean {
    if (typeof dst === "string") {
      const parsed = dst.includes(":") ? parseIp6(dst) : parseIp(dst);
      if (parsed === undefined) throw new RangeError(`app ${this.config.name}: send to a malformed address '${dst}'`);
      return this.send(parsed, dstPort, srcPort, payload, offset, length);
    }
    if (typeof dst === "number") {
      if (!Number.isInteger(dst) || dst < -0x80000000 || dst > 0xffffffff)
        throw new RangeError(`app ${this.config.name}: send to a bad IPv4 address ${dst}`);
      return this.enqueue(this.sendChannel(dst, srcPort, dstPort), 0, dst, srcPort, dstPort, payload, offset, length);
    }
    if (!(dst instanceof Uint32Array) || dst.length !== 4)
      throw new RangeError(`app ${this.config.name}: an IPv6 address is a Uint32Array of 4 words`);
    if (isIp6V4Mapped(dst[0], dst[1], dst[2]))
      return this.enqueue(
        this.sendChannel(dst[3], srcPort, dstPort),
        0,
        dst[3],
        srcPort,
        dstPort,
        payload,
        offset,
        length,
      );
    const channel = this.sendChannel6(dst, srcPort, dstPort);
    return this.enqueue6(channel, ZERO6, dst, srcPort, dstPort, 0, payload, offset, length);
  }

  /** Runs the module's init once (inside the sandbox: the tile runtime calls it before reporting
   *  "running"; the first poll calls it for bodies driven without the runtime). */
  start(): void {
    if (this.started) return;
    this.started = true;
    try {
      if (typeof this.module === "function") this.module = this.module();
      this.module.init?.(this.api);
    } catch (e) {
      const what = typeof this.module === "function" ? "loading the module" : "init";
      throw new AppInitError(`app ${this.config.name}: ${what} failed: ${(e as Error)?.stack ?? String(e)}`);
    }
    this.flushAll();
  }

  /** Reads the channels, from a start that turns each poll, batch messages at most overall. */
  poll(nowMs: number): number {
    this.now = nowMs;
    if (!this.started) this.start();
    const readers = this.readers;
    const count = readers.length;
    const taken = this.taken;
    let n = 0;
    for (let i = 0; i < count && n < this.batch; i++) {
      const k = (this.startChannel + i) % count;
      const reader = readers[k];
      this.rxChannel = k;
      const got = reader.poll(this.batch - n, this.onMessage);
      taken[k] = got;
      n += got;
      if (reader.malformed !== 0) {
        this.metrics.add(this.m.rxBad, reader.malformed);
        reader.malformed = 0;
      }
    }
    if (count > 1) this.startChannel = (this.startChannel + 1) % count;
    this.flushAll();
    // Credits go back only after the answers are published: the net tile reads "nothing
    // unconsumed" as "nothing more is coming from what it delivered" (see its idleWait).
    if (n > 0) {
      for (let k = 0; k < count; k++) {
        if (taken[k] > 0) readers[k].release();
        taken[k] = 0;
      }
      this.lastWorkAt = nowMs;
    }
    return n;
  }

  /** Called after every empty poll: keeps polling for spinUs after the last datagram (always, in
   *  spin mode), then sleeps until a datagram arrives or timeoutMs passes: on the rx ring (futex,
   *  woken by the net tile's publish) with one channel, on the doorbell with several. */
  idleWait(timeoutMs: number): void {
    if (this.spin || this.now - this.lastWorkAt < this.spinMs) return; // the poll clock (the runtime polls right before)
    if (this.doorbell === undefined) this.readers[0].sleepUntilData(0, timeoutMs);
    else sleepOnDoorbell(this.doorbell, this.readers, timeoutMs);
  }

  private flushAll(): void {
    const writers = this.writers;
    for (let k = 0; k < writers.length; k++) writers[k].flush();
  }

  /** The channel send() uses for a flow: among the route's interface's channels (routeByNetbase)
   *  or all, by flow hash so one flow keeps one channel. */
  private sendChannel(dstIp: number, srcPort: number, dstPort: number): number {
    let candidates = this.allChannels;
    if (candidates.length === 1) return 0;
    if (this.netbase !== undefined) candidates = this.channelsByIfindex.get(this.egressIfindex(dstIp)) ?? candidates;
    return candidates[flowReplica(0, srcPort, dstIp, dstPort, candidates.length)];
  }

  /** sendChannel for an IPv6 destination (the route's interface from netbase's IPv6 lookups, uncached). */
  private sendChannel6(dst: Uint32Array, srcPort: number, dstPort: number): number {
    let candidates = this.allChannels;
    if (candidates.length === 1) return 0;
    const nb6 = this.netbase6;
    const r = this.route6;
    if (nb6?.lookupRoute6(dst[0], dst[1], dst[2], dst[3], r))
      candidates = this.channelsByIfindex.get(r.ifindex) ?? candidates;
    const folded = dst[0] ^ dst[1] ^ dst[2] ^ dst[3];
    return candidates[flowReplica(0, srcPort, folded, dstPort, candidates.length)];
  }

  /** The route's egress ifindex for dst (0: none), cached per destination and netbase generation. */
  private egressIfindex(dstIp: number): number {
    const nb = this.netbase as NetbaseReader;
    const gen = nb.syncGeneration();
    const slot = (Math.imul(dstIp, 0x9e3779b1) >>> 24) & (ROUTE_CACHE_SLOTS - 1);
    if (this.routeCacheGen[slot] === gen && this.routeCacheIp[slot] === (dstIp | 0))
      return this.routeCacheIfindex[slot];
    const ifindex = nb.lookupRoute(dstIp >>> 0, this.route) ? this.route.ifindex : 0;
    this.routeCacheIp[slot] = dstIp | 0;
    this.routeCacheIfindex[slot] = ifindex;
    this.routeCacheGen[slot] = gen;
    return ifindex;
  }

  private deliver(msg: UdpMessage): void {
    const p = this.packets[this.rxChannel];
    p.family = msg.family;
    p.src6.set(msg.src6);
    p.dst6.set(msg.dst6);
    p.ifindex = msg.ifindex;
    p.srcIp = msg.srcIp;
    p.dstIp = msg.dstIp;
    p.srcPort = msg.srcPort;
    p.dstPort = msg.dstPort;
    p.offset = msg.offset;
    p.length = msg.length;
    const mx = this.metrics;
    mx.add(this.m.rxPackets, 1);
    mx.add(this.m.rxBytes, msg.length);
    try {
      (this.module as AppModule).onPacket(p, this.api);
    } catch (e) {
      this.handlerFailed(e);
    }
  }

  private handlerFailed(e: unknown): void {
    this.metrics.add(this.m.exceptions, 1);
    this.exceptionsSinceLog++;
    if (this.now - this.lastExceptionLogAt < EXCEPTION_LOG_INTERVAL_MS) return;
    this.lastExceptionLogAt = this.now;
    const err = e instanceof Error ? e : new Error(String(e));
    this.log.error(
      { app: this.config.name, err, exceptions: this.exceptionsSinceLog },
      `onPacket threw (${this.exceptionsSinceLog} since the last report): ${err.message}`,
    );
    this.exceptionsSinceLog = 0;
  }

  /** Throws a RangeError unless [offset, +length) is inside payload, length <= maxPayload and the
   *  destination port is valid. */
  private checkSend(payload: Uint8Array, offset: number, length: number, dstPort: number): void {
    if (
      !(payload instanceof Uint8Array) ||
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > payload.length
    )
      throw new RangeError(
        `app ${this.config.name}: payload range [${offset}, +${length}) is not inside a Uint8Array of ${(payload as Uint8Array)?.length} bytes`,
      );
    if (length > this.maxPayload)
      throw new RangeError(`app ${this.config.name}: ${length}-byte payload exceeds maxPayload ${this.maxPayload}`);
    if (!Number.isInteger(dstPort) || dstPort < 1 || dstPort > 65535)
      throw new RangeError(`app ${this.config.name}: bad destination port ${dstPort}`);
  }

  private enqueue(
    channel: number,
    srcIp: number,
    dstIp: number,
    srcPort: number,
    dstPort: number,
    payload: Uint8Array,
    offset: number,
    length: number,
  ): boolean {
    this.checkSend(payload, offset, length, dstPort);
    const w = this.writers[channel];
    const at = w.begin();
    if (at < 0) {
      this.metrics.add(this.m.txRingFull, 1);
      return false;
    }
    this.copyPayload(payload, offset, w.data, at, length);
    w.finish(srcIp, dstIp, srcPort, dstPort, length);
    this.sent(length);
    return true;
  }

  /** IPv6: src all zero = the route's (or link-local) source; ifindex: a link-local dst's interface. */
  private enqueue6(
    channel: number,
    src: Uint32Array,
    dst: Uint32Array,
    srcPort: number,
    dstPort: number,
    ifindex: number,
    payload: Uint8Array,
    offset: number,
    length: number,
  ): boolean {
    this.checkSend(payload, offset, length, dstPort);
    const w = this.writers[channel];
    const at = w.begin(6);
    if (at < 0) {
      this.metrics.add(this.m.txRingFull, 1);
      return false;
    }
    this.copyPayload(payload, offset, w.data, at, length);
    w.finish6(src, 0, dst, 0, srcPort, dstPort, length, ifindex);
    this.sent(length);
    return true;
  }

  private sent(length: number): void {
    const mx = this.metrics;
    mx.add(this.m.txPackets, 1);
    mx.add(this.m.txBytes, length);
  }

  /** Payload bytes into a tx chunk: word copies when they lie in an rx region (an echo). */
  private copyPayload(payload: Uint8Array, offset: number, to: ByteRegion, at: number, length: number): void {
    const rxData = this.rxData;
    for (let k = 0; k < rxData.length; k++) {
      const rx = rxData[k];
      if (payload.buffer === rx.u8.buffer) {
        copyRegion(rx, payload.byteOffset + offset, to, at, length);
        return;
      }
    }
    copyIntoRegion(payload, offset, to, at, length);
  }
}
