// A master-file (RFC 1035 section 5) zone parser: $ORIGIN, $TTL, "@", relative names, owner names
// carried over from the previous record (a line starting with a blank), TTL and class in either
// order, parentheses spanning lines, ";" comments, quoted strings with \X and \DDD escapes, TTL
// units (1h30m). Types: SOA NS A AAAA CNAME MX TXT PTR SRV. Every error names the line.
//
// Not supported, and refused with a clear error rather than served wrongly: $INCLUDE (an app reads
// no files), classes other than IN, wildcards, delegations (NS records below the apex), DNSSEC.
import { DnsName, keyOf, parseName, readEscape } from "./name";

export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 } as const;
export const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
export const CLASS_IN = 1;

/** Record data as written to the wire: raw bytes, and names that may be compressed. */
export type RdataPart = Uint8Array | DnsName;

/** All records of one owner and type (an RRset): one TTL, distinct data. */
export interface RRset {
  owner: DnsName;
  type: number;
  ttl: number;
  rdatas: RdataPart[][];
}

export class ZoneError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`zone line ${line}: ${message}`);
  }
}

export interface Zone {
  origin: DnsName;
  soa: RRset;
  /** Every name that exists, by lookup key: its RRsets by type (empty for empty non-terminals). */
  names: Map<string, Map<number, RRset>>;
  recordCount: number;
}

/** Upper bounds, so a hostile or mistaken file fails clearly instead of exhausting the tile. */
const MAX_RECORDS = 1_000_000;
const MAX_TOKENS_PER_RECORD = 512;
const MAX_TTL = 0x7fffffff;

interface Token {
  text: string;
  quoted: boolean;
}

interface Entry {
  line: number;
  /** The physical line started with a blank: the owner is the previous record's. */
  ownerOmitted: boolean;
  tokens: Token[];
}

/** Parses a zone file. `origin` (e.g. settings.origin) is the initial $ORIGIN. */
export function parseZone(bytes: Uint8Array, origin?: string): Zone {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
  let current: DnsName | undefined = origin === undefined ? undefined : parseName(absolute(origin), undefined);
  const zoneOrigin = current;
  let defaultTtl: number | undefined;
  let lastTtl: number | undefined;
  let lastOwner: DnsName | undefined;
  const records: { line: number; rrset: RRset }[] = [];
  for (const entry of entries(text)) {
    const at = (msg: string) => new ZoneError(entry.line, msg);
    try {
      const first = entry.tokens[0]?.text ?? "";
      if (!entry.ownerOmitted && first.startsWith("$")) {
        if (first === "$INCLUDE") throw at("$INCLUDE is not supported (an app reads no files): inline the records");
        if (first !== "$ORIGIN" && first !== "$TTL") throw at(`unknown directive ${first} ($ORIGIN and $TTL are)`);
        const arg = entry.tokens[1]?.text;
        if (arg === undefined || entry.tokens.length > 2) throw at(`${first} takes exactly one argument`);
        if (first === "$ORIGIN") current = parseName(arg, current);
        else defaultTtl = parseTtl(arg);
        continue;
      }
      const tokens = entry.tokens.slice();
      let owner = lastOwner;
      if (!entry.ownerOmitted) owner = parseName(tokens.shift()?.text ?? "", current);
      if (!owner) throw at("a record without an owner name (the first record must name its owner)");
      lastOwner = owner;
      const rr = parseRecordTail(owner, tokens, current, defaultTtl ?? lastTtl);
      if (!rr) throw at("no TTL: add $TTL or a TTL on the record");
      lastTtl = rr.explicitTtl ?? lastTtl;
      records.push({ line: entry.line, rrset: rr.rrset });
      if (records.length > MAX_RECORDS) throw at(`more than ${MAX_RECORDS} records`);
    } catch (e) {
      if (e instanceof ZoneError) throw e;
      throw at((e as Error).message);
    }
  }
  const o = zoneOrigin ?? records.find((r) => r.rrset.type === TYPE.SOA)?.rrset.owner;
  if (!o) throw new ZoneError(0, "no origin: give settings.origin, or a $ORIGIN and an SOA record");
  return buildZone(o, records);
}

function absolute(name: string): string {
  return name.endsWith(".") ? name : `${name}.`;
}

/** Splits the text into entries (logical lines: parentheses join physical lines), each with tokens. */
function* entries(text: string): Generator<Entry> {
  let line = 1;
  let depth = 0;
  let openedAt = 0;
  let entry: Entry | undefined;
  let i = 0;
  const fail = (msg: string): never => {
    throw new ZoneError(line, msg);
  };
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "\n") {
      line++;
      i++;
      if (depth === 0 && entry) {
        if (entry.tokens.length > 0) yield entry;
        entry = undefined;
      }
      continue;
    }
    if (!entry) entry = { line, ownerOmitted: c === " " || c === "\t", tokens: [] };
    if (c === " " || c === "\t" || c === "\r") i++;
    else if (c === ";") while (i < text.length && text[i] !== "\n") i++;
    else if (c === "(") {
      if (++depth > 1) fail("nested parentheses");
      openedAt = line;
      i++;
    } else if (c === ")") {
      if (--depth < 0) fail('")" without "("');
      i++;
    } else {
      const { token, next } = c === '"' ? readQuoted(text, i, fail) : readWord(text, i);
      entry.tokens.push(token);
      if (entry.tokens.length > MAX_TOKENS_PER_RECORD) fail(`more than ${MAX_TOKENS_PER_RECORD} words in one record`);
      i = next;
    }
  }
  if (depth !== 0) throw new ZoneError(openedAt, '"(" is not closed by the end of the file');
  if (entry && entry.tokens.length > 0) yield entry;
}

function readWord(text: string, at: number): { token: Token; next: number } {
  let i = at;
  while (i < text.length && !' \t\r\n;()"'.includes(text[i] as string)) i += text[i] === "\\" ? 2 : 1;
  return { token: { text: text.slice(at, Math.min(i, text.length)), quoted: false }, next: i };
}

/** A quoted string: its text keeps the escapes (decoded by characterString), without the quotes. */
function readQuoted(text: string, at: number, fail: (m: string) => never): { token: Token; next: number } {
  let i = at + 1;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === "\n") fail("a quoted string does not end on its line");
    i += text[i] === "\\" ? 2 : 1;
  }
  if (i >= text.length) fail("a quoted string is not closed");
  return { token: { text: text.slice(at + 1, i), quoted: true }, next: i + 1 };
}

/** "3600", "1h", "1h30m", "2w" -> seconds. */
export function parseTtl(text: string): number {
  if (/^\d+$/.test(text)) return checkTtl(Number(text), text);
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  if (!/^(\d+[smhdw])+$/i.test(text)) throw new Error(`bad TTL ${JSON.stringify(text)} (seconds, or units s m h d w)`);
  let total = 0;
  for (const [, n, u] of text.toLowerCase().matchAll(/(\d+)([smhdw])/g)) total += Number(n) * (units[u as string] ?? 0);
  return checkTtl(total, text);
}

function checkTtl(n: number, text: string): number {
  if (!Number.isSafeInteger(n) || n > MAX_TTL) throw new Error(`TTL ${text} is above ${MAX_TTL}`);
  return n;
}

/** [TTL] [class] type rdata..., TTL and class in either order. */
function parseRecordTail(
  owner: DnsName,
  tokens: Token[],
  origin: DnsName | undefined,
  fallbackTtl: number | undefined,
): { rrset: RRset; explicitTtl?: number } | undefined {
  let explicitTtl: number | undefined;
  for (let k = 0; k < 2; k++) {
    const t = tokens[0]?.text ?? "";
    if (/^\d/.test(t) && explicitTtl === undefined) explicitTtl = parseTtl(t);
    else if (/^(IN|CH|HS|CS)$/i.test(t)) {
      if (t.toUpperCase() !== "IN") throw new Error(`class ${t}: only IN is served`);
    } else break;
    tokens.shift();
  }
  const typeText = (tokens.shift()?.text ?? "").toUpperCase();
  const type = (TYPE as Record<string, number>)[typeText];
  if (type === undefined)
    throw new Error(`record type ${JSON.stringify(typeText)} is not supported (${Object.keys(TYPE).join(" ")})`);
  const ttl = explicitTtl ?? fallbackTtl;
  if (ttl === undefined) return undefined;
  const rdata = parseRdata(type, tokens, origin);
  return { rrset: { owner, type, ttl, rdatas: [rdata] }, explicitTtl };
}

function parseRdata(type: number, tokens: Token[], origin: DnsName | undefined): RdataPart[] {
  const words = tokens.map((t) => t.text);
  const want = (n: number): string[] => {
    if (words.length !== n)
      throw new Error(`${TYPE_NAMES[type]} takes ${n} field${n === 1 ? "" : "s"}, got ${words.length}`);
    return words;
  };
  const name = (w: string): DnsName => parseName(w, origin);
  switch (type) {
    case TYPE.A:
      return [parseIpv4(want(1)[0] as string)];
    case TYPE.AAAA:
      return [parseIpv6(want(1)[0] as string)];
    case TYPE.NS:
    case TYPE.CNAME:
    case TYPE.PTR:
      return [name(want(1)[0] as string)];
    case TYPE.MX: {
      const [pref, host] = want(2) as [string, string];
      return [u16(pref, "MX preference"), name(host)];
    }
    case TYPE.SRV: {
      const [prio, weight, port, target] = want(4) as [string, string, string, string];
      // RFC 2782: the SRV target is never compressed, so it is written as plain bytes.
      return [u16(prio, "priority"), u16(weight, "weight"), u16(port, "port"), name(target).wire];
    }
    case TYPE.SOA: {
      const [mname, rname, serial, ...times] = want(7) as string[];
      const nums = new Uint8Array(20);
      const view = new DataView(nums.buffer);
      view.setUint32(0, u32(serial as string, "serial"));
      times.forEach((t, i) => {
        view.setUint32(4 + 4 * i, parseTtl(t));
      });
      return [name(mname as string), name(rname as string), nums];
    }
    case TYPE.TXT:
      if (tokens.length === 0) throw new Error("TXT needs at least one string");
      return [Uint8Array.from(tokens.flatMap((t) => characterString(t.text)))];
    default:
      throw new Error(`type ${type} has no parser`);
  }
}

/** One <character-string>: a length byte then at most 255 bytes (escapes decoded). */
function characterString(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === "\\") {
      const { byte, next } = readEscape(text, i);
      out.push(byte);
      i = next;
    } else out.push(text.charCodeAt(i++));
  }
  if (out.length > 255) throw new Error(`a TXT string of ${out.length} bytes (at most 255: split it into several)`);
  return [out.length, ...out];
}

function u16(text: string, what: string): Uint8Array {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 0xffff) throw new Error(`${what} ${JSON.stringify(text)} is not 0..65535`);
  return Uint8Array.of(n >> 8, n & 0xff);
}

function u32(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 0xffffffff) throw new Error(`${what} ${JSON.stringify(text)} is not 0..4294967295`);
  return n;
}

export function parseIpv4(text: string): Uint8Array {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  const parts = m ? m.slice(1).map(Number) : [];
  if (parts.length !== 4 || parts.some((p) => p > 255))
    throw new Error(`${JSON.stringify(text)} is not an IPv4 address`);
  return Uint8Array.from(parts);
}

export function parseIpv6(text: string): Uint8Array {
  const bad = (): never => {
    throw new Error(`${JSON.stringify(text)} is not an IPv6 address`);
  };
  let groups = text;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = parseIpv4(v4[1] as string);
    tail.push(((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0));
    groups = text.slice(0, v4.index);
    if (!groups.endsWith("::")) groups = groups.endsWith(":") ? groups.slice(0, -1) : bad();
  }
  const halves = groups.split("::");
  if (halves.length > 2) bad();
  const hex = (s: string): number[] =>
    s === "" ? [] : s.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? Number.parseInt(g, 16) : bad()));
  const head = hex(halves[0] as string);
  const rest = halves.length === 2 ? hex(halves[1] as string) : [];
  const zeros = 8 - head.length - rest.length - tail.length;
  if ((halves.length === 2 && zeros < 1) || (halves.length === 1 && zeros !== 0)) bad();
  const all = [...head, ...new Array<number>(halves.length === 2 ? zeros : 0).fill(0), ...rest, ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Groups records into RRsets by name, checks the zone's rules, adds empty non-terminals. */
function buildZone(origin: DnsName, records: { line: number; rrset: RRset }[]): Zone {
  const names = new Map<string, Map<number, RRset>>();
  let soa: RRset | undefined;
  for (const { line, rrset } of records) {
    const { owner, type } = rrset;
    const fail = (msg: string): never => {
      throw new ZoneError(line, msg);
    };
    if (!owner.isAtOrBelow(origin)) fail(`${owner} is outside the zone ${origin}`);
    if (owner.wire[0] === 1 && owner.wire[1] === 0x2a) fail(`${owner}: wildcards are not supported`);
    const atApex = owner.key === origin.key;
    if (type === TYPE.SOA && !atApex) fail(`SOA at ${owner}: only the apex ${origin} has one`);
    if (type === TYPE.NS && !atApex) fail(`NS at ${owner}: delegations (NS below the apex) are not supported`);
    const node = names.get(owner.key) ?? new Map<number, RRset>();
    names.set(owner.key, node);
    const set = node.get(type);
    if (!set) node.set(type, rrset);
    else mergeInto(set, rrset, fail);
    if ((node.has(TYPE.CNAME) && node.size > 1) || (node.get(TYPE.CNAME)?.rdatas.length ?? 0) > 1)
      fail(`${owner} has a CNAME and other data (or two CNAMEs): a CNAME must be alone at its name`);
    if (type === TYPE.SOA) soa = node.get(TYPE.SOA);
  }
  if (!soa) throw new ZoneError(0, `no SOA record at the apex ${origin}`);
  if (soa.rdatas.length !== 1) throw new ZoneError(0, `${soa.rdatas.length} SOA records at ${origin}: exactly one`);
  if (!names.get(origin.key)?.has(TYPE.NS)) throw new ZoneError(0, `no NS record at the apex ${origin}`);
  addEmptyNonTerminals(origin, names);
  return { origin, soa, names, recordCount: records.length };
}

function mergeInto(set: RRset, rr: RRset, fail: (m: string) => never): void {
  const data = rr.rdatas[0] as RdataPart[];
  if (set.rdatas.length >= 4096) fail(`more than 4096 ${TYPE_NAMES[set.type]} records at ${set.owner}`);
  // RFC 2181 5.2: one TTL per RRset; the smallest given wins.
  set.ttl = Math.min(set.ttl, rr.ttl);
  const same = (a: RdataPart[]) => rdataKey(a) === rdataKey(data);
  if (!set.rdatas.some(same)) set.rdatas.push(data);
}

function rdataKey(parts: RdataPart[]): string {
  return parts.map((p) => (p instanceof DnsName ? `n${p.key}` : `b${keyOf(p, 0, p.length)}`)).join("|");
}

/** A name with no records but names below it exists (NODATA, not NXDOMAIN: RFC 8020). */
function addEmptyNonTerminals(origin: DnsName, names: Map<string, Map<number, RRset>>): void {
  for (const key of [...names.keys()]) {
    for (let at = 0; at < key.length - origin.key.length; ) {
      at += key.charCodeAt(at) + 1;
      const ancestor = key.slice(at);
      if (!names.has(ancestor)) names.set(ancestor, new Map());
    }
  }
}
