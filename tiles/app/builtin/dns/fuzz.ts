// Fuzz target for the DNS responder (`tilenet fuzz dns`): the responder sees untrusted bytes. For
// any input it must return without throwing, and what it returns must be a well-formed DNS
// response (strict decoder: counts, names, pointers, lengths) to the same id, no larger than the
// size the query allowed. Half of the inputs get a plausible header first, so random bytes also
// reach the question and EDNS checks.
import type { FuzzRng } from "../../../../shared/fuzz/rng";
import type { FuzzTarget } from "../../../../shared/fuzz/types";
import { decodeMessage, encodeQuery } from "./decode";
import { Responder } from "./responder";
import { parseZone } from "./zone";

const ZONE = `$ORIGIN fuzz.test.
$TTL 60
@ SOA ns hostmaster 1 2 3 4 5
@ NS ns
ns A 198.18.0.1
www A 198.18.0.2
www AAAA 2001:2::2
a CNAME www
b CNAME a
loop1 CNAME loop2
loop2 CNAME loop1
mx MX 10 www
t TXT "${"x".repeat(200)}" "${"y".repeat(200)}" "${"z".repeat(200)}"
t TXT "${"w".repeat(200)}" "${"v".repeat(200)}" "${"u".repeat(200)}"
`;

const responder = new Responder(parseZone(new TextEncoder().encode(ZONE)));
const outcomes = new Map<string, number>();
let signature = 0;

function fail(what: string): never {
  throw new Error(`dns responder invariant broken: ${what}`);
}

function runOne(bytes: Uint8Array): void {
  const before = { ...responder.counters };
  const response = responder.answer(bytes, 0, bytes.length);
  const changed = Object.keys(before).filter(
    (k) => k !== "queries" && before[k as keyof typeof before] !== responder.counters[k as keyof typeof before],
  );
  const outcome = changed.join("+") || "none";
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  signature = hash(outcome);
  if (response === undefined) {
    if (outcome !== "dropped") fail(`no response, outcome ${outcome}`);
    return;
  }
  if (response.length > 1232) fail(`${response.length}-byte response`);
  let decoded: ReturnType<typeof decodeMessage>;
  try {
    decoded = decodeMessage(response);
  } catch (e) {
    fail(`malformed response (${(e as Error).message})`);
  }
  if (decoded.id !== (((bytes[0] ?? 0) << 8) | (bytes[1] ?? 0))) fail("response id differs from the query's");
  if ((decoded.flags & 0x8000) === 0) fail("response without QR");
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return h;
}

/** Makes the header look like a query (QR 0, opcode QUERY, one question, no answers). */
function fixup(bytes: Uint8Array, rng: FuzzRng): void {
  if (bytes.length < 12 || rng.u32() % 2 === 0) return;
  bytes[2] = (bytes[2] as number) & 0x07;
  bytes.set([0, 1, 0, 0, 0, 0], 4);
  bytes[11] = (bytes[11] as number) & 0x01;
}

function seeds(): Uint8Array[] {
  return [
    encodeQuery(1, "www.fuzz.test", 1),
    encodeQuery(2, "WWW.Fuzz.Test", 28, { udpSize: 4096 }),
    encodeQuery(3, "b.fuzz.test", 1, { udpSize: 512 }),
    encodeQuery(4, "loop1.fuzz.test", 1),
    encodeQuery(5, "t.fuzz.test", 16),
    encodeQuery(6, "nothing.fuzz.test", 15, { udpSize: 1232, ednsVersion: 1 }),
    encodeQuery(7, "example.org", 1),
    encodeQuery(8, "fuzz.test", 255, { udpSize: 1232 }),
  ];
}

export function createDnsFuzzTarget(): FuzzTarget {
  return {
    name: "dns",
    runOne,
    lastSignature: () => signature,
    fixup,
    seeds,
    corpusDir: "test/fuzz/corpus/dns",
    maxInputBytes: 1024,
    stats: () => Object.fromEntries(outcomes),
    resetStats: () => outcomes.clear(),
  };
}
