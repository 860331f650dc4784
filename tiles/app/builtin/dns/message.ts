// The DNS wire format as the responder needs it: a query parser that reads untrusted bytes with a
// bound on everything (it never throws; it says "drop" or "formerr"), and a response writer with
// name compression (RFC 1035 4.1.4) that stops at a size limit instead of overrunning.
import type { DnsName } from "./name";
import { keyOf, MAX_LABEL_BYTES, MAX_NAME_BYTES } from "./name";
import { CLASS_IN, type RRset } from "./zone";

export const HEADER_BYTES = 12;
export const TYPE_OPT = 41;
/** Flag bits of the header's second 16-bit word. */
export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100 } as const;
export const OPCODE_QUERY = 0;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
/** More additional records than this in a query is not a query we serve (an OPT, maybe a TSIG). */
const MAX_QUERY_ADDITIONAL = 4;
/** Compression pointers followed in one name before it is called malformed. */
const MAX_POINTER_HOPS = 16;

/** What parseQuery found. One object is reused for every query (parsing allocates nothing). */
export interface Query {
  id: number;
  /** The header's flag word as received. */
  flags: number;
  opcode: number;
  /** The question name's bytes in the message: [qnameStart, qnameEnd), root label included. */
  qnameStart: number;
  qnameEnd: number;
  /** FNV-1a hash of the question name's bytes, ASCII lower-cased (a cache key). */
  qnameHash: number;
  /** The question name's lookup key (see DnsName.keys): not set by parseQuery (it allocates a
   *  string), set with questionKey() by whoever needs it. */
  qnameKey: string;
  qtype: number;
  qclass: number;
  /** An OPT record was present (EDNS), with its fields. */
  edns: boolean;
  udpSize: number;
  ednsVersion: number;
  dnssecOk: boolean;
}

export function newQuery(): Query {
  return {
    id: 0,
    flags: 0,
    opcode: 0,
    qnameStart: 0,
    qnameEnd: 0,
    qnameHash: 0,
    qnameKey: "",
    qtype: 0,
    qclass: 0,
    edns: false,
    udpSize: 0,
    ednsVersion: 0,
    dnssecOk: false,
  };
}

/**
 * "ok": a query to answer (look at opcode first: other opcodes are only parsed up to the header).
 * "formerr": the header is readable (id, opcode) but the rest is malformed: answer FORMERR.
 * "drop": not a query at all (shorter than a header, or a response): no answer.
 */
export type ParseOutcome = "ok" | "formerr" | "drop";

export function parseQuery(msg: Uint8Array, start: number, length: number, q: Query): ParseOutcome {
  const end = start + length;
  if (length < HEADER_BYTES || end > msg.length) return "drop";
  const u16 = (at: number): number => ((msg[at] as number) << 8) | (msg[at + 1] as number);
  q.id = u16(start);
  q.flags = u16(start + 2);
  q.opcode = (q.flags >> 11) & 0xf;
  q.edns = false;
  if ((q.flags & FLAG.QR) !== 0) return "drop"; // never answer a response (no reflection loops)
  if (q.opcode !== OPCODE_QUERY) return "ok";
  const qdcount = u16(start + 4);
  const ancount = u16(start + 6);
  const nscount = u16(start + 8);
  const arcount = u16(start + 10);
  if (qdcount !== 1 || ancount !== 0 || nscount !== 0 || arcount > MAX_QUERY_ADDITIONAL) return "formerr";
  // The question name: plain labels only (a pointer could only point back into the header).
  let at = start + HEADER_BYTES;
  q.qnameStart = at;
  let hash = 0x811c9dc5;
  for (;;) {
    if (at >= end) return "formerr";
    const len = msg[at] as number;
    if (len === 0) break;
    if (len > MAX_LABEL_BYTES || at + 1 + len >= end) return "formerr";
    hash = Math.imul(hash ^ len, 0x01000193);
    for (let i = at + 1; i <= at + len; i++) {
      const b = msg[i] as number;
      hash = Math.imul(hash ^ (b >= 65 && b <= 90 ? b + 32 : b), 0x01000193);
    }
    at += 1 + len;
    if (at + 1 - q.qnameStart > MAX_NAME_BYTES) return "formerr";
  }
  q.qnameEnd = at + 1;
  q.qnameHash = hash >>> 0;
  q.qnameKey = "";
  if (q.qnameEnd + 4 > end) return "formerr";
  q.qtype = u16(q.qnameEnd);
  q.qclass = u16(q.qnameEnd + 2);
  return parseAdditional(msg, start, q.qnameEnd + 4, end, arcount, q);
}

/** Sets q.qnameKey from the question's bytes (see DnsName.keys) and returns it. */
export function questionKey(msg: Uint8Array, q: Query): string {
  q.qnameKey = keyOf(msg, q.qnameStart, q.qnameEnd - 1);
  return q.qnameKey;
}

/** The additional section: at most one OPT (owner: the root), other records skipped; nothing may follow. */
function parseAdditional(
  msg: Uint8Array,
  start: number,
  from: number,
  end: number,
  count: number,
  q: Query,
): ParseOutcome {
  let at = from;
  for (let n = 0; n < count; n++) {
    const nameEnd = skipName(msg, start, at, end);
    if (nameEnd < 0 || nameEnd + 10 > end) return "formerr";
    const type = (msg[nameEnd] as number) * 256 + (msg[nameEnd + 1] as number);
    const rdlength = (msg[nameEnd + 8] as number) * 256 + (msg[nameEnd + 9] as number);
    const rdata = nameEnd + 10;
    if (rdata + rdlength > end) return "formerr";
    if (type === TYPE_OPT) {
      if (q.edns || nameEnd !== at + 1 || msg[at] !== 0) return "formerr"; // RFC 6891 6.1.1
      if (!optionsWellFormed(msg, rdata, rdata + rdlength)) return "formerr";
      q.edns = true;
      q.udpSize = (msg[nameEnd + 2] as number) * 256 + (msg[nameEnd + 3] as number);
      q.ednsVersion = msg[nameEnd + 5] as number;
      q.dnssecOk = ((msg[nameEnd + 6] as number) & 0x80) !== 0;
    }
    at = rdata + rdlength;
  }
  return at === end ? "ok" : "formerr";
}

/** EDNS options are {code, length, data} triples that must exactly fill the OPT's data. */
function optionsWellFormed(msg: Uint8Array, from: number, end: number): boolean {
  let at = from;
  while (at < end) {
    if (at + 4 > end) return false;
    at += 4 + (msg[at + 2] as number) * 256 + (msg[at + 3] as number);
  }
  return at === end;
}

/** Returns where the name at `at` ends in the message (after a pointer, if any), or -1 if malformed. */
function skipName(msg: Uint8Array, start: number, at: number, end: number): number {
  let pos = at;
  let after = -1;
  let total = 0;
  for (let hops = 0; ; ) {
    if (pos >= end) return -1;
    const len = msg[pos] as number;
    if (len === 0) return after < 0 ? pos + 1 : after;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= end || ++hops > MAX_POINTER_HOPS) return -1;
      const target = start + ((len & 0x3f) << 8) + (msg[pos + 1] as number);
      if (after < 0) after = pos + 2;
      if (target >= pos) return -1; // pointers only go backwards
      pos = target;
      continue;
    }
    if (len > MAX_LABEL_BYTES) return -1; // 0x40 and 0x80 label types are not defined
    total += len + 1;
    if (total + 1 > MAX_NAME_BYTES) return -1;
    pos += len + 1;
  }
}

/**
 * Writes a response into `buf` up to `limit` bytes. When something does not fit, `overflow` turns
 * true and later writes do nothing: the caller then answers with TC=1 instead.
 */
export class ResponseWriter {
  pos = 0;
  limit = 0;
  overflow = false;
  /** Lookup key of each name suffix written so far -> its offset (compression targets). */
  private readonly written = new Map<string, number>();

  constructor(readonly buf: Uint8Array) {}

  reset(limit: number): void {
    this.pos = 0;
    this.limit = Math.min(limit, this.buf.length);
    this.overflow = false;
    this.written.clear();
  }

  private room(n: number): boolean {
    if (this.pos + n <= this.limit) return true;
    this.overflow = true;
    return false;
  }

  u16(v: number): void {
    if (!this.room(2)) return;
    this.buf[this.pos++] = v >> 8;
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }

  bytes(src: Uint8Array, from = 0, to = src.length): void {
    if (!this.room(to - from)) return;
    this.buf.set(src.subarray(from, to), this.pos);
    this.pos += to - from;
  }

  /** The header: id, flags, then the four section counts (patched with setCount later). */
  header(id: number, flags: number): void {
    this.u16(id);
    this.u16(flags);
    for (let i = 0; i < 4; i++) this.u16(0);
  }

  setCount(section: 0 | 1 | 2 | 3, n: number): void {
    this.buf[4 + 2 * section] = n >> 8;
    this.buf[5 + 2 * section] = n & 0xff;
  }

  /** Copies the question name as the query spelled it and makes it a compression target. */
  questionName(msg: Uint8Array, q: Query): void {
    const at = this.pos;
    this.bytes(msg, q.qnameStart, q.qnameEnd);
    if (this.overflow) return;
    for (let i = 0; i < q.qnameKey.length; i += q.qnameKey.charCodeAt(i) + 1)
      this.written.set(q.qnameKey.slice(i), at + i);
  }

  /** A name, compressed against every name written before it. */
  name(n: DnsName): void {
    for (let i = 0; i < n.labelCount; i++) {
      const key = n.keys[i] as string;
      const target = this.written.get(key);
      if (target !== undefined) {
        this.u16(0xc000 | target);
        return;
      }
      const from = n.labelOffsets[i] as number;
      if (this.pos < 0x4000) this.written.set(key, this.pos);
      this.bytes(n.wire, from, n.labelOffsets[i + 1] as number);
    }
    if (this.room(1)) this.buf[this.pos++] = 0;
  }

  /** Every record of an RRset; returns how many (all of them, or the response overflows). */
  rrset(set: RRset): number {
    for (const rdata of set.rdatas) {
      this.name(set.owner);
      this.u16(set.type);
      this.u16(CLASS_IN);
      this.u32(set.ttl);
      const lengthAt = this.pos;
      this.u16(0);
      for (const part of rdata) {
        if (part instanceof Uint8Array) this.bytes(part);
        else this.name(part);
      }
      if (this.overflow) return set.rdatas.length; // the caller turns the response into TC=1
      const rdlength = this.pos - lengthAt - 2;
      this.buf[lengthAt] = rdlength >> 8;
      this.buf[lengthAt + 1] = rdlength & 0xff;
    }
    return set.rdatas.length;
  }
}
