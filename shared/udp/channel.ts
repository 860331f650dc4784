// The UDP channel between the net tile and one app tile, declared once. Each direction is a
// reliable SPSC ring of fixed-size message records plus a data region holding the payloads:
//
//   rx (net -> app): producer = net tile, consumer = app tile
//   tx (app -> net): producer = app tile, consumer = net tile
//
// Ring slot (UDP_META_BYTES = 48, little-endian u32 words):
//    0  family   4 or 6
//    4  src      4 words: IPv6 as in shared/ip6.ts; IPv4 (host-order number) in the first, 0 after.
//                On tx: all 0 = the route's source address.
//   20  dst      4 words, the same way
//   36  ports    srcPort | dstPort << 16
//   40  length   payload bytes (<= maxPayload)
//   44  ifindex  rx: the interface the datagram arrived on; tx: the interface for a link-local
//                (fe80::/10) destination, 0 = the route's
//
// Data region: a header line, then one chunk per ring slot. Message number n uses chunk
// n & (depth - 1), so a payload is written in place by the producer before it publishes and read
// in place by the consumer until it returns the credit: one copy each way (UMEM -> rx data by the
// net tile; tx data -> UMEM by the net tile), none in the app. The payload starts
// UDP_PAYLOAD_ALIGN bytes into its chunk for IPv4, UDP6_PAYLOAD_ALIGN for IPv6: a payload behind
// Ethernet + IPv4 + UDP headers (42 bytes) in a UMEM frame sits at 2 mod 8, behind Ethernet + IPv6
// + UDP (62 bytes) at 6 mod 8, so copies move whole 8-byte words for either family.
//
//   0  magic u32  4 version u32  8 direction u32 (1 rx, 2 tx)  12 depth u32
//  16  chunkBytes u32  20 maxPayload u32  24 regionBytes u32   (UDP_DATA_HEADER_BYTES = 64)
import { RingConsumer, type RingConsumerOptions } from "../ring/consumer";
import { checkRingSpec, initRingRegions, type RingSpec, ringRegionSizes } from "../ring/layout";
import { RingProducer } from "../ring/producer";
import { ByteRegion } from "./copy";

export const UDP_META_BYTES = 48;
export const UDP_META_FAMILY = 0;
export const UDP_META_SRC_IP = 4;
export const UDP_META_DST_IP = 20;
export const UDP_META_PORTS = 36;
export const UDP_META_LENGTH = 40;
export const UDP_META_IFINDEX = 44;
const W_FAMILY = 0;
const W_SRC = 1;
const W_DST = 5;
const W_PORTS = 9;
const W_LENGTH = 10;
const W_IFINDEX = 11;

export const UDP_DATA_MAGIC = 0x55444e54; // "TNDU"
/** 2: 48-byte slots with the family and IPv6 addresses (1 had 16-byte IPv4-only slots). */
export const UDP_DATA_VERSION = 2;
export const UDP_DATA_HEADER_BYTES = 64;
export const UDP_DATA_CHUNK_ALIGN = 64;
/** Where a payload starts inside its chunk (see above). */
export const UDP_PAYLOAD_ALIGN = 2;
export const UDP6_PAYLOAD_ALIGN = 6;
const H_MAGIC = 0;
const H_VERSION = 4;
const H_DIRECTION = 8;
const H_DEPTH = 12;
const H_CHUNK_BYTES = 16;
const H_MAX_PAYLOAD = 20;
const H_REGION_BYTES = 24;

/** A 1500-byte MTU's worth of UDP payload (1500 - 20 - 8). */
export const UDP_DEFAULT_MAX_PAYLOAD = 1472;
/** Largest payload one IPv4 datagram without options can carry (an IPv6 one carries 20 bytes less
 *  on the same MTU, but up to 65527 in itself: the limit stays the IPv4 one). */
export const UDP_MAX_PAYLOAD_LIMIT = 65507;

export type UdpDirection = "rx" | "tx";

/** The regions of one app's channel in one direction: `<dir>.<app>.{producer,consumer,data}`. */
export function udpChannelRegionNames(
  dir: UdpDirection,
  app: string,
): { producer: string; consumer: string; data: string } {
  return { producer: `${dir}.${app}.producer`, consumer: `${dir}.${app}.consumer`, data: `${dir}.${app}.data` };
}
const DIRECTION_CODE: Record<UdpDirection, number> = { rx: 1, tx: 2 };

export interface UdpChannelSizes {
  spec: RingSpec;
  producerBytes: number;
  consumerBytes: number;
  dataBytes: number;
  chunkBytes: number;
}

/** The ring spec of either direction. */
export function udpRingSpec(depth: number): RingSpec {
  return { kind: "reliable", depth, slotSize: UDP_META_BYTES };
}

export function udpChunkBytes(maxPayload: number): number {
  return Math.ceil((Math.max(maxPayload, 1) + UDP6_PAYLOAD_ALIGN) / UDP_DATA_CHUNK_ALIGN) * UDP_DATA_CHUNK_ALIGN;
}

function checkMaxPayload(maxPayload: number, name: string): void {
  if (!Number.isInteger(maxPayload) || maxPayload < 1 || maxPayload > UDP_MAX_PAYLOAD_LIMIT)
    throw new Error(
      `udp channel ${name}: maxPayload ${maxPayload} must be an integer from 1 to ${UDP_MAX_PAYLOAD_LIMIT}`,
    );
}

/** Bytes of the three regions of one direction (ring producer, ring consumer, data). */
export function udpChannelSizes(depth: number, maxPayload: number, name = "?"): UdpChannelSizes {
  const spec = udpRingSpec(depth);
  checkRingSpec(spec, name);
  checkMaxPayload(maxPayload, name);
  const chunkBytes = udpChunkBytes(maxPayload);
  const dataBytes = UDP_DATA_HEADER_BYTES + depth * chunkBytes;
  if (dataBytes > 0x7fffffff)
    throw new Error(
      `udp channel ${name}: data region of ${dataBytes} bytes (depth ${depth} x ${chunkBytes}) is too large`,
    );
  return { spec, ...ringRegionSizes(spec), dataBytes, chunkBytes };
}

/** Launcher side: writes the data region's header (payload chunks are left as they are). */
export function initUdpDataRegion(buf: ArrayBuffer, direction: UdpDirection, depth: number, maxPayload: number): void {
  const sizes = udpChannelSizes(depth, maxPayload, direction);
  if (buf.byteLength < sizes.dataBytes)
    throw new Error(`udp ${direction} data region of ${buf.byteLength} bytes, needs ${sizes.dataBytes}`);
  const v = new DataView(buf);
  new Uint8Array(buf, 0, UDP_DATA_HEADER_BYTES).fill(0);
  v.setUint32(H_VERSION, UDP_DATA_VERSION, true);
  v.setUint32(H_DIRECTION, DIRECTION_CODE[direction], true);
  v.setUint32(H_DEPTH, depth, true);
  v.setUint32(H_CHUNK_BYTES, sizes.chunkBytes, true);
  v.setUint32(H_MAX_PAYLOAD, maxPayload, true);
  v.setUint32(H_REGION_BYTES, sizes.dataBytes, true);
  // Magic last: a half-initialized region never validates.
  v.setUint32(H_MAGIC, UDP_DATA_MAGIC, true);
}

/** Launcher side: initializes all three regions of one direction. */
export function initUdpChannel(
  producerBuf: ArrayBuffer,
  consumerBuf: ArrayBuffer,
  dataBuf: ArrayBuffer,
  direction: UdpDirection,
  depth: number,
  maxPayload: number,
): void {
  initRingRegions(producerBuf, consumerBuf, udpRingSpec(depth));
  initUdpDataRegion(dataBuf, direction, depth, maxPayload);
}

export interface UdpDataLayout {
  direction: UdpDirection;
  depth: number;
  chunkBytes: number;
  maxPayload: number;
  regionBytes: number;
}

/** Validates a data region against what the caller expects; throws "udp channel <name>: ...". */
export function validateUdpDataRegion(
  buf: ArrayBuffer,
  name: string,
  direction: UdpDirection,
  depth: number,
  maxPayload: number,
): UdpDataLayout {
  if (buf.byteLength < UDP_DATA_HEADER_BYTES)
    throw new Error(`udp channel ${name}: data region of ${buf.byteLength} bytes has no room for its header`);
  const v = new DataView(buf);
  const magic = v.getUint32(H_MAGIC, true);
  if (magic !== UDP_DATA_MAGIC)
    throw new Error(
      `udp channel ${name}: data region has bad magic 0x${magic.toString(16)} (expected 0x${UDP_DATA_MAGIC.toString(16)})`,
    );
  const version = v.getUint32(H_VERSION, true);
  if (version !== UDP_DATA_VERSION)
    throw new Error(`udp channel ${name}: data region version ${version} (expected ${UDP_DATA_VERSION})`);
  const dirCode = v.getUint32(H_DIRECTION, true);
  if (dirCode !== DIRECTION_CODE[direction])
    throw new Error(`udp channel ${name}: data region is for direction code ${dirCode}, expected ${direction}`);
  const sizes = udpChannelSizes(depth, maxPayload, name);
  const layout: UdpDataLayout = {
    direction,
    depth: v.getUint32(H_DEPTH, true),
    chunkBytes: v.getUint32(H_CHUNK_BYTES, true),
    maxPayload: v.getUint32(H_MAX_PAYLOAD, true),
    regionBytes: v.getUint32(H_REGION_BYTES, true),
  };
  if (layout.depth !== depth || layout.maxPayload !== maxPayload)
    throw new Error(
      `udp channel ${name}: data region holds depth ${layout.depth} x maxPayload ${layout.maxPayload}, expected ${depth} x ${maxPayload}`,
    );
  if (layout.chunkBytes !== sizes.chunkBytes || layout.regionBytes !== sizes.dataBytes)
    throw new Error(
      `udp channel ${name}: data region chunk ${layout.chunkBytes} / size ${layout.regionBytes} do not match the layout (${sizes.chunkBytes} / ${sizes.dataBytes})`,
    );
  if (buf.byteLength < sizes.dataBytes)
    throw new Error(`udp channel ${name}: data region of ${buf.byteLength} bytes, needs ${sizes.dataBytes}`);
  return layout;
}

/** The three regions of one direction as one side maps them. */
export interface UdpChannelRegions {
  producer: ArrayBuffer;
  consumer: ArrayBuffer;
  data: ArrayBuffer;
}

/**
 * Producer side of one direction. Allocation-free: begin() claims a slot and returns the offset
 * of its payload chunk in `data` (or -1 when the consumer holds every credit), the caller writes
 * the payload there, finish() records the message, flush() publishes everything finished.
 */
export class UdpChannelWriter {
  readonly name: string;
  readonly data: ByteRegion;
  readonly maxPayload: number;
  private readonly ring: RingProducer;
  private readonly meta: Int32Array;
  private readonly chunkBytes: number;
  private readonly mask: number;
  private readonly depth: number;
  private slotWord = -1;

  /** wake: how a sleeping consumer is woken (default: FUTEX_WAKE; see RingProducer). */
  constructor(
    name: string,
    direction: UdpDirection,
    regions: UdpChannelRegions,
    depth: number,
    maxPayload: number,
    wake?: () => void,
  ) {
    this.name = name;
    const layout = validateUdpDataRegion(regions.data, name, direction, depth, maxPayload);
    this.ring = new RingProducer(name, regions.producer, regions.consumer, udpRingSpec(depth), wake);
    this.meta = this.ring.i32;
    this.data = new ByteRegion(regions.data, 0, layout.regionBytes);
    this.chunkBytes = layout.chunkBytes;
    this.mask = depth - 1;
    this.depth = depth;
    this.maxPayload = maxPayload;
  }

  /** Claims the next message of family 4 or 6; returns the byte offset of its payload in `data`
   *  (the family's alignment), or -1 when full. finish() / finish6() must match the family. */
  begin(family: 4 | 6 = 4): number {
    const slot = this.ring.claim();
    if (slot < 0) return -1;
    this.slotWord = slot >> 2;
    const seq = (this.ring.nextSeq - 1) | 0;
    return (
      UDP_DATA_HEADER_BYTES +
      (seq & this.mask) * this.chunkBytes +
      (family === 6 ? UDP6_PAYLOAD_ALIGN : UDP_PAYLOAD_ALIGN)
    );
  }

  /** Records the IPv4 message claimed by the last begin() (its payload already written). */
  finish(srcIp: number, dstIp: number, srcPort: number, dstPort: number, length: number, ifindex = 0): void {
    const m = this.meta;
    const w = this.slotWord;
    m[w + W_FAMILY] = 4;
    m[w + W_SRC] = srcIp | 0;
    m[w + W_SRC + 1] = 0;
    m[w + W_SRC + 2] = 0;
    m[w + W_SRC + 3] = 0;
    m[w + W_DST] = dstIp | 0;
    m[w + W_DST + 1] = 0;
    m[w + W_DST + 2] = 0;
    m[w + W_DST + 3] = 0;
    this.finishCommon(w, srcPort, dstPort, length, ifindex);
  }

  /** Records the IPv6 message claimed by the last begin(6): addresses are src[si..si+3] and
   *  dst[di..di+3] (words, shared/ip6.ts). */
  finish6(
    src: Uint32Array,
    si: number,
    dst: Uint32Array,
    di: number,
    srcPort: number,
    dstPort: number,
    length: number,
    ifindex: number,
  ): void {
    const m = this.meta;
    const w = this.slotWord;
    m[w + W_FAMILY] = 6;
    for (let i = 0; i < 4; i++) {
      m[w + W_SRC + i] = src[si + i] | 0;
      m[w + W_DST + i] = dst[di + i] | 0;
    }
    this.finishCommon(w, srcPort, dstPort, length, ifindex);
  }

  private finishCommon(w: number, srcPort: number, dstPort: number, length: number, ifindex: number): void {
    const m = this.meta;
    m[w + W_PORTS] = (srcPort & 0xffff) | (dstPort << 16);
    m[w + W_LENGTH] = length;
    m[w + W_IFINDEX] = ifindex | 0;
  }

  /** Publishes every finished message (one atomic store; a futex wake only if the consumer sleeps). */
  flush(): void {
    this.ring.publish();
  }

  /** Free slots now (re-reads the consumer's position). */
  available(): number {
    return this.ring.available();
  }

  /** Published messages the consumer has not handed back yet (re-reads its position). A consumer
   *  returns credits after it publishes what it made of them, so 0 means "nothing in its hands". */
  unconsumed(): number {
    return this.depth - this.ring.available();
  }

  get published(): number {
    return this.ring.published;
  }
}

/** A received message, filled in place for each delivery (reused: copy what you keep). */
export class UdpMessage {
  /** 4 or 6. */
  family: 4 | 6 = 4;
  /** IPv4 addresses (host-order numbers); for IPv6 the first word of src6 / dst6. */
  srcIp = 0;
  dstIp = 0;
  /** The four words of each address (IPv4: [ip, 0, 0, 0]); reused, copy what you keep. */
  readonly src6 = new Uint32Array(4);
  readonly dst6 = new Uint32Array(4);
  /** rx: arrival interface; tx: the interface for a link-local destination (0: the route's). */
  ifindex = 0;
  srcPort = 0;
  dstPort = 0;
  /** Payload offset in the reader's `data` and its length (length is checked <= maxPayload). */
  offset = 0;
  length = 0;
  /** Ring number of the message. */
  seq = 0;
}

export type UdpMessageHandler = (msg: UdpMessage) => void;

/**
 * Consumer side of one direction. poll() hands messages to a handler with the payload in place in
 * `data`; the chunk stays valid at least until the handler returns (its credit goes back with the
 * next release(), which the ring also does by itself every depth/4 messages).
 * Messages whose length exceeds maxPayload or whose family is neither 4 nor 6 (a broken or hostile
 * producer) are counted in `malformed` and skipped.
 */
export class UdpChannelReader {
  readonly name: string;
  readonly data: ByteRegion;
  readonly maxPayload: number;
  readonly message = new UdpMessage();
  malformed = 0;
  private readonly ring: RingConsumer;
  private readonly meta: Int32Array;
  private readonly chunkBytes: number;
  private readonly mask: number;
  private handler: UdpMessageHandler | undefined;
  private readonly onSlot: (offset: number, seq: number) => void;

  constructor(
    name: string,
    direction: UdpDirection,
    regions: UdpChannelRegions,
    depth: number,
    maxPayload: number,
    opts: RingConsumerOptions = {},
  ) {
    this.name = name;
    const layout = validateUdpDataRegion(regions.data, name, direction, depth, maxPayload);
    this.ring = new RingConsumer(name, regions.producer, regions.consumer, udpRingSpec(depth), opts);
    this.meta = this.ring.i32;
    this.data = new ByteRegion(regions.data, 0, layout.regionBytes);
    this.chunkBytes = layout.chunkBytes;
    this.mask = depth - 1;
    this.maxPayload = maxPayload;
    this.onSlot = (offset, seq) => this.deliver(offset, seq);
  }

  private deliver(offset: number, seq: number): void {
    const m = this.meta;
    const w = offset >> 2;
    const msg = this.message;
    const length = m[w + W_LENGTH];
    const family = m[w + W_FAMILY];
    if (length < 0 || length > this.maxPayload || (family !== 4 && family !== 6)) {
      this.malformed++;
      return;
    }
    const ports = m[w + W_PORTS];
    const src6 = msg.src6;
    const dst6 = msg.dst6;
    for (let i = 0; i < 4; i++) {
      src6[i] = m[w + W_SRC + i];
      dst6[i] = m[w + W_DST + i];
    }
    msg.family = family;
    msg.srcIp = src6[0];
    msg.dstIp = dst6[0];
    msg.srcPort = ports & 0xffff;
    msg.dstPort = ports >>> 16;
    msg.length = length;
    msg.ifindex = m[w + W_IFINDEX];
    msg.offset =
      UDP_DATA_HEADER_BYTES +
      (seq & this.mask) * this.chunkBytes +
      (family === 6 ? UDP6_PAYLOAD_ALIGN : UDP_PAYLOAD_ALIGN);
    msg.seq = seq;
    (this.handler as UdpMessageHandler)(msg);
  }

  /** Delivers up to max messages to handler; returns how many ring messages were consumed. */
  poll(max: number, handler: UdpMessageHandler): number {
    this.handler = handler;
    return this.ring.poll(max, this.onSlot);
  }

  hasData(): boolean {
    return this.ring.hasData();
  }

  /** Returns the credits of everything delivered so far now (instead of in batches). */
  release(): void {
    this.ring.release();
  }

  /** See RingConsumer.armSleep: false when a message is there already (do not sleep). */
  armSleep(): boolean {
    return this.ring.armSleep();
  }

  disarmSleep(): void {
    this.ring.disarmSleep();
  }

  /** Futex sleep until a message arrives or timeoutMs passes (see RingConsumer.sleepUntilData). */
  sleepUntilData(spinUs: number, timeoutMs: number): boolean {
    return this.ring.sleepUntilData(spinUs, timeoutMs);
  }

  get consumed(): number {
    return this.ring.consumed;
  }
}
