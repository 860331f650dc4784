// An AF_XDP socket's four rings in process memory, with the test playing the kernel: it takes
// frames from the fill ring, writes received frames into UMEM and posts RX descriptors. Enough to
// drive the net tile body's receive path (and its TX ownership checks) without XDP or a netns.
import type { XdpMmapOffsets, XskRings, XskStatistics } from "../../shared/native";
import { buildUdpFrame, newUdpFrameFields, UDP_PAYLOAD_OFFSET } from "../../shared/packet/udp-frame";
import type { XskSyscalls } from "../../tiles/net/body";

/** Where the indices and slots lie in each fake ring (the kernel reports its own; any will do). */
const OFFSETS: XdpMmapOffsets = { producer: 0, consumer: 64, flags: 128, desc: 192 };
/** The kernel's headroom before a received frame (copy mode). */
const HEADROOM = 256;

function ring(depth: number, slotBytes: number): ArrayBuffer {
  return new ArrayBuffer(OFFSETS.desc + depth * slotBytes);
}

export interface FakeXskGeometry {
  frameSize: number;
  frameCount: number;
  fillDepth: number;
  completionDepth: number;
  rxDepth: number;
  txDepth: number;
}

export class FakeXsk {
  readonly rings: XskRings;
  readonly umem: ArrayBuffer;
  private readonly fill: Int32Array;
  private readonly fillSlots: Uint32Array;
  private readonly rx: Int32Array;
  private readonly rxSlots: Uint32Array;
  private readonly fields = newUdpFrameFields();

  constructor(private readonly g: FakeXskGeometry) {
    this.umem = new ArrayBuffer(g.frameSize * g.frameCount);
    this.rings = {
      fill: ring(g.fillDepth, 8),
      completion: ring(g.completionDepth, 8),
      rx: ring(g.rxDepth, 16),
      tx: ring(g.txDepth, 16),
      fillOffsets: OFFSETS,
      completionOffsets: OFFSETS,
      rxOffsets: OFFSETS,
      txOffsets: OFFSETS,
    };
    this.fill = new Int32Array(this.rings.fill);
    this.fillSlots = new Uint32Array(this.rings.fill, OFFSETS.desc);
    this.rx = new Int32Array(this.rings.rx);
    this.rxSlots = new Uint32Array(this.rings.rx, OFFSETS.desc);
  }

  /** The kernel receives one UDP datagram: false when the fill ring is empty or RX is full. */
  receive(srcIp: number, srcPort: number, dstIp: number, dstPort: number, payload: Uint8Array): boolean {
    const p = OFFSETS.producer >> 2;
    const c = OFFSETS.consumer >> 2;
    const fillCons = this.fill[c] >>> 0;
    if (((this.fill[p] >>> 0) - fillCons) >>> 0 === 0) return false;
    const rxProd = this.rx[p] >>> 0;
    if ((rxProd - (this.rx[c] >>> 0)) >>> 0 >= this.g.rxDepth) return false;
    const addr = this.fillSlots[(fillCons & (this.g.fillDepth - 1)) * 2];
    this.fill[c] = (fillCons + 1) | 0;
    const f = this.fields;
    f.srcIp = srcIp >>> 0;
    f.dstIp = dstIp >>> 0;
    f.srcPort = srcPort;
    f.dstPort = dstPort;
    const u8 = new Uint8Array(this.umem);
    const at = addr + HEADROOM;
    u8.set(payload, at + UDP_PAYLOAD_OFFSET); // first: the UDP checksum covers it
    const len = buildUdpFrame(u8, at, f, payload.length);
    const slot = (rxProd & (this.g.rxDepth - 1)) * 4;
    this.rxSlots[slot] = at;
    this.rxSlots[slot + 1] = 0;
    this.rxSlots[slot + 2] = len;
    this.rxSlots[slot + 3] = 0;
    Atomics.store(this.rx, p, (rxProd + 1) | 0);
    return true;
  }
}

/** Syscalls that do nothing (no kick or wakeup is ever asked for: the fake rings set no flags). */
export function quietSyscalls(): XskSyscalls {
  const stats: XskStatistics = {
    rxDropped: 0,
    rxInvalidDescs: 0,
    txInvalidDescs: 0,
    rxRingFull: 0,
    rxFillRingEmptyDescs: 0,
    txRingEmptyDescs: 0,
  };
  return { xskKick: () => 0, xskWakeup: () => 0, pollWake: () => 0, xskStatistics: () => stats };
}
