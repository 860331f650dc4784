import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIp } from "../shared/netmodel";
import {
  createSolicitFields,
  decodeSolicit,
  encodeSolicit,
  SOLICIT_BYTES,
  SolicitCode,
  solicitCheck,
} from "../shared/solicit/message";

const IP = parseIp("198.18.0.1") ?? 0;

describe("neighbor-solicit message layout", () => {
  it("is 16 little-endian bytes: ip, ifindex, reserved 0, check word", () => {
    expect(SOLICIT_BYTES).toBe(16);
    const bytes = new Uint8Array(16);
    expect(encodeSolicit(new DataView(bytes.buffer), 0, IP, 7)).toBe(SolicitCode.ok);
    expect([...bytes.subarray(0, 12)]).toEqual([0x01, 0x00, 0x12, 0xc6, 7, 0, 0, 0, 0, 0, 0, 0]);
    expect(new DataView(bytes.buffer).getUint32(12, true)).toBe(solicitCheck(IP, 7, 0));
  });

  it("round-trips through a DataView at any offset and an Int32Array at aligned offsets", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 48 }),
        (ip, ifindex, offset) => {
          const buf = new ArrayBuffer(64);
          const out = createSolicitFields();
          expect(encodeSolicit(new DataView(buf), offset, ip, ifindex)).toBe(SolicitCode.ok);
          expect(decodeSolicit(new DataView(buf), offset, out)).toBe(SolicitCode.ok);
          expect(out).toEqual({ ip, ifindex });
          const aligned = offset & ~3;
          const words = new Int32Array(buf);
          expect(encodeSolicit(words, aligned, ip, ifindex)).toBe(SolicitCode.ok);
          out.ip = 0;
          expect(decodeSolicit(words, aligned, out)).toBe(SolicitCode.ok);
          expect(out).toEqual({ ip, ifindex });
          // Both views agree on the bytes.
          expect(decodeSolicit(new DataView(buf), aligned, out)).toBe(SolicitCode.ok);
        },
      ),
    );
  });

  it("writes the same bytes for an address given as u32 or as int32 bits", () => {
    const u32 = new Uint8Array(16);
    const bits = new Uint8Array(16);
    const words = new Int32Array(4);
    encodeSolicit(new DataView(u32.buffer), 0, IP, 0xffffffff);
    encodeSolicit(new DataView(bits.buffer), 0, IP | 0, -1);
    encodeSolicit(words, 0, IP | 0, -1);
    expect([...bits]).toEqual([...u32]);
    expect([...new Uint8Array(words.buffer)]).toEqual([...u32]);
    const out = createSolicitFields();
    expect(decodeSolicit(words, 0, out)).toBe(SolicitCode.ok);
    expect(out).toEqual({ ip: IP, ifindex: 0xffffffff }); // decoded as u32
  });

  it("rejects every single-bit corruption of a valid message as bad_check", () => {
    const bytes = new Uint8Array(16);
    encodeSolicit(new DataView(bytes.buffer), 0, IP, 2);
    const out = createSolicitFields();
    for (let bit = 0; bit < 128; bit++) {
      const copy = bytes.slice();
      copy[bit >>> 3] ^= 1 << (bit & 7);
      expect(decodeSolicit(new DataView(copy.buffer), 0, out), `bit ${bit}`).toBe(SolicitCode.bad_check);
    }
    expect(out).toEqual({ ip: 0, ifindex: 0 }); // untouched on failure
  });

  it("rejects never-written (all-zero) and all-ones slots", () => {
    const out = createSolicitFields();
    expect(decodeSolicit(new DataView(new ArrayBuffer(16)), 0, out)).toBe(SolicitCode.bad_check);
    expect(decodeSolicit(new Int32Array(4).fill(-1), 0, out)).toBe(SolicitCode.bad_check);
  });

  it("reports a nonzero reserved word with a valid check as reserved_nonzero", () => {
    const view = new DataView(new ArrayBuffer(16));
    view.setUint32(0, IP, true);
    view.setUint32(4, 2, true);
    view.setUint32(8, 0x100, true);
    view.setUint32(12, solicitCheck(IP, 2, 0x100), true);
    expect(decodeSolicit(view, 0, createSolicitFields())).toBe(SolicitCode.reserved_nonzero);
  });

  it("accepts arbitrary bytes only when they are exactly what the encoder would write", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const out = createSolicitFields();
        if (decodeSolicit(new DataView(bytes.buffer), 0, out) !== SolicitCode.ok) return;
        const again = new Uint8Array(16);
        encodeSolicit(new DataView(again.buffer), 0, out.ip, out.ifindex);
        expect([...again]).toEqual([...bytes]);
      }),
    );
  });

  it("reports truncated and misaligned positions instead of reading or writing out of bounds", () => {
    const out = createSolicitFields();
    const buf = new ArrayBuffer(20);
    const view = new DataView(buf);
    for (const offset of [5, 19, 20, 100, -1, Number.NaN, 1.5]) {
      expect(decodeSolicit(view, offset, out), `offset ${offset}`).toBe(SolicitCode.truncated);
      expect(encodeSolicit(view, offset, IP, 2), `offset ${offset}`).toBe(SolicitCode.truncated);
    }
    expect(new Uint8Array(buf).every((b) => b === 0)).toBe(true);
    expect(decodeSolicit(new DataView(buf, 0, 15), 0, out)).toBe(SolicitCode.truncated);
    const words = new Int32Array(new ArrayBuffer(32));
    for (const offset of [1, 2, 3, 6]) {
      expect(decodeSolicit(words, offset, out)).toBe(SolicitCode.misaligned);
      expect(encodeSolicit(words, offset, IP, 2)).toBe(SolicitCode.misaligned);
    }
    expect(decodeSolicit(words, 20, out)).toBe(SolicitCode.truncated);
    // Offsets are relative to the view, not to its buffer.
    const inner = new DataView(buf, 4, 16);
    expect(encodeSolicit(inner, 0, IP, 9)).toBe(SolicitCode.ok);
    expect(decodeSolicit(new DataView(buf), 4, out)).toBe(SolicitCode.ok);
    expect(out).toEqual({ ip: IP, ifindex: 9 });
  });
});
