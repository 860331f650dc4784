import { describe, expect, it } from "vitest";
import { parseName } from "../tiles/app/builtin/dns/name";
import { parseIpv6, parseTtl, parseZone, TYPE, type Zone, ZoneError } from "../tiles/app/builtin/dns/zone";
import { EXAMPLE_ORIGIN, exampleZoneBytes } from "./support/dns-zone";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const HEAD = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n";

function setOf(zone: Zone, name: string, type: number) {
  return zone.names.get(parseName(name, undefined).key)?.get(type);
}

function zoneError(text: string, origin = "z.test."): ZoneError {
  try {
    parseZone(enc(text), origin);
  } catch (e) {
    if (e instanceof ZoneError) return e;
    throw e;
  }
  throw new Error("parsed without an error");
}

describe("zone parser", () => {
  it("reads the shipped example zone: every type, relative names, parentheses, comments, quoted strings", () => {
    const z = parseZone(exampleZoneBytes(), EXAMPLE_ORIGIN);
    expect(z.origin.toString()).toBe("example.test.");
    expect(z.soa.rdatas).toHaveLength(1);
    expect(setOf(z, "example.test.", TYPE.NS)?.rdatas.map((r) => String(r[0]))).toEqual([
      "ns1.example.test.",
      "ns2.example.test.",
    ]);
    expect(setOf(z, "www.example.test.", TYPE.A)?.rdatas.map((r) => [...(r[0] as Uint8Array)].join("."))).toEqual([
      "198.18.0.10",
      "198.18.0.11",
    ]);
    expect(setOf(z, "ns2.example.test.", TYPE.A)?.ttl).toBe(60);
    expect(setOf(z, "www.example.test.", TYPE.AAAA)?.ttl).toBe(3600);
    const txt = setOf(z, "txt.example.test.", TYPE.TXT)?.rdatas[0]?.[0] as Uint8Array;
    const strings = ["hello world", 'a "quoted" part', "semicolon;inside"];
    expect(String.fromCharCode(...txt)).toBe(strings.map((t) => String.fromCharCode(t.length) + t).join(""));
    expect(setOf(z, "mail2.example.test.", TYPE.AAAA)).toBeDefined();
    expect(setOf(z, "_dns._udp.example.test.", TYPE.SRV)).toBeDefined();
    // a.b.example.test. has no records but a name below it: an empty non-terminal.
    expect(z.names.get(parseName("a.b.example.test.", undefined).key)?.size).toBe(0);
    expect(z.names.has(parseName("nope.example.test.", undefined).key)).toBe(false);
  });

  it("takes the origin from $ORIGIN when settings give none, and TTL and class in either order", () => {
    const z = parseZone(enc(`$ORIGIN z.test.\n${HEAD}a IN 30 A 1.2.3.4\nb 40 IN A 1.2.3.5\nc 1h30m A 1.2.3.6\n`));
    expect(z.origin.toString()).toBe("z.test.");
    expect(setOf(z, "a.z.test.", TYPE.A)?.ttl).toBe(30);
    expect(setOf(z, "b.z.test.", TYPE.A)?.ttl).toBe(40);
    expect(setOf(z, "c.z.test.", TYPE.A)?.ttl).toBe(5400);
  });

  it("merges duplicate records and keeps the smallest TTL of an RRset", () => {
    const z = parseZone(enc(`${HEAD}a 30 A 1.2.3.4\na 20 A 1.2.3.4\na 50 A 1.2.3.5\n`), "z.test.");
    const set = setOf(z, "a.z.test.", TYPE.A);
    expect(set?.rdatas).toHaveLength(2);
    expect(set?.ttl).toBe(20);
  });

  it.each([
    ["a A 1.2.3.256", 4, /not an IPv4 address/],
    ["a AAAA 1::2::3", 4, /not an IPv6 address/],
    ["a MX mail", 4, /MX takes 2 fields/],
    ["a HINFO x y", 4, /record type "HINFO" is not supported/],
    ["a CH A 1.2.3.4", 4, /only IN/],
    ['a TXT "unterminated', 4, /quoted string/],
    [`a TXT "${"x".repeat(256)}"`, 4, /at most 255/],
    ["a A (1.2.3.4", 4, /not closed/],
    ["a A 1.2.3.4 )", 4, /without "\("/],
    ["$INCLUDE other.zone", 4, /\$INCLUDE is not supported/],
    ["$GENERATE 1-2 a A 1.2.3.4", 4, /unknown directive/],
    ["a.other.test. A 1.2.3.4", 4, /outside the zone/],
    ["sub NS ns.sub", 4, /delegations/],
    ["* A 1.2.3.4", 4, /wildcards/],
    ["a CNAME b\na A 1.2.3.4", 5, /CNAME must be alone/],
    ["a SOA ns h 1 2 3 4 5", 4, /only the apex/],
    [`${"x".repeat(64)} A 1.2.3.4`, 4, /label longer than 63/],
    ["a 99999999999 A 1.2.3.4", 4, /TTL/],
    ["a MX 70000 mail", 4, /MX preference/],
  ])("refuses %j with the line number", (line, lineNo, message) => {
    const e = zoneError(`${HEAD}${line}\n`);
    expect(e.line).toBe(lineNo);
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(new RegExp(`^zone line ${lineNo}: `));
  });

  it("refuses a zone without SOA or NS at the apex, or without any origin", () => {
    expect(() => parseZone(enc("$TTL 60\n@ NS ns\n"), "z.test.")).toThrow(/no SOA record/);
    expect(() => parseZone(enc("$TTL 60\n@ SOA ns h 1 2 3 4 5\n"), "z.test.")).toThrow(/no NS record/);
    expect(() => parseZone(enc("a.z.test. 60 A 1.2.3.4\n"))).toThrow(/no origin/);
    expect(() => parseZone(enc("@ 60 A 1.2.3.4\n"))).toThrow(/zone line 1: @ used before an origin/);
    expect(() => parseZone(enc("@ SOA ns h 1 2 3 4 5\n"), "z.test.")).toThrow(/zone line 1: no TTL/);
  });

  it("parses IPv6 forms and TTL units", () => {
    const hex = (s: string) => Buffer.from(parseIpv6(s)).toString("hex");
    expect(hex("::1")).toBe(`${"0".repeat(30)}01`);
    expect(hex("2001:2::10")).toBe("20010002000000000000000000000010");
    expect(hex("::ffff:198.18.0.1")).toBe("00000000000000000000ffffc6120001");
    expect(hex("1:2:3:4:5:6:7:8")).toBe("00010002000300040005000600070008");
    expect(() => parseIpv6("1:2:3:4:5:6:7")).toThrow();
    expect(() => parseIpv6("1:2:3:4:5:6:7:8::")).toThrow();
    expect(parseTtl("1w2d")).toBe(7 * 86400 + 2 * 86400);
    expect(() => parseTtl("1x")).toThrow(/bad TTL/);
  });
});
