import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checksumOf, foldSum, onesSum } from "../shared/packet/checksum";
import {
  buildUdpFrame,
  newUdpFrameFields,
  newUdpFrameInfo,
  PARSE_OK,
  parseUdpFrame,
  UDP_PARSE_RESULT_NAMES,
  UDP_PAYLOAD_OFFSET,
  UdpDrop,
  type UdpDropName,
  type UdpFrameFields,
} from "../shared/packet/udp-frame";

// Reference checksum written independently of shared/packet: BigInt sum of DataView words.
function refChecksum(bytes: number[], initial = 0): number {
  const padded = bytes.length % 2 ? [...bytes, 0] : bytes;
  const view = new DataView(Uint8Array.from(padded).buffer);
  let sum = BigInt(initial);
  for (let i = 0; i < padded.length; i += 2) sum += BigInt(view.getUint16(i));
  while (sum >> 16n) sum = (sum & 0xffffn) + (sum >> 16n);
  return Number(~sum & 0xffffn);
}

function refUdpChecksum(frame: Uint8Array, ihl: number): number {
  const ip = 14;
  const udp = ip + ihl;
  const udpLen = (frame[udp + 4] << 8) | frame[udp + 5];
  const segment = [...frame.subarray(udp, udp + udpLen)];
  segment[6] = 0;
  segment[7] = 0;
  const pseudo = [...frame.subarray(ip + 12, ip + 20), 0, 17, udpLen >> 8, udpLen & 0xff];
  return refChecksum([...pseudo, ...segment]) || 0xffff;
}

function fields(over: Partial<UdpFrameFields> = {}): UdpFrameFields {
  const f = newUdpFrameFields();
  f.dstMac.set([0x02, 0, 0, 0, 0, 0x0b]);
  f.srcMac.set([0x02, 0, 0, 0, 0, 0x0a]);
  f.srcIp = 0xc6120001; // 198.18.0.1
  f.dstIp = 0xc6120002;
  f.srcPort = 40000;
  f.dstPort = 9000;
  f.ttl = 64;
  f.ipId = 0x1234;
  return Object.assign(f, over);
}

function frameWith(payload: number[], over: Partial<UdpFrameFields> = {}, slack = 0): Uint8Array {
  const u8 = new Uint8Array(UDP_PAYLOAD_OFFSET + payload.length + slack);
  u8.set(payload, UDP_PAYLOAD_OFFSET);
  const n = buildUdpFrame(u8, 0, fields(over), payload.length);
  expect(n).toBe(UDP_PAYLOAD_OFFSET + payload.length);
  return u8;
}

/** Recomputes the IPv4 header checksum (options included) and the UDP checksum after an edit. */
function fixChecksums(u8: Uint8Array, udpToo = true): void {
  const ihl = (u8[14] & 0x0f) * 4;
  u8[24] = 0;
  u8[25] = 0;
  const c = refChecksum([...u8.subarray(14, 14 + ihl)]);
  u8[24] = c >> 8;
  u8[25] = c & 0xff;
  if (udpToo) {
    const uc = refUdpChecksum(u8, ihl);
    u8[14 + ihl + 6] = uc >> 8;
    u8[14 + ihl + 7] = uc & 0xff;
  }
}

/** A frame with IPv4 options (IHL words), built by moving the UDP part of a built frame. */
function frameWithOptions(ihlWords: number, payload: number[]): Uint8Array {
  const base = frameWith(payload);
  const extra = (ihlWords - 5) * 4;
  const u8 = new Uint8Array(base.length + extra);
  u8.set(base.subarray(0, 34));
  for (let i = 0; i < extra; i++) u8[34 + i] = i === extra - 1 ? 0 : 1; // NOPs then End of options
  u8.set(base.subarray(34), 34 + extra);
  u8[14] = 0x40 | ihlWords;
  const total = base.length - 14 + extra;
  u8[16] = total >> 8;
  u8[17] = total & 0xff;
  fixChecksums(u8);
  return u8;
}

describe("internet checksum", () => {
  it("matches the RFC 1071 worked example and a known IPv4 header", () => {
    const rfc = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(foldSum(onesSum(rfc, 0, rfc.length, 0))).toBe(0xddf2);
    expect(checksumOf(onesSum(rfc, 0, rfc.length, 0))).toBe(0x220d);
    // 192.168.0.1 -> 192.168.0.199, total length 0x73, DF, TTL 64, UDP: checksum 0xb861.
    const hdr = Uint8Array.from([
      0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00,
      0xc7,
    ]);
    expect(checksumOf(onesSum(hdr, 0, 20, 0))).toBe(0xb861);
  });

  it("pads an odd trailing byte with zero and agrees with the reference on random data", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(checksumOf(onesSum(bytes, 0, bytes.length, 0))).toBe(refChecksum([...bytes]));
      }),
      { numRuns: 300 },
    );
  });

  it("sums four bytes at a time at any offset, in views at any alignment, as the byte-pair reference does", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.nat(7),
        fc.nat(7),
        fc.nat(0xffff),
        (bytes, viewAt, pad, seed) => {
          // The data at offset `pad` inside a view that starts `viewAt` bytes into its buffer.
          const view = new Uint8Array(new ArrayBuffer(viewAt + pad + bytes.length + 8), viewAt);
          view.set(bytes, pad);
          expect(checksumOf(onesSum(view, pad, bytes.length, seed))).toBe(refChecksum([...bytes], seed));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("UDP frame build and parse", () => {
  it("builds the exact header bytes and both checksums", () => {
    const payload = [...Buffer.from("hello tilenet")];
    const u8 = frameWith(payload);
    expect([...u8.subarray(0, 14)]).toEqual([2, 0, 0, 0, 0, 0x0b, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x00]);
    expect(u8[14]).toBe(0x45);
    expect((u8[16] << 8) | u8[17]).toBe(20 + 8 + payload.length);
    expect((u8[18] << 8) | u8[19]).toBe(0x1234);
    expect((u8[20] << 8) | u8[21]).toBe(0x4000); // DF, offset 0
    expect(u8[22]).toBe(64);
    expect(u8[23]).toBe(17);
    expect([...u8.subarray(26, 34)]).toEqual([198, 18, 0, 1, 198, 18, 0, 2]);
    expect((u8[24] << 8) | u8[25]).toBe(
      refChecksum([...u8.subarray(14, 34)].map((b, i) => (i === 10 || i === 11 ? 0 : b))),
    );
    expect((u8[34] << 8) | u8[35]).toBe(40000);
    expect((u8[36] << 8) | u8[37]).toBe(9000);
    expect((u8[38] << 8) | u8[39]).toBe(8 + payload.length);
    expect((u8[40] << 8) | u8[41]).toBe(refUdpChecksum(u8, 20));
  });

  it("round-trips fields and payload, also at an offset inside a larger view", () => {
    const payload = [1, 2, 3, 4, 5];
    const view = new Uint8Array(256);
    view.set(payload, 100 + UDP_PAYLOAD_OFFSET);
    const n = buildUdpFrame(view, 100, fields({ srcIp: 0xffffffff, dstPort: 65535 }), payload.length);
    const info = newUdpFrameInfo();
    expect(parseUdpFrame(view, 100, n, info)).toBe(PARSE_OK);
    expect(info).toMatchObject({
      dstMacOff: 100,
      srcMacOff: 106,
      srcIp: 0xffffffff,
      dstIp: 0xc6120002,
      srcPort: 40000,
      dstPort: 65535,
      ttl: 64,
      ipHeaderLen: 20,
      payloadOff: 100 + UDP_PAYLOAD_OFFSET,
      payloadLen: 5,
    });
  });

  it("accepts Ethernet padding beyond the IPv4 total length, an empty payload, and checksum 0 (none)", () => {
    const info = newUdpFrameInfo();
    const padded = frameWith([7, 7], {}, 16);
    expect(parseUdpFrame(padded, 0, padded.length, info)).toBe(PARSE_OK);
    expect(info.payloadLen).toBe(2);
    const empty = frameWith([]);
    expect(parseUdpFrame(empty, 0, empty.length, info)).toBe(PARSE_OK);
    expect(info.payloadLen).toBe(0);
    const none = frameWith([9, 9, 9]);
    none[40] = 0;
    none[41] = 0;
    none[42] = 1; // payload changed: only acceptable because the checksum is absent
    expect(parseUdpFrame(none, 0, none.length, info)).toBe(PARSE_OK);
  });

  it("honours IPv4 options: IHL 6..15 puts the UDP header after them", () => {
    const info = newUdpFrameInfo();
    for (let ihl = 6; ihl <= 15; ihl++) {
      const u8 = frameWithOptions(ihl, [0xaa, 0xbb, 0xcc]);
      expect(parseUdpFrame(u8, 0, u8.length, info), `IHL ${ihl}`).toBe(PARSE_OK);
      expect(info.ipHeaderLen).toBe(ihl * 4);
      expect(info.dstPort).toBe(9000);
      expect(info.payloadOff).toBe(14 + ihl * 4 + 8);
      expect([...u8.subarray(info.payloadOff, info.payloadOff + info.payloadLen)]).toEqual([0xaa, 0xbb, 0xcc]);
    }
  });

  it("writes a computed UDP checksum of 0 as 0xffff", () => {
    // Search a 2-byte payload that makes the true sum 0xffff (checksum field would be 0).
    const u8 = frameWith([0, 0]);
    const info = newUdpFrameInfo();
    let found = false;
    for (let v = 0; v < 0x10000 && !found; v++) {
      u8[42] = v >> 8;
      u8[43] = v & 0xff;
      buildUdpFrame(u8, 0, fields(), 2);
      if (((u8[40] << 8) | u8[41]) === 0xffff) {
        found = true;
        expect(parseUdpFrame(u8, 0, u8.length, info)).toBe(PARSE_OK);
      }
    }
    expect(found).toBe(true);
  });
});

describe("UDP frame drop reasons", () => {
  const cases: Array<[UdpDropName, () => [Uint8Array, number, number]]> = [
    ["bad_bounds", () => [frameWith([1]), 10, 40]],
    ["undersize", () => [frameWith([]), 0, 41]],
    [
      "not_ipv4",
      () => {
        const u8 = frameWith([1, 2]);
        u8[12] = 0x81; // 802.1Q tag
        u8[13] = 0x00;
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_version",
      () => {
        const u8 = frameWith([1, 2]);
        u8[14] = 0x65;
        fixChecksums(u8);
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_ihl",
      () => {
        const u8 = frameWith([1, 2]);
        u8[14] = 0x44;
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_ihl",
      () => {
        const u8 = frameWith([1, 2]); // IHL 15 = 60 bytes, more than the 30 the frame has after Ethernet
        u8[14] = 0x4f;
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_total_length",
      () => {
        const u8 = frameWith([1, 2]);
        u8[17] += 1; // one byte longer than the frame
        fixChecksums(u8, false);
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_total_length",
      () => {
        const u8 = frameWith([1, 2]);
        u8[16] = 0;
        u8[17] = 19; // shorter than the header
        fixChecksums(u8, false);
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_ip_checksum",
      () => {
        const u8 = frameWith([1, 2]);
        u8[25] ^= 1;
        return [u8, 0, u8.length];
      },
    ],
    [
      "fragment",
      () => {
        const u8 = frameWith([1, 2]);
        u8[20] = 0x20; // MF
        fixChecksums(u8);
        return [u8, 0, u8.length];
      },
    ],
    [
      "fragment",
      () => {
        const u8 = frameWith([1, 2]);
        u8[20] = 0x40;
        u8[21] = 0x01; // offset 8 bytes, DF kept
        fixChecksums(u8);
        return [u8, 0, u8.length];
      },
    ],
    [
      "not_udp",
      () => {
        const u8 = frameWith([1, 2]);
        u8[23] = 6;
        fixChecksums(u8, false);
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_udp_length",
      () => {
        const u8 = frameWith([1, 2]);
        u8[39] -= 1;
        fixChecksums(u8);
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_udp_length",
      () => {
        const u8 = frameWith([1, 2, 3, 4]); // IPv4 payload of 7 bytes: no room for a UDP header
        u8[16] = 0;
        u8[17] = 27;
        fixChecksums(u8, false);
        return [u8, 0, u8.length];
      },
    ],
    [
      "bad_udp_checksum",
      () => {
        const u8 = frameWith([1, 2]);
        u8[43] ^= 0x40;
        return [u8, 0, u8.length];
      },
    ],
  ];

  it.each(cases)("%s", (reason, make) => {
    const [u8, off, len] = make();
    const code = parseUdpFrame(u8, off, len, newUdpFrameInfo());
    expect(UDP_PARSE_RESULT_NAMES[code]).toBe(reason);
    expect(code).toBe(UdpDrop[reason]);
  });

  it("covers every named reason", () => {
    const covered = new Set(cases.map(([r]) => r));
    expect([...covered].sort()).toEqual(Object.keys(UdpDrop).sort());
  });

  it("refuses every truncation of a valid frame", () => {
    const u8 = frameWith([1, 2, 3, 4, 5, 6]);
    const info = newUdpFrameInfo();
    expect(parseUdpFrame(u8, 0, u8.length, info)).toBe(PARSE_OK);
    for (let len = 0; len < u8.length; len++) expect(parseUdpFrame(u8, 0, len, info)).not.toBe(PARSE_OK);
  });
});

describe("UDP frame properties", () => {
  const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
  it("build then parse returns the fields and payload for random inputs", () => {
    fc.assert(
      fc.property(
        mac,
        mac,
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0xffff }),
        fc.nat({ max: 0xffff }),
        fc.integer({ min: 1, max: 255 }),
        fc.uint8Array({ maxLength: 1500 }),
        fc.nat({ max: 64 }),
        (dstMac, srcMac, srcIp, dstIp, srcPort, dstPort, ttl, payload, off) => {
          const view = new Uint8Array(off + UDP_PAYLOAD_OFFSET + payload.length);
          view.set(payload, off + UDP_PAYLOAD_OFFSET);
          const f = fields({ dstMac, srcMac, srcIp, dstIp, srcPort, dstPort, ttl });
          const n = buildUdpFrame(view, off, f, payload.length);
          const info = newUdpFrameInfo();
          expect(parseUdpFrame(view, off, n, info)).toBe(PARSE_OK);
          expect(info).toMatchObject({ srcIp, dstIp, srcPort, dstPort, ttl, payloadLen: payload.length });
          expect([...view.subarray(info.dstMacOff, info.dstMacOff + 6)]).toEqual([...dstMac]);
          expect([...view.subarray(info.srcMacOff, info.srcMacOff + 6)]).toEqual([...srcMac]);
          expect(view.subarray(info.payloadOff, info.payloadOff + info.payloadLen)).toEqual(payload);
          expect((view[off + 40] << 8) | view[off + 41]).toBe(refUdpChecksum(view.subarray(off), 20));
        },
      ),
      { numRuns: 400 },
    );
  });

  it("detects any single flipped bit in the IPv4 header or UDP segment", () => {
    const base = frameWith([...Buffer.from("checksummed payload")]);
    const info = newUdpFrameInfo();
    fc.assert(
      fc.property(fc.integer({ min: 14, max: base.length - 1 }), fc.integer({ min: 0, max: 7 }), (byte, bit) => {
        const u8 = base.slice();
        u8[byte] ^= 1 << bit;
        expect(parseUdpFrame(u8, 0, u8.length, info)).not.toBe(PARSE_OK);
      }),
      { numRuns: 500 },
    );
  });
});
