// Every seed of the netlink, packet and dns fuzz targets replays through its parser without an
// exception, and the seeds are what they claim: well-formed input the parsers accept.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fuzzDecodeCounted } from "../shared/netlink/fuzz";
import { fuzzParse } from "../shared/packet/fuzz";
import { newUdpFrameInfo, parseUdpFrame } from "../shared/packet/udp-frame";
import { createDnsFuzzTarget } from "../tiles/app/builtin/dns/fuzz";

const corpus = (target: string): [string, Uint8Array][] => {
  const dir = join(__dirname, "fuzz", "corpus", target);
  return readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]);
};

describe("fuzz corpora of the parsers", () => {
  it.each(corpus("netlink"))("netlink seed %s decodes with no malformed message", (_name, bytes) => {
    const counters = fuzzDecodeCounted(bytes);
    const malformed = Object.entries(counters).filter(([k, v]) => k.startsWith("malformed_") && v > 0);
    expect(malformed).toEqual([]);
    expect(counters.messages).toBeGreaterThan(0);
  });

  it.each(corpus("packet"))("packet seed %s parses as a valid UDP frame", (_name, bytes) => {
    expect(() => fuzzParse(bytes)).not.toThrow();
    expect(parseUdpFrame(bytes, 0, bytes.length, newUdpFrameInfo())).toBe(0);
  });

  it.each(corpus("dns"))("dns seed %s runs through the responder with every check passing", (_name, bytes) => {
    const target = createDnsFuzzTarget();
    expect(() => target.runOne(bytes)).not.toThrow();
    expect(target.lastSignature?.()).toBeTruthy();
  });
});
