import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIp6 } from "../shared/ip6";
import { parseIp } from "../shared/netmodel";
import {
  createSolicitFields,
  decodeSolicit,
  encodeSolicit,
  encodeSolicit6,
  SOLICIT_BYTES,
  SolicitCode,
  type SolicitFields,
  solicitCheck,
  writeSolicitWords,
} from "../shared/solicit/message";

const IP = parseIp("198.18.0.1") ?? 0;
const G6 = parseIp6("2001:2::1") ?? new Uint32Array(4);
const v4 = (ip: number, ifindex: number): SolicitFields => ({ family: 4, ifindex, ip, a0: ip, a1: 0, a2: 0, a3: 0 });
const v6 = (ifindex: number, a: ArrayLike<number>): SolicitFields => ({
  family: 6,
  ifindex,
  ip: 0,
  a0: a[0],
  a1: a[1],
  a2: a[2],
  a3: a[3],
});
/** Eight words with the check computed over the first seven. */
function forged(w: number[]): Uint32Array {
  const out = Uint32Array.from([...w, 0]);
  out[7] = solicitCheck(out[0], out[1], out[2], out[3], out[4], out[5], out[6]);
  return out;
}
function decodeWords(w: Uint32Array): number {
  const view = new DataView(new ArrayBuffer(SOLICIT_BYTES));
  writeSolicitWords(view, 0, w);
  return decodeSolicit(view, 0, createSolicitFields());
}

describe("neighbor-solicit message layout (version 2)", () => {
  it("is 32 little-endian bytes: head 0x0204, ifindex, address, padding 0, reserved 0, check", () => {
    expect(SOLICIT_BYTES).toBe(32);
    const bytes = new Uint8Array(32);
    expect(encodeSolicit(new DataView(bytes.buffer), 0, IP, 7)).toBe(SolicitCode.ok);
    expect([...bytes.subarray(0, 28)]).toEqual([
      0x04,
      0x02,
      0,
      0,
      7,
      0,
      0,
      0,
      0x01,
      0x00,
      0x12,
      0xc6,
      ...new Array<number>(16).fill(0),
    ]);
    expect(new DataView(bytes.buffer).getUint32(28, true)).toBe(solicitCheck(0x204, 7, IP, 0, 0, 0, 0));
  });

  it("IPv6: head 0x0206 and the four words of shared/ip6.ts, little-endian each", () => {
    const bytes = new Uint8Array(32);
    expect(encodeSolicit6(new DataView(bytes.buffer), 0, 3, G6[0], G6[1], G6[2], G6[3])).toBe(SolicitCode.ok);
    const dv = new DataView(bytes.buffer);
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => dv.getUint32(i * 4, true))).toEqual([0x206, 3, 0x20010002, 0, 0, 1, 0]);
    const out = createSolicitFields();
    expect(decodeSolicit(dv, 0, out)).toBe(SolicitCode.ok);
    expect(out).toEqual(v6(3, G6));
  });

  it("round-trips both families through a DataView at any offset and an Int32Array at aligned offsets", () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(
        u32,
        u32,
        fc.array(u32, { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 48 }),
        fc.boolean(),
        (ip, ifindex, a, offset, six) => {
          const buf = new ArrayBuffer(96);
          const out = createSolicitFields();
          const want = six ? v6(ifindex, a) : v4(ip, ifindex);
          const enc = (view: DataView | Int32Array, at: number) =>
            six ? encodeSolicit6(view, at, ifindex, a[0], a[1], a[2], a[3]) : encodeSolicit(view, at, ip, ifindex);
          expect(enc(new DataView(buf), offset)).toBe(SolicitCode.ok);
          expect(decodeSolicit(new DataView(buf), offset, out)).toBe(SolicitCode.ok);
          expect(out).toEqual(want);
          const aligned = offset & ~3;
          const words = new Int32Array(buf);
          expect(enc(words, aligned)).toBe(SolicitCode.ok);
          out.ifindex = 0;
          expect(decodeSolicit(words, aligned, out)).toBe(SolicitCode.ok);
          expect(out).toEqual(want);
          expect(decodeSolicit(new DataView(buf), aligned, out)).toBe(SolicitCode.ok);
        },
      ),
    );
  });

  it("writes the same bytes for words given as u32 or as int32 bits", () => {
    const u32 = new Uint8Array(32);
    const bits = new Uint8Array(32);
    const words = new Int32Array(8);
    encodeSolicit6(new DataView(u32.buffer), 0, 0xffffffff, 0xfe800000, 0, 0x80000000, 0xffffffff);
    encodeSolicit6(new DataView(bits.buffer), 0, -1, 0xfe800000 | 0, 0, 0x80000000 | 0, -1);
    encodeSolicit6(words, 0, -1, 0xfe800000 | 0, 0, 0x80000000 | 0, -1);
    expect([...bits]).toEqual([...u32]);
    expect([...new Uint8Array(words.buffer)]).toEqual([...u32]);
    const out = createSolicitFields();
    expect(decodeSolicit(words, 0, out)).toBe(SolicitCode.ok);
    expect(out).toEqual(v6(0xffffffff, [0xfe800000, 0, 0x80000000, 0xffffffff])); // decoded as u32
  });

  it("rejects every single-bit corruption of a valid message of either family as bad_check", () => {
    const out = createSolicitFields();
    for (const six of [false, true]) {
      const bytes = new Uint8Array(32);
      if (six) encodeSolicit6(new DataView(bytes.buffer), 0, 2, G6[0], G6[1], G6[2], G6[3]);
      else encodeSolicit(new DataView(bytes.buffer), 0, IP, 2);
      for (let bit = 0; bit < 256; bit++) {
        const copy = bytes.slice();
        copy[bit >>> 3] ^= 1 << (bit & 7);
        expect(decodeSolicit(new DataView(copy.buffer), 0, out), `bit ${bit}`).toBe(SolicitCode.bad_check);
      }
    }
    expect(out).toEqual(createSolicitFields()); // untouched on failure
  });

  it("rejects never-written (all-zero) and all-ones slots, and a version-1 message", () => {
    const out = createSolicitFields();
    expect(decodeSolicit(new DataView(new ArrayBuffer(32)), 0, out)).toBe(SolicitCode.bad_check);
    expect(decodeSolicit(new Int32Array(8).fill(-1), 0, out)).toBe(SolicitCode.bad_check);
    // A v1 producer's 16 bytes (ip, ifindex, 0, its check) followed by zeros.
    const v1 = new DataView(new ArrayBuffer(32));
    v1.setUint32(0, IP, true);
    v1.setUint32(4, 2, true);
    v1.setUint32(12, 0x12345678, true);
    expect(decodeSolicit(v1, 0, out)).toBe(SolicitCode.bad_check);
  });

  it("reports, with a valid check: bad_version, bad_family, reserved_nonzero, padding_nonzero", () => {
    expect(decodeWords(forged([0x104, 2, IP, 0, 0, 0, 0]))).toBe(SolicitCode.bad_version);
    expect(decodeWords(forged([0x304, 2, IP, 0, 0, 0, 0]))).toBe(SolicitCode.bad_version);
    expect(decodeWords(forged([0x10204, 2, IP, 0, 0, 0, 0]))).toBe(SolicitCode.bad_version);
    expect(decodeWords(forged([0x200, 2, IP, 0, 0, 0, 0]))).toBe(SolicitCode.bad_family);
    expect(decodeWords(forged([0x205, 2, IP, 0, 0, 0, 0]))).toBe(SolicitCode.bad_family);
    expect(decodeWords(forged([0x204, 2, IP, 0, 0, 0, 0x100]))).toBe(SolicitCode.reserved_nonzero);
    expect(decodeWords(forged([0x206, 2, ...G6, 1]))).toBe(SolicitCode.reserved_nonzero);
    for (const i of [3, 4, 5]) {
      const w = [0x204, 2, IP, 0, 0, 0, 0];
      w[i] = 1;
      expect(decodeWords(forged(w)), `word ${i}`).toBe(SolicitCode.padding_nonzero);
    }
    expect(decodeWords(forged([0x206, 2, 0, 0, 0, 0, 0]))).toBe(SolicitCode.ok); // :: decodes; the handler refuses it
  });

  it("accepts arbitrary bytes only when they are exactly what an encoder would write", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const out = createSolicitFields();
        if (decodeSolicit(new DataView(bytes.buffer), 0, out) !== SolicitCode.ok) return;
        const again = new DataView(new ArrayBuffer(32));
        if (out.family === 4) encodeSolicit(again, 0, out.ip, out.ifindex);
        else encodeSolicit6(again, 0, out.ifindex, out.a0, out.a1, out.a2, out.a3);
        expect([...new Uint8Array(again.buffer)]).toEqual([...bytes]);
      }),
    );
  });

  it("reports truncated and misaligned positions instead of reading or writing out of bounds", () => {
    const out = createSolicitFields();
    const buf = new ArrayBuffer(40);
    const view = new DataView(buf);
    for (const offset of [9, 39, 40, 100, -1, Number.NaN, 1.5]) {
      expect(decodeSolicit(view, offset, out), `offset ${offset}`).toBe(SolicitCode.truncated);
      expect(encodeSolicit(view, offset, IP, 2), `offset ${offset}`).toBe(SolicitCode.truncated);
      expect(encodeSolicit6(view, offset, 2, 1, 2, 3, 4), `offset ${offset}`).toBe(SolicitCode.truncated);
    }
    expect(new Uint8Array(buf).every((b) => b === 0)).toBe(true);
    expect(decodeSolicit(new DataView(buf, 0, 31), 0, out)).toBe(SolicitCode.truncated);
    const words = new Int32Array(new ArrayBuffer(64));
    for (const offset of [1, 2, 3, 6]) {
      expect(decodeSolicit(words, offset, out)).toBe(SolicitCode.misaligned);
      expect(encodeSolicit(words, offset, IP, 2)).toBe(SolicitCode.misaligned);
      expect(encodeSolicit6(words, offset, 2, 1, 2, 3, 4)).toBe(SolicitCode.misaligned);
    }
    expect(decodeSolicit(words, 36, out)).toBe(SolicitCode.truncated);
    // Offsets are relative to the view, not to its buffer.
    const inner = new DataView(buf, 4, 32);
    expect(encodeSolicit(inner, 0, IP, 9)).toBe(SolicitCode.ok);
    expect(decodeSolicit(new DataView(buf), 4, out)).toBe(SolicitCode.ok);
    expect(out).toEqual(v4(IP, 9));
  });
});
