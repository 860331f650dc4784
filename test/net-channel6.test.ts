// The UDP channel's 48-byte record (version 2): family, both addresses as four words each, ports,
// length and ifindex round-trip for IPv4 and IPv6 messages interleaved across ring wraps; each
// family's payload sits at its own alignment; a record of an unknown family is skipped and counted.
import { describe, expect, it } from "vitest";
import {
  UDP_DATA_VERSION,
  UDP_META_BYTES,
  UDP_PAYLOAD_ALIGN,
  UDP6_PAYLOAD_ALIGN,
  UdpChannelReader,
  UdpChannelWriter,
  udpRingSpec,
} from "../shared/udp/channel";
import { makeChannel } from "./support/dataplane-helpers";

describe("udp channel records with IPv6", () => {
  it("is version 2 with 48-byte slots", () => {
    expect(UDP_DATA_VERSION).toBe(2);
    expect(UDP_META_BYTES).toBe(48);
    expect(udpRingSpec(8).slotSize).toBe(48);
  });

  it("round-trips IPv4 and IPv6 records interleaved over many wraps", () => {
    const r = makeChannel("rx", 8, 100);
    const w = new UdpChannelWriter("w", "rx", r, 8, 100);
    const rd = new UdpChannelReader("r", "rx", r, 8, 100);
    const src = new Uint32Array(8);
    const dst = new Uint32Array(8);
    const got: string[] = [];
    const want: string[] = [];
    for (let n = 0; n < 100; n++) {
      const v6 = n % 3 !== 0;
      const at = w.begin(v6 ? 6 : 4);
      expect(at).toBeGreaterThan(0);
      expect(at & 7).toBe(v6 ? UDP6_PAYLOAD_ALIGN : UDP_PAYLOAD_ALIGN);
      w.data.u8[at] = n;
      w.data.u8[at + 99] = 255 - n;
      if (v6) {
        for (let i = 0; i < 8; i++) {
          src[i] = (0x20010002 + n * 7 + i) >>> 0;
          dst[i] = (0xfe800000 ^ (n << 8) ^ i) >>> 0;
        }
        w.finish6(src, 4, dst, 2, n, 65535 - n, 100, n + 1);
        want.push(`6 ${[...src.subarray(4, 8)]} ${[...dst.subarray(2, 6)]} ${n} ${65535 - n} 100 ${n + 1} ${n}`);
      } else {
        w.finish((0xc6120000 + n) >>> 0, 0xfffffffe - n, n, 1000 + n, 100, 7);
        want.push(`4 ${(0xc6120000 + n) >>> 0},0,0,0 ${0xfffffffe - n},0,0,0 ${n} ${1000 + n} 100 7 ${n}`);
      }
      w.flush();
      rd.poll(8, (m) => {
        expect(m.srcIp).toBe(m.src6[0]);
        expect(m.dstIp).toBe(m.dst6[0]);
        expect(rd.data.u8[m.offset + 99]).toBe(255 - rd.data.u8[m.offset]);
        got.push(
          `${m.family} ${[...m.src6]} ${[...m.dst6]} ${m.srcPort} ${m.dstPort} ${m.length} ${m.ifindex} ${rd.data.u8[m.offset]}`,
        );
      });
      rd.release();
    }
    expect(got).toEqual(want);
  });

  it("skips and counts a record whose family is neither 4 nor 6", () => {
    const r = makeChannel("tx", 8, 64);
    const w = new UdpChannelWriter("w", "tx", r, 8, 64);
    const rd = new UdpChannelReader("r", "tx", r, 8, 64);
    w.begin();
    w.finish(1, 2, 3, 4, 5);
    // A hostile producer rewrites the family word of the slot it just wrote.
    const slots = new Int32Array(r.producer);
    const family = slots.findIndex((v, i) => v === 4 && slots[i + 1] === 1 && slots[i + 5] === 2);
    expect(family).toBeGreaterThan(0);
    slots[family] = 5;
    w.begin(6);
    w.finish6(new Uint32Array(4), 0, new Uint32Array(4), 0, 1, 2, 3, 0);
    w.flush();
    const families: number[] = [];
    rd.poll(8, (m) => families.push(m.family));
    expect(families).toEqual([6]);
    expect(rd.malformed).toBe(1);
  });
});
