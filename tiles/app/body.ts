// The app tile's work, independent of how its memory arrived: read the rx channel, call the
// module's onPacket with one reused packet object whose payload lies in place in the rx data
// region, and let reply/send copy payloads into the tx channel (published once per poll).
import { metricIndexes } from "../../shared/metrics/keys";
import type { MetricsWriter } from "../../shared/metrics/writer";
import { UdpChannelReader, type UdpChannelRegions, UdpChannelWriter, type UdpMessage } from "../../shared/udp/channel";
import { type ByteRegion, copyIntoRegion, copyRegion } from "../../shared/udp/copy";
import type { AppApi, AppLog, AppModule, UdpPacket } from "./api";
import { type AppTileConfig, appMetrics } from "./definition";

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
  /** rx: this tile consumes; tx: this tile produces. */
  rx: UdpChannelRegions;
  tx: UdpChannelRegions;
  /** Wakes the net tile when it sleeps (signals its eventfd); absent: FUTEX_WAKE on the tx ring. */
  wakeNet?: () => void;
}

const DEFAULT_BATCH = 64;
const DEFAULT_SPIN_US = 0;
const EXCEPTION_LOG_INTERVAL_MS = 1000;

class ReceivedPacket implements UdpPacket {
  srcIp = 0;
  srcPort = 0;
  dstIp = 0;
  dstPort = 0;
  offset = 0;
  length = 0;
  constructor(readonly data: Uint8Array) {}
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
  private readonly reader: UdpChannelReader;
  private readonly writer: UdpChannelWriter;
  private readonly rxData: ByteRegion;
  private readonly txData: ByteRegion;
  private readonly packet: ReceivedPacket;
  private readonly ownsPort = new Uint8Array(65536);
  private readonly batch: number;
  private readonly maxPayload: number;
  private readonly onMessage: (msg: UdpMessage) => void;
  private readonly spinMs: number;
  private readonly spin: boolean;
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
    this.reader = new UdpChannelReader(`rx.${c.name}`, "rx", res.rx, c.channelDepth, c.maxPayload);
    this.writer = new UdpChannelWriter(`tx.${c.name}`, "tx", res.tx, c.channelDepth, c.maxPayload, res.wakeNet);
    this.rxData = this.reader.data;
    this.txData = this.writer.data;
    this.packet = new ReceivedPacket(this.rxData.u8);
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
    const log = res.log;
    const appLog: AppLog = {
      info: (msg) => log.info({ app: c.name }, String(msg)),
      warn: (msg) => log.warn({ app: c.name }, String(msg)),
      error: (msg) => log.error({ app: c.name }, String(msg)),
    };
    const ports = Object.freeze([...c.ports]);
    const settings = Object.freeze({ ...c.settings });
    const files = Object.freeze({ ...c.files });
    this.api = {
      name: c.name,
      ports,
      settings,
      files,
      maxPayload: c.maxPayload,
      log: appLog,
      reply: (pkt, payload, offset = 0, length = payload.length - offset) =>
        this.enqueue(pkt.dstIp, pkt.srcIp, pkt.dstPort, pkt.srcPort, payload, offset, length),
      send: (dstIp, dstPort, srcPort, payload, offset = 0, length = payload.length - offset) => {
        if (this.ownsPort[srcPort & 0xffff] !== 1 || srcPort !== (srcPort & 0xffff))
          throw new RangeError(
            `app ${c.name}: send from port ${srcPort}, which is not one of its ports (${c.ports.join(", ")})`,
          );
        return this.enqueue(0, dstIp, srcPort, dstPort, payload, offset, length);
      },
    };
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
    this.writer.flush();
  }

  poll(nowMs: number): number {
    this.now = nowMs;
    if (!this.started) this.start();
    const reader = this.reader;
    const n = reader.poll(this.batch, this.onMessage);
    if (reader.malformed !== 0) {
      this.metrics.add(this.m.rxBad, reader.malformed);
      reader.malformed = 0;
    }
    this.writer.flush();
    // Credits go back only after the answers are published: the net tile reads "nothing
    // unconsumed" as "nothing more is coming from what it delivered" (see its idleWait).
    if (n > 0) {
      reader.release();
      this.lastWorkAt = nowMs;
    }
    return n;
  }

  /** Called after every empty poll: keeps polling for spinUs after the last datagram (always, in
   *  spin mode), then sleeps on the rx ring (futex, woken by the net tile's publish) until one
   *  arrives or timeoutMs passes. */
  idleWait(timeoutMs: number): void {
    if (this.spin || this.now - this.lastWorkAt < this.spinMs) return; // the poll clock (the runtime polls right before)
    this.reader.sleepUntilData(0, timeoutMs);
  }

  private deliver(msg: UdpMessage): void {
    const p = this.packet;
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

  private enqueue(
    srcIp: number,
    dstIp: number,
    srcPort: number,
    dstPort: number,
    payload: Uint8Array,
    offset: number,
    length: number,
  ): boolean {
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
    const w = this.writer;
    const at = w.begin();
    if (at < 0) {
      this.metrics.add(this.m.txRingFull, 1);
      return false;
    }
    const rx = this.rxData;
    if (payload.buffer === rx.u8.buffer) copyRegion(rx, payload.byteOffset + offset, this.txData, at, length);
    else copyIntoRegion(payload, offset, this.txData, at, length);
    w.finish(srcIp, dstIp, srcPort, dstPort, length);
    const mx = this.metrics;
    mx.add(this.m.txPackets, 1);
    mx.add(this.m.txBytes, length);
    return true;
  }
}
