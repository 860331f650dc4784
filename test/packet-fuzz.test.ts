import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fuzzParse } from "../shared/packet/fuzz";
import { buildUdpFrame, newUdpFrameFields, UDP_PAYLOAD_OFFSET } from "../shared/packet/udp-frame";

function validFrame(payloadLen: number): Uint8Array {
  const u8 = new Uint8Array(UDP_PAYLOAD_OFFSET + payloadLen);
  const f = newUdpFrameFields();
  f.srcIp = 0xc6120001;
  f.dstIp = 0xc6120002;
  f.srcPort = 1234;
  f.dstPort = 9000;
  buildUdpFrame(u8, 0, f, payloadLen);
  return u8;
}

describe("packet fuzz target", () => {
  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        fuzzParse(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it("never throws on valid frames with random byte edits (reaches the deep checks)", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 300 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 8 }),
        (payloadLen, edits) => {
          const u8 = validFrame(payloadLen);
          for (const [at, value] of edits) u8[at % u8.length] = value;
          fuzzParse(u8);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("handles edge sizes: empty, one byte, exactly the headers, 64 KiB", () => {
    for (const size of [0, 1, 13, 14, 41, 42, 43, 65536 + 100])
      expect(() => fuzzParse(new Uint8Array(size))).not.toThrow();
    expect(() => fuzzParse(validFrame(0))).not.toThrow();
    expect(() => fuzzParse(validFrame(65000))).not.toThrow();
  });
});
