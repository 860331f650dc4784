import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type DecodedMessage, decodeMessage, encodeQuery } from "../tiles/app/builtin/dns/decode";
import { createDnsFuzzTarget } from "../tiles/app/builtin/dns/fuzz";
import { Responder } from "../tiles/app/builtin/dns/responder";
import { parseZone } from "../tiles/app/builtin/dns/zone";
import { EXAMPLE_ORIGIN, exampleZoneBytes } from "./support/dns-zone";

const A = 1;
const NS = 2;
const CNAME = 5;
const SOA = 6;
const MX = 15;
const TXT = 16;
const AAAA = 28;
const FORMERR = 1;
const NXDOMAIN = 3;
const NOTIMP = 4;
const REFUSED = 5;
const TC = 0x0200;
const AA = 0x0400;

function newResponder(): Responder {
  return new Responder(parseZone(exampleZoneBytes(), EXAMPLE_ORIGIN));
}

function ask(r: Responder, q: Uint8Array): DecodedMessage {
  const out = r.answer(q, 0, q.length);
  if (!out) throw new Error("no response");
  return decodeMessage(out);
}

const texts = (m: DecodedMessage, section: "answer" | "authority" = "answer") =>
  m[section].map((rr) => `${rr.name} ${rr.type} ${rr.text}`);

describe("DNS responder on the example zone", () => {
  const r = newResponder();

  it("answers every record type authoritatively", () => {
    const cases: [string, number, string[]][] = [
      ["www.example.test", A, ["www.example.test. 1 198.18.0.10", "www.example.test. 1 198.18.0.11"]],
      ["example.test", NS, ["example.test. 2 ns1.example.test.", "example.test. 2 ns2.example.test."]],
      ["example.test", MX, ["example.test. 15 10 mail.example.test.", "example.test. 15 20 mail2.example.test."]],
      ["example.test", TXT, ["example.test. 16 v=spf1 mx -all"]],
      ["txt.example.test", TXT, ['txt.example.test. 16 hello world|a "quoted" part|semicolon;inside']],
      ["alias.example.test", CNAME, ["alias.example.test. 5 www.example.test."]],
    ];
    for (const [name, type, want] of cases) {
      const m = ask(r, encodeQuery(7, name, type));
      expect(m.rcode).toBe(0);
      expect(m.flags & AA).toBe(AA);
      expect(m.id).toBe(7);
      expect(texts(m)).toEqual(want);
    }
    const aaaa = ask(r, encodeQuery(8, "www.example.test", AAAA)).answer[0];
    expect(Buffer.from(aaaa?.data ?? []).toString("hex")).toBe("20010002000000000000000000000010");
    const soa = ask(r, encodeQuery(9, "example.test", SOA)).answer;
    expect(soa).toHaveLength(1);
    expect(soa[0]?.ttl).toBe(3600);
  });

  it("chases CNAMEs within the zone and stops at names outside it", () => {
    expect(texts(ask(r, encodeQuery(1, "alias2.example.test", A)))).toEqual([
      "alias2.example.test. 5 alias.example.test.",
      "alias.example.test. 5 www.example.test.",
      "www.example.test. 1 198.18.0.10",
      "www.example.test. 1 198.18.0.11",
    ]);
    expect(texts(ask(r, encodeQuery(2, "outside.example.test", A)))).toEqual([
      "outside.example.test. 5 www.example.org.",
    ]);
    const dangling = ask(r, encodeQuery(3, "dangling.example.test", A));
    expect(dangling.rcode).toBe(NXDOMAIN); // RFC 6604: the rcode of the last name in the chain
    expect(texts(dangling)).toEqual(["dangling.example.test. 5 nothing-here.example.test."]);
    expect(dangling.authority.map((rr) => rr.type)).toEqual([SOA]);
  });

  it("NXDOMAIN and NODATA carry the SOA in authority with the negative TTL", () => {
    const nx = ask(r, encodeQuery(1, "nope.example.test", A));
    expect(nx.rcode).toBe(NXDOMAIN);
    expect(nx.answer).toHaveLength(0);
    expect(nx.authority.map((rr) => [rr.name, rr.type, rr.ttl])).toEqual([["example.test.", SOA, 300]]);
    const nodata = ask(r, encodeQuery(2, "www.example.test", MX));
    expect(nodata.rcode).toBe(0);
    expect(nodata.answer).toHaveLength(0);
    expect(nodata.authority.map((rr) => rr.type)).toEqual([SOA]);
    const ent = ask(r, encodeQuery(3, "a.b.example.test", A)); // empty non-terminal: NODATA
    expect(ent.rcode).toBe(0);
    expect(ent.authority.map((rr) => rr.type)).toEqual([SOA]);
  });

  it("matches names case-insensitively and echoes the query's spelling", () => {
    const m = ask(r, encodeQuery(1, "WwW.ExAmPlE.TeSt", A));
    expect(m.question[0]?.name).toBe("WwW.ExAmPlE.TeSt.");
    expect(m.answer.map((rr) => rr.name)).toEqual(["WwW.ExAmPlE.TeSt.", "WwW.ExAmPlE.TeSt."]);
  });

  it("reuses a built answer only for the same question, with the query's id, RD bit and spelling", () => {
    const c = newResponder();
    const first = ask(c, encodeQuery(1, "www.example.test", A));
    const again = ask(c, encodeQuery(2, "WWW.example.TEST", A, { rd: true }));
    expect(again.id).toBe(2);
    expect(again.flags & 0x0100).toBe(0x0100);
    expect(first.flags & 0x0100).toBe(0);
    expect(again.question[0]?.name).toBe("WWW.example.TEST.");
    expect(again.answer.map((rr) => rr.name)).toEqual(["WWW.example.TEST.", "WWW.example.TEST."]);
    expect(texts(ask(c, encodeQuery(3, "www.example.test", AAAA)))).toHaveLength(1); // another type
    expect(ask(c, encodeQuery(4, "big.example.test", TXT)).flags & TC).toBe(TC);
    expect(ask(c, encodeQuery(5, "big.example.test", TXT, { udpSize: 1232 })).flags & TC).toBe(0); // another limit
    expect(ask(c, encodeQuery(6, "big.example.test", TXT)).flags & TC).toBe(TC);
    expect(c.counters).toMatchObject({ queries: 6, noerror: 6, truncated: 2 });
  });

  it("compresses names: each answer's owner is a pointer to the question", () => {
    const q = encodeQuery(1, "www.example.test", A);
    const out = r.answer(q, 0, q.length) as Uint8Array;
    // header 12 + question (18 + 4) + 2 x (pointer 2 + 10 + 4)
    expect(out.length).toBe(12 + 22 + 2 * 16);
    expect([out[34], out[35]]).toEqual([0xc0, 12]);
  });

  it("refuses names outside the zone, other classes and zone transfers; NOTIMP for other opcodes", () => {
    for (const name of ["example.org", "test", "notexample.test", "xexample.test"]) {
      const m = ask(r, encodeQuery(1, name, A));
      expect(m.rcode, name).toBe(REFUSED);
      expect(m.flags & AA).toBe(0);
    }
    expect(ask(r, encodeQuery(2, "example.test", 252)).rcode).toBe(REFUSED);
    const chaos = encodeQuery(3, "www.example.test", A);
    chaos[chaos.length - 1] = 3;
    expect(ask(r, chaos).rcode).toBe(REFUSED);
    for (const opcode of [1, 2, 4, 5, 15])
      expect(ask(r, encodeQuery(4, "example.test", A, { opcode })).rcode).toBe(NOTIMP);
  });

  it("EDNS(0): an OPT in the response with our UDP size; BADVERS for version 1", () => {
    const m = ask(r, encodeQuery(1, "www.example.test", A, { udpSize: 4096 }));
    expect(m.additional.map((rr) => [rr.name, rr.type, rr.class])).toEqual([[".", 41, 1232]]);
    const plain = ask(r, encodeQuery(2, "www.example.test", A));
    expect(plain.additional).toHaveLength(0);
    const bad = ask(r, encodeQuery(3, "www.example.test", A, { udpSize: 1232, ednsVersion: 1 }));
    expect(bad.rcode).toBe(0);
    expect(bad.additional[0]?.ttl).toBe(1 << 24); // extended rcode 1 (<< 4) = BADVERS (16)
  });

  it("truncates with TC=1 when the answer does not fit: 512 without EDNS, the client's size with it", () => {
    const small = r.answer(encodeQuery(1, "big.example.test", TXT), 0, 34) as Uint8Array;
    const noEdns = decodeMessage(small);
    expect(noEdns.flags & TC).toBe(TC);
    expect(noEdns.answer).toHaveLength(0);
    expect(noEdns.question[0]?.name).toBe("big.example.test.");
    const q = encodeQuery(2, "big.example.test", TXT, { udpSize: 1232 });
    const withEdns = decodeMessage(r.answer(q, 0, q.length) as Uint8Array);
    expect(withEdns.flags & TC).toBe(0);
    expect(withEdns.answer).toHaveLength(8);
    const q2 = encodeQuery(3, "big.example.test", TXT, { udpSize: 600 });
    const out = r.answer(q2, 0, q2.length) as Uint8Array;
    expect(out.length).toBeLessThanOrEqual(600);
    expect(decodeMessage(out).flags & TC).toBe(TC);
    expect(decodeMessage(out).additional).toHaveLength(1);
  });
});

describe("DNS responder on hostile bytes", () => {
  it.each([
    ["empty", [], "drop"],
    ["11 bytes", new Array(11).fill(0), "drop"],
    ["a response (QR set)", [0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0], "drop"],
    ["no question", [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "formerr"],
    ["two questions", [0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1], "formerr"],
    ["answers in a query", [0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1], "formerr"],
    ["question cut short", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77], "formerr"],
    ["no type and class", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1], "formerr"],
    ["a pointer in the question", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 1, 0, 1], "formerr"],
    ["label type 01", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0, 0, 1, 0, 1], "formerr"],
    ["trailing bytes", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 9], "formerr"],
    ["an OPT cut short", [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 41, 4], "formerr"],
    [
      "two OPTs",
      [
        0,
        1,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        2,
        0,
        0,
        1,
        0,
        1,
        ...[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0],
        ...[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0],
      ],
      "formerr",
    ],
    [
      "an OPT option overrunning",
      [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 5, 0, 10, 0, 9, 1],
      "formerr",
    ],
    [
      "an additional pointer loop",
      [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0xc0, 17, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0],
      "formerr",
    ],
  ])("%s: %s", (_what, bytes, expected) => {
    const r = newResponder();
    const q = Uint8Array.from(bytes as number[]);
    const out = r.answer(q, 0, q.length);
    if (expected === "drop") {
      expect(out).toBeUndefined();
      expect(r.counters.dropped).toBe(1);
    } else {
      expect(decodeMessage(out as Uint8Array).rcode).toBe(FORMERR);
      expect(r.counters.formerr).toBe(1);
    }
  });

  it("a name of 256 bytes is FORMERR, one of 255 is answered", () => {
    const r = newResponder();
    const name = (bytes: number) => {
      const labels: string[] = [];
      let left = bytes - 1;
      while (left > 0) {
        const n = Math.min(63, left - 1);
        labels.push("a".repeat(n));
        left -= n + 1;
      }
      return labels.join(".");
    };
    expect(ask(r, encodeQuery(1, name(255), A)).rcode).toBe(REFUSED);
    expect(ask(r, encodeQuery(1, name(256), A)).rcode).toBe(FORMERR);
  });

  it("a flood of random and mutated queries: every one answered well-formed or dropped, valid ones keep their answers", () => {
    const r = newResponder();
    const valid = encodeQuery(42, "www.example.test", A, { udpSize: 1232 });
    const expected = Buffer.from(r.answer(valid, 0, valid.length) as Uint8Array).toString("hex");
    let sent = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 }))),
        (junk, edits) => {
          const mutated = Uint8Array.from(valid);
          for (const [at, v] of edits) mutated[at % mutated.length] = v;
          for (const q of [junk, mutated]) {
            sent++;
            const out = r.answer(q, 0, q.length);
            if (out) expect(() => decodeMessage(out)).not.toThrow();
          }
          expect(Buffer.from(r.answer(valid, 0, valid.length) as Uint8Array).toString("hex")).toBe(expected);
        },
      ),
      { numRuns: 2000, seed: 18 },
    );
    const c = r.counters;
    const answered = c.noerror + c.nodata + c.nxdomain + c.refused + c.formerr + c.notimp + c.badvers;
    expect(answered + c.dropped).toBe(c.queries);
    expect(c.queries).toBe(sent + 2001);
  });

  it("the fuzz target (tilenet fuzz dns) holds for its seeds and random inputs", () => {
    const t = createDnsFuzzTarget();
    for (const s of t.seeds?.() ?? []) t.runOne(s);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), (b) => t.runOne(b)),
      { numRuns: 3000 },
    );
  });
});
