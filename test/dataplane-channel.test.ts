// The UDP channel between net and app tiles: layout validation, in-place payloads across ring
// wraps, credits (reliable: a full channel refuses, never overwrites), malformed records skipped,
// and the payload copy helpers (byte-exact at every alignment, nothing outside the range touched).
import { describe, expect, it } from "vitest";
import {
  initUdpDataRegion,
  UDP_DATA_HEADER_BYTES,
  UDP_PAYLOAD_ALIGN,
  UdpChannelReader,
  UdpChannelWriter,
  type UdpMessage,
  udpChannelSizes,
  validateUdpDataRegion,
} from "../shared/udp/channel";
import { ByteRegion, copyIntoRegion, copyRegion, WORD_COPY_MAX } from "../shared/udp/copy";
import { makeChannel } from "./support/dataplane-helpers";

function payloadByte(seq: number, i: number): number {
  return (seq * 31 + i * 7 + 3) & 255;
}

describe("udp channel layout", () => {
  it("sizes chunks to the payload plus alignment, 64-byte multiples", () => {
    const s = udpChannelSizes(8, 1472);
    expect(s.chunkBytes).toBe(1536);
    expect(s.dataBytes).toBe(UDP_DATA_HEADER_BYTES + 8 * 1536);
    expect(s.spec).toEqual({ kind: "reliable", depth: 8, slotSize: 48 });
    // Room for the IPv6 alignment (6) in front of the payload.
    expect(udpChannelSizes(8, 58).chunkBytes).toBe(64);
    expect(udpChannelSizes(8, 59).chunkBytes).toBe(128);
  });

  it("refuses bad shapes and mismatched regions with clear errors", () => {
    expect(() => udpChannelSizes(6, 100, "x")).toThrow(/ring x: depth 6 is not a power of two/);
    expect(() => udpChannelSizes(8, 0, "x")).toThrow(/maxPayload 0/);
    expect(() => udpChannelSizes(8, 70000, "x")).toThrow(/maxPayload 70000/);
    const r = makeChannel("rx", 8, 100);
    expect(() => validateUdpDataRegion(r.data, "a", "tx", 8, 100)).toThrow(/udp channel a: .*expected tx/);
    expect(() => validateUdpDataRegion(r.data, "a", "rx", 16, 100)).toThrow(
      /depth 8 x maxPayload 100, expected 16 x 100/,
    );
    expect(() => validateUdpDataRegion(r.data, "a", "rx", 8, 200)).toThrow(/expected 8 x 200/);
    expect(() => validateUdpDataRegion(new ArrayBuffer(32), "a", "rx", 8, 100)).toThrow(/no room for its header/);
    expect(() => validateUdpDataRegion(new ArrayBuffer(4096), "a", "rx", 8, 100)).toThrow(/bad magic/);
    const small = new ArrayBuffer(128);
    expect(() => initUdpDataRegion(small, "rx", 8, 100)).toThrow(/needs/);
    // A writer on the wrong ring (tx regions for an rx channel) is refused too.
    const t = makeChannel("tx", 8, 100);
    expect(() => new UdpChannelWriter("w", "rx", t, 8, 100)).toThrow(/direction/);
    expect(() => new UdpChannelReader("r", "rx", r, 16, 100)).toThrow();
  });
});

describe("udp channel messages", () => {
  it("carries addresses, ports and in-place payloads of every length across ring wraps", () => {
    const depth = 8;
    const maxPayload = 100;
    const regions = makeChannel("tx", depth, maxPayload);
    const w = new UdpChannelWriter("w", "tx", regions, depth, maxPayload);
    const r = new UdpChannelReader("r", "tx", regions, depth, maxPayload);
    let sent = 0;
    let got = 0;
    const problems: string[] = [];
    const check = (m: UdpMessage): void => {
      const seq = got++;
      const len = seq % (maxPayload + 1);
      if (m.srcIp !== (0xc6120000 | seq) >>> 0 || m.dstIp !== 0xfffffffe - seq) problems.push(`ips of ${seq}`);
      if (m.srcPort !== (seq * 13) % 65536 || m.dstPort !== 65535 - seq) problems.push(`ports of ${seq}`);
      if (m.length !== len) problems.push(`length of ${seq}: ${m.length}`);
      if ((m.offset - UDP_DATA_HEADER_BYTES - UDP_PAYLOAD_ALIGN) % 64 !== 0) problems.push(`offset ${m.offset}`);
      for (let i = 0; i < len; i++)
        if (r.data.u8[m.offset + i] !== payloadByte(seq, i)) {
          problems.push(`byte ${i} of ${seq}`);
          break;
        }
    };
    for (let round = 0; round < 60; round++) {
      // Bursts of 1..depth messages, drained in polls of 3.
      const burst = 1 + (round % depth);
      for (let k = 0; k < burst; k++) {
        const at = w.begin();
        expect(at).toBeGreaterThan(0);
        const seq = sent++;
        const len = seq % (maxPayload + 1);
        for (let i = 0; i < len; i++) w.data.u8[at + i] = payloadByte(seq, i);
        w.finish((0xc6120000 | seq) >>> 0, 0xfffffffe - seq, (seq * 13) % 65536, 65535 - seq, len);
      }
      w.flush();
      while (r.poll(3, check) > 0);
      r.release(); // as the tiles do after each batch: every credit back
    }
    expect(problems).toEqual([]);
    expect(got).toBe(sent);
    expect(sent).toBeGreaterThan(3 * depth);
    expect(w.published).toBe(sent);
  });

  it("refuses to claim once the consumer holds every credit, and resumes after it reads", () => {
    const regions = makeChannel("rx", 8, 64);
    const w = new UdpChannelWriter("w", "rx", regions, 8, 64);
    const r = new UdpChannelReader("r", "rx", regions, 8, 64, { releaseEvery: 1 });
    for (let i = 0; i < 8; i++) {
      expect(w.begin()).toBeGreaterThan(0);
      w.finish(1, 2, 3, 4, i);
    }
    expect(w.begin()).toBe(-1);
    w.flush();
    expect(w.begin()).toBe(-1);
    const lengths: number[] = [];
    expect(r.poll(3, (m) => lengths.push(m.length))).toBe(3);
    expect(lengths).toEqual([0, 1, 2]);
    // Credits come back when the reader releases them (every message here).
    expect(w.available()).toBe(3);
    expect(w.begin()).toBeGreaterThan(0);
  });

  it("skips and counts records whose length exceeds maxPayload", () => {
    const regions = makeChannel("tx", 8, 64);
    const w = new UdpChannelWriter("w", "tx", regions, 8, 64);
    const r = new UdpChannelReader("r", "tx", regions, 8, 64);
    w.begin();
    w.finish(1, 2, 3, 4, 65);
    w.begin();
    w.finish(1, 2, 3, 4, -1);
    w.begin();
    w.finish(1, 2, 3, 4, 64);
    w.flush();
    const seen: number[] = [];
    expect(r.poll(8, (m) => seen.push(m.length))).toBe(3);
    expect(seen).toEqual([64]);
    expect(r.malformed).toBe(2);
  });
});

describe("payload copies", () => {
  it("are byte-exact at every alignment and length, NaN bit patterns included, and touch nothing else", () => {
    const src = new ByteRegion(new ArrayBuffer(8192));
    const dst = new ByteRegion(new ArrayBuffer(8192));
    // Random bytes plus float64 signalling/quiet NaNs with payloads, at several alignments.
    for (let i = 0; i < src.u8.length; i++) src.u8[i] = (Math.imul(i, 2654435761) >>> 13) & 255;
    const nans = [
      [1, 0, 0, 0, 0, 0, 0xf0, 0x7f],
      [0x55, 0xaa, 0, 0, 0, 0, 0xf4, 0xff],
      [0, 0, 0, 0, 0, 0, 0xf8, 0x7f],
    ];
    nans.forEach((n, k) => {
      for (let a = 0; a < 8; a++) src.u8.set(n, 512 + k * 64 + a * 8);
    });
    const failures: string[] = [];
    for (const len of [0, 1, 7, 8, 9, 15, 63, 64, 65, 200, WORD_COPY_MAX - 1, WORD_COPY_MAX, 1472]) {
      for (let sa = 0; sa < 8; sa++) {
        for (let da = 0; da < 8; da++) {
          const so = 496 + sa;
          const d0 = 1024 + da;
          dst.u8.fill(0xee);
          copyRegion(src, so, dst, d0, len);
          for (let i = 0; i < len; i++)
            if (dst.u8[d0 + i] !== src.u8[so + i]) {
              failures.push(`len ${len} src+${sa} dst+${da} byte ${i}`);
              break;
            }
          if (dst.u8[d0 - 1] !== 0xee || dst.u8[d0 + len] !== 0xee) failures.push(`len ${len} +${sa}/+${da} overran`);
          // From a plain byte array (user payloads).
          dst.u8.fill(0xee);
          copyIntoRegion(src.u8.subarray(so), 0, dst, d0, len);
          for (let i = 0; i < len; i++)
            if (dst.u8[d0 + i] !== src.u8[so + i]) {
              failures.push(`user len ${len} +${sa}/+${da} byte ${i}`);
              break;
            }
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
