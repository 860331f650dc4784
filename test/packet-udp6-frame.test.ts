// IPv6/UDP frames: build -> parse round trips at any offset, the checksum checked against an
// independent computation, and every IPv6 drop reason produced by a frame built for it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIp6 } from "../shared/ip6";
import { fuzzParse } from "../shared/packet/fuzz";
import { PARSE_OK, UDP_PARSE_RESULT_NAMES, Udp6Drop, type Udp6DropName, UdpDrop } from "../shared/packet/udp-frame";
import {
  buildUdp6Frame,
  newUdp6FrameFields,
  newUdp6FrameInfo,
  parseUdp6Frame,
  UDP6_PAYLOAD_OFFSET,
} from "../shared/packet/udp6-frame";

const SRC = parseIp6("2001:2::1") as Uint32Array;
const DST = parseIp6("fe80::1:2:3:4") as Uint32Array;

function frame6(payload: Uint8Array, off = 0, extra = 0): Uint8Array {
  const u8 = new Uint8Array(off + UDP6_PAYLOAD_OFFSET + payload.length + extra);
  u8.set(payload, off + UDP6_PAYLOAD_OFFSET);
  const f = newUdp6FrameFields();
  f.dstMac.set([2, 0, 0, 0, 0, 1]);
  f.srcMac.set([2, 0, 0, 0, 0, 2]);
  f.src.set(SRC);
  f.dst.set(DST);
  f.srcPort = 5353;
  f.dstPort = 9000;
  f.dscp = 46;
  expect(buildUdp6Frame(u8, off, f, payload.length)).toBe(UDP6_PAYLOAD_OFFSET + payload.length);
  return u8;
}

/** RFC 1071 over the pseudo-header and the UDP datagram, byte by byte (no shared code). */
function referenceChecksumOk(u8: Uint8Array, ip: number): boolean {
  const len = (u8[ip + 4] << 8) | u8[ip + 5];
  const bytes = [...u8.subarray(ip + 8, ip + 40), 0, 0, len >> 8, len & 255, 0, 0, 0, 17];
  bytes.push(...u8.subarray(ip + 40, ip + 40 + len));
  if (bytes.length & 1) bytes.push(0);
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

describe("IPv6/UDP frames", () => {
  it("round-trips at any offset and length, with a checksum an independent sum accepts", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: 9 }), (payload, off) => {
        const u8 = frame6(payload, off);
        expect(referenceChecksumOk(u8, off + 14)).toBe(true);
        const info = newUdp6FrameInfo();
        expect(parseUdp6Frame(u8, off, u8.length - off, info)).toBe(PARSE_OK);
        expect([...info.srcIp]).toEqual([...SRC]);
        expect([...info.dstIp]).toEqual([...DST]);
        expect([info.srcPort, info.dstPort, info.hopLimit]).toEqual([5353, 9000, 64]);
        expect(info.payloadOff).toBe(off + UDP6_PAYLOAD_OFFSET);
        expect(u8.subarray(info.payloadOff, info.payloadOff + info.payloadLen)).toEqual(payload);
      }),
      { numRuns: 300 },
    );
  });

  it("writes version 6, the traffic class, payload length, next header 17 and the hop limit", () => {
    const u8 = frame6(new Uint8Array(10));
    expect([...u8.subarray(12, 22)]).toEqual([0x86, 0xdd, 0x6b, 0x80, 0, 0, 0, 18, 17, 64]);
  });

  it("accepts Ethernet padding after the payload length", () => {
    const u8 = frame6(new Uint8Array(2), 0, 20);
    expect(parseUdp6Frame(u8, 0, u8.length, newUdp6FrameInfo())).toBe(PARSE_OK);
  });

  const cases: Array<[Udp6DropName | "bad_bounds" | "not_ipv4", () => [Uint8Array, number]]> = [
    ["bad_bounds", () => [frame6(new Uint8Array(4)), 1000]],
    ["not_ipv4", () => [poke(frame6(new Uint8Array(4)), 12, 0x08, 0x00), -1]],
    ["ip6_undersize", () => [frame6(new Uint8Array(4)), 61]],
    ["ip6_bad_version", () => [poke(frame6(new Uint8Array(4)), 14, 0x4b), -1]],
    ["ip6_bad_payload_length", () => [poke(frame6(new Uint8Array(4)), 18, 0, 13), -1]],
    ["ip6_bad_payload_length", () => [poke(frame6(new Uint8Array(4)), 18, 0, 7), -1]],
    ["ip6_fragment", () => [poke(frame6(new Uint8Array(4)), 20, 44), -1]],
    ["ip6_not_udp", () => [poke(frame6(new Uint8Array(4)), 20, 0), -1]],
    ["ip6_not_udp", () => [poke(frame6(new Uint8Array(4)), 20, 58), -1]],
    ["ip6_bad_udp_length", () => [poke(frame6(new Uint8Array(4)), 58, 0, 11), -1]],
    ["ip6_zero_udp_checksum", () => [poke(frame6(new Uint8Array(4)), 60, 0, 0), -1]],
    ["ip6_bad_udp_checksum", () => [poke(frame6(new Uint8Array(4)), 62, 0xaa), -1]],
    ["ip6_bad_udp_checksum", () => [poke(frame6(new Uint8Array(4)), 22, 0x21), -1]],
  ];

  function poke(u8: Uint8Array, at: number, ...bytes: number[]): Uint8Array {
    u8.set(bytes, at);
    return u8;
  }

  it.each(cases)("drops %s", (reason, make) => {
    const [u8, len] = make();
    const code = parseUdp6Frame(u8, 0, len < 0 ? u8.length : len, newUdp6FrameInfo());
    expect(UDP_PARSE_RESULT_NAMES[code]).toBe(reason);
  });

  it("covers every IPv6 reason, after the IPv4 codes (which keep their numbers)", () => {
    const covered = new Set(cases.map(([r]) => r).filter((r) => r.startsWith("ip6_")));
    expect([...covered].sort()).toEqual(Object.keys(Udp6Drop).sort());
    expect(UdpDrop.bad_udp_checksum).toBe(11);
    expect(Math.min(...Object.values(Udp6Drop))).toBe(12);
    expect(UDP_PARSE_RESULT_NAMES).toHaveLength(20);
  });

  it("refuses every truncation, and the fuzz target holds on IPv6 frames with edits", () => {
    const u8 = frame6(new Uint8Array(9));
    for (let len = 0; len < u8.length; len++) expect(parseUdp6Frame(u8, 0, len, newUdp6FrameInfo())).not.toBe(PARSE_OK);
    fc.assert(
      fc.property(
        fc.nat({ max: 300 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 6 }),
        (n, edits) => {
          const f = frame6(new Uint8Array(n).fill(7));
          for (const [at, v] of edits) f[at % f.length] = v;
          fuzzParse(f);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
