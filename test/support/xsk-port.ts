// Test helper: the net tile's side of one AF_XDP socket (rings + UMEM + frame pool), used both
// in-process and by the child fixture that plays the net tile in another process.
import type { NativeAddon, XskRings } from "../../shared/native";
import type { XskGeometry } from "../../shared/xdp/geometry";
import { openXskRings, UmemFramePool, type XskRingSet } from "../../shared/xdp/xsk-ring";

export type { XskGeometry };

export class XskPort {
  readonly rings: XskRingSet;
  readonly umem: Uint8Array;
  /** Frames [0, frameCount/2) receive; the rest transmit. */
  readonly rxPool: UmemFramePool;
  readonly txPool: UmemFramePool;
  kicks = 0;
  wakeups = 0;
  private readonly mapped: XskRings;

  constructor(
    private readonly addon: NativeAddon,
    private readonly fd: number,
    umemFd: number,
    g: XskGeometry,
  ) {
    this.umem = new Uint8Array(addon.mapFd(umemFd, g.frameSize * g.frameCount, true));
    this.mapped = addon.xskMapRings(fd, g.fillDepth, g.completionDepth, g.rxDepth, g.txDepth);
    this.rings = openXskRings(this.mapped, g);
    const half = g.frameCount >>> 1;
    this.rxPool = new UmemFramePool(g.frameSize, 0, half);
    this.txPool = new UmemFramePool(g.frameSize, half, g.frameCount - half);
  }

  /** Unmaps the rings, so closing the socket's fds releases it. */
  close(): void {
    this.addon.xskUnmapRings(this.mapped);
  }

  /** Gives free RX frames to the kernel; returns how many. */
  refill(): number {
    const { fill } = this.rings;
    const n = fill.reserve(this.rxPool.available);
    for (let i = 0; i < n; i++) fill.setAddr(i, this.rxPool.alloc());
    fill.submit(n);
    if (n > 0 && fill.needsWakeup()) {
      this.wakeups++;
      this.addon.xskWakeup(this.fd);
    }
    return n;
  }

  /** Hands each received frame to onFrame(umem, offset, length), recycles it; returns the count. */
  drainRx(onFrame: (umem: Uint8Array, off: number, len: number) => void): number {
    const { rx } = this.rings;
    const n = rx.peek(64);
    for (let i = 0; i < n; i++) {
      const addr = rx.addr(i);
      onFrame(this.umem, addr, rx.len(i));
      this.rxPool.free(addr);
    }
    rx.release(n);
    this.refill();
    return n;
  }

  /** Queues up to `count` frames built by build(umem, offset, index) -> length; returns how many. */
  send(count: number, firstIndex: number, build: (umem: Uint8Array, off: number, index: number) => number): number {
    const { tx } = this.rings;
    const n = tx.reserve(Math.min(count, this.txPool.available));
    for (let i = 0; i < n; i++) {
      const addr = this.txPool.alloc();
      tx.setDesc(i, addr, build(this.umem, addr, firstIndex + i));
    }
    tx.submit(n);
    return n;
  }

  /** Copy mode sends only from a syscall, a bounded batch per call: kick while the kernel asks. */
  kick(): number {
    if (!this.rings.tx.needsWakeup()) return 0;
    this.kicks++;
    return this.addon.xskKick(this.fd);
  }

  /** Returns completed TX frames to the pool; calls onDone(addr) for each; returns the count. */
  reapCompletions(onDone: (addr: number) => void): number {
    const { completion } = this.rings;
    const n = completion.peek(64);
    for (let i = 0; i < n; i++) {
      const addr = completion.addr(i);
      onDone(addr);
      this.txPool.free(addr);
    }
    completion.release(n);
    return n;
  }
}
