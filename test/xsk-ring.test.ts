// Ring drivers against a simulated kernel side on a plain buffer laid out like a real ring
// mapping (indices, flags, then slots), including u32 index wrap-around.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { XdpMmapOffsets } from "../shared/native";
import { UmemFramePool, XskCompletionRing, XskFillRing, XskRxRing, XskTxRing } from "../shared/xdp/xsk-ring";

const OFFSETS: XdpMmapOffsets = { producer: 0, consumer: 64, flags: 128, desc: 192 };

function ringBuffer(depth: number, slotBytes: number, producer = 0, consumer = 0): ArrayBuffer {
  const buf = new ArrayBuffer(OFFSETS.desc + depth * slotBytes);
  const u32 = new Uint32Array(buf);
  u32[OFFSETS.producer / 4] = producer;
  u32[OFFSETS.consumer / 4] = consumer;
  return buf;
}

/** The kernel's view of a ring. */
class KernelSide {
  readonly u32: Uint32Array;
  constructor(
    buf: ArrayBuffer,
    readonly depth: number,
    readonly slotWords: number,
  ) {
    this.u32 = new Uint32Array(buf);
  }
  get producer(): number {
    return this.u32[OFFSETS.producer / 4];
  }
  set producer(v: number) {
    this.u32[OFFSETS.producer / 4] = v >>> 0;
  }
  get consumer(): number {
    return this.u32[OFFSETS.consumer / 4];
  }
  set consumer(v: number) {
    this.u32[OFFSETS.consumer / 4] = v >>> 0;
  }
  set flags(v: number) {
    this.u32[OFFSETS.flags / 4] = v;
  }
  word(index: number, w: number): number {
    return this.u32[OFFSETS.desc / 4 + (index & (this.depth - 1)) * this.slotWords + w];
  }
  setWord(index: number, w: number, v: number): void {
    this.u32[OFFSETS.desc / 4 + (index & (this.depth - 1)) * this.slotWords + w] = v;
  }
}

describe("AF_XDP producer rings (fill, TX)", () => {
  it("reserves only free slots, publishes on submit, and sees the kernel consume", () => {
    const buf = ringBuffer(8, 8);
    const k = new KernelSide(buf, 8, 2);
    const fill = new XskFillRing(buf, OFFSETS, 8);
    expect(fill.reserve(5)).toBe(5);
    for (let i = 0; i < 5; i++) fill.setAddr(i, (i + 1) * 2048);
    expect(k.producer).toBe(0); // nothing visible before submit
    fill.submit(5);
    expect(k.producer).toBe(5);
    expect([0, 1, 2, 3, 4].map((i) => k.word(i, 0))).toEqual([2048, 4096, 6144, 8192, 10240]);
    expect(fill.reserve(5)).toBe(3); // only 3 free until the kernel consumes
    fill.submit(3);
    expect(fill.reserve(1)).toBe(0);
    k.consumer = 4;
    expect(fill.reserve(10)).toBe(4);
    expect(() => fill.submit(5)).toThrow(/submit 5 > reserved 4/);
    fill.submit(2);
    expect(k.producer).toBe(10);
  });

  it("writes 64-bit addresses and xdp_desc fields", () => {
    const buf = ringBuffer(4, 16);
    const k = new KernelSide(buf, 4, 4);
    const tx = new XskTxRing(buf, OFFSETS, 4);
    expect(tx.reserve(2)).toBe(2);
    tx.setDesc(0, 2 ** 32 + 4096, 60);
    tx.setDesc(1, 8192, 1514);
    tx.submit(2);
    expect([k.word(0, 0), k.word(0, 1), k.word(0, 2), k.word(0, 3)]).toEqual([4096, 1, 60, 0]);
    expect([k.word(1, 0), k.word(1, 1), k.word(1, 2)]).toEqual([8192, 0, 1514]);
  });

  it("keeps working across u32 index wrap-around", () => {
    const start = 0xffff_fffd;
    const buf = ringBuffer(4, 8, start, start);
    const k = new KernelSide(buf, 4, 2);
    const fill = new XskFillRing(buf, OFFSETS, 4);
    for (let round = 0; round < 5; round++) {
      expect(fill.reserve(4)).toBe(4);
      for (let i = 0; i < 4; i++) fill.setAddr(i, (round * 4 + i) * 2048);
      fill.submit(4);
      expect(fill.reserve(1)).toBe(0);
      const from = k.consumer;
      for (let i = 0; i < 4; i++) expect(k.word(from + i, 0)).toBe((round * 4 + i) * 2048);
      k.consumer = from + 4;
    }
    expect(k.producer).toBe((start + 20) >>> 0);
  });

  it("reports the need-wakeup flag", () => {
    const buf = ringBuffer(4, 16);
    const k = new KernelSide(buf, 4, 4);
    const tx = new XskTxRing(buf, OFFSETS, 4);
    expect(tx.needsWakeup()).toBe(false);
    k.flags = 1;
    expect(tx.needsWakeup()).toBe(true);
  });
});

describe("AF_XDP consumer rings (RX, completion)", () => {
  it("peeks what the kernel produced, reads descriptors, and releases", () => {
    const buf = ringBuffer(8, 16);
    const k = new KernelSide(buf, 8, 4);
    const rx = new XskRxRing(buf, OFFSETS, 8);
    expect(rx.peek(4)).toBe(0);
    for (let i = 0; i < 3; i++) {
      k.setWord(i, 0, 2048 * i + 256);
      k.setWord(i, 2, 60 + i);
    }
    k.producer = 3;
    expect(rx.peek(2)).toBe(2);
    expect(rx.addr(1)).toBe(2048 + 256);
    expect(rx.len(1)).toBe(61);
    rx.release(2);
    expect(k.consumer).toBe(2);
    expect(rx.peek(64)).toBe(1);
    expect(rx.addr(0)).toBe(4096 + 256);
    expect(() => rx.release(2)).toThrow(/release 2 > available 1/);
    rx.release(1);
    expect(k.consumer).toBe(3);
  });

  it("matches a model under random produce/consume sequences with wrap-around", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff_ffff }),
        fc.array(fc.tuple(fc.nat({ max: 9 }), fc.nat({ max: 9 })), { minLength: 1, maxLength: 60 }),
        (start, steps) => {
          const depth = 8;
          const buf = ringBuffer(depth, 8, start, start);
          const k = new KernelSide(buf, depth, 2);
          const comp = new XskCompletionRing(buf, OFFSETS, depth);
          const inFlight: number[] = [];
          let next = 1;
          for (const [produce, consume] of steps) {
            const room = depth - ((k.producer - k.consumer) >>> 0);
            for (let i = 0; i < Math.min(produce, room); i++) {
              k.setWord(k.producer, 0, next);
              inFlight.push(next++);
              k.producer = k.producer + 1;
            }
            const n = comp.peek(consume);
            expect(n).toBe(Math.min(consume, inFlight.length));
            for (let i = 0; i < n; i++) expect(comp.addr(i)).toBe(inFlight[i]);
            comp.release(n);
            inFlight.splice(0, n);
            expect(k.consumer).toBe((k.producer - inFlight.length) >>> 0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("ring layout validation", () => {
  it("refuses a depth that is not a power of two and offsets outside the mapping", () => {
    expect(() => new XskRxRing(ringBuffer(8, 16), OFFSETS, 6)).toThrow(/depth 6 is not a power of two/);
    expect(() => new XskRxRing(ringBuffer(8, 16), OFFSETS, 16)).toThrow(/16 slots from offset 192 exceed/);
    expect(() => new XskFillRing(ringBuffer(8, 8), { ...OFFSETS, flags: 4096 }, 8)).toThrow(/flags offset 4096/);
    expect(() => new XskFillRing(ringBuffer(8, 8), { ...OFFSETS, producer: 2 }, 8)).toThrow(/producer offset 2/);
  });
});

describe("UMEM frame pool", () => {
  it("hands out frames in address order, takes back interior addresses, and runs dry", () => {
    const pool = new UmemFramePool(2048, 4, 3);
    expect([pool.alloc(), pool.alloc(), pool.alloc(), pool.alloc()]).toEqual([8192, 10240, 12288, -1]);
    pool.free(10240 + 256); // an RX descriptor points past the kernel headroom
    expect(pool.available).toBe(1);
    expect(pool.alloc()).toBe(10240);
  });

  it("refuses double frees and addresses outside the pool", () => {
    const pool = new UmemFramePool(2048, 0, 4);
    const a = pool.alloc();
    pool.free(a);
    expect(() => pool.free(a + 10)).toThrow(/freed twice/);
    expect(() => pool.free(4 * 2048)).toThrow(/not in the pool/);
    expect(() => pool.free(-1)).toThrow(/not in the pool/);
    expect(() => new UmemFramePool(3000, 0, 4)).toThrow(/not a power of two/);
  });

  it("never hands out a frame twice (model check)", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), (ops) => {
        const pool = new UmemFramePool(4096, 0, 16);
        const held = new Set<number>();
        for (const alloc of ops) {
          if (alloc) {
            const a = pool.alloc();
            if (held.size === 16) expect(a).toBe(-1);
            else {
              expect(held.has(a)).toBe(false);
              held.add(a);
            }
          } else if (held.size > 0) {
            const a = held.values().next().value as number;
            held.delete(a);
            pool.free(a);
          }
          expect(pool.available).toBe(16 - held.size);
        }
      }),
      { numRuns: 200 },
    );
  });
});
