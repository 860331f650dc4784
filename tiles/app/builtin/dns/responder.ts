// The authoritative answer to one query, as plain functions of (zone, query bytes) -> response
// bytes: no sockets, no clock, no state but counters. The tilenet app (app.ts), the Node dgram
// server of the benchmark and the tests all call Responder.answer the same way.
//
// What it answers (RFC 1034 4.3.2, minimal responses):
// - a name in the zone with data of the type: the RRset (AA=1); with a CNAME instead, the CNAME
//   then the target's answer, chased within the zone (at most MAX_CNAME_CHAIN links);
// - a name that exists without that type: NODATA (NOERROR, empty answer, the SOA in authority);
// - a name that does not exist: NXDOMAIN with the SOA in authority (its TTL capped at the SOA
//   minimum, RFC 2308 3);
// - a name outside the zone, a class other than IN, a zone transfer over UDP: REFUSED;
// - an opcode other than QUERY: NOTIMP; an EDNS version other than 0: BADVERS;
// - malformed bytes with a readable header: FORMERR; shorter than a header, or a response: nothing.
// Responses fit 512 bytes, or the client's EDNS UDP size capped at maxUdpSize; a response that
// does not fit is sent with TC=1 and only the question (the client retries over TCP).

import {
  FLAG,
  HEADER_BYTES,
  newQuery,
  OPCODE_QUERY,
  parseQuery,
  type Query,
  questionKey,
  RCODE,
  ResponseWriter,
  TYPE_OPT,
} from "./message";
import { type DnsName, keyIsAtOrBelow } from "./name";
import { CLASS_IN, type RRset, TYPE, type Zone } from "./zone";

const MAX_CNAME_CHAIN = 8;
/** Answers kept for reuse (see answerFromCache); the cache is emptied when it is full. */
const MAX_CACHED_ANSWERS = 4096;
const TYPE_ANY = 255;
const ZONE_TRANSFERS = new Set([251 /* IXFR */, 252 /* AXFR */]);
const CLASSIC_UDP_BYTES = 512;
const OPT_RR_BYTES = 11;
/** RFC 9715 / DNS flag day 2020: a size that avoids IP fragmentation on common paths. */
export const DEFAULT_MAX_UDP_BYTES = 1232;

export interface ResponderCounters {
  queries: number;
  noerror: number;
  nodata: number;
  nxdomain: number;
  refused: number;
  formerr: number;
  notimp: number;
  badvers: number;
  truncated: number;
  /** Not answered: shorter than a DNS header, or a response (QR set). */
  dropped: number;
}

export class Responder {
  readonly counters: ResponderCounters = {
    queries: 0,
    noerror: 0,
    nodata: 0,
    nxdomain: 0,
    refused: 0,
    formerr: 0,
    notimp: 0,
    badvers: 0,
    truncated: 0,
    dropped: 0,
  };
  private readonly query: Query = newQuery();
  private readonly out: ResponseWriter;
  private readonly negativeSoa: RRset;
  /** Built answers by question and size limit (see answerFromCache). */
  private readonly cache = new Map<number, CachedAnswer>();
  /** What the last built answer counted (kept with it in the cache). */
  private lastCounter: CounterName = "noerror";
  private lastTruncated = false;

  constructor(
    readonly zone: Zone,
    /** Largest response this server sends over UDP (and advertises in its OPT record). */
    readonly maxUdpBytes = DEFAULT_MAX_UDP_BYTES,
    out = new Uint8Array(65535),
  ) {
    if (maxUdpBytes < CLASSIC_UDP_BYTES || maxUdpBytes > out.length)
      throw new RangeError(`maxUdpBytes ${maxUdpBytes} is not ${CLASSIC_UDP_BYTES}..${out.length}`);
    this.out = new ResponseWriter(out);
    const numbers = zone.soa.rdatas[0]?.[2]; // serial refresh retry expire minimum
    if (!(numbers instanceof Uint8Array) || numbers.length !== 20) throw new Error("zone SOA without its numbers");
    const soaMinimum = new DataView(numbers.buffer, numbers.byteOffset, 20).getUint32(16);
    this.negativeSoa = { ...zone.soa, ttl: Math.min(zone.soa.ttl, soaMinimum) };
  }

  /**
   * Answers the query in msg[start, start + length). Returns the response, a view of the
   * responder's own buffer valid until the next call, or undefined when nothing is to be sent.
   */
  answer(msg: Uint8Array, start: number, length: number): Uint8Array | undefined {
    const q = this.query;
    const c = this.counters;
    c.queries++;
    const outcome = parseQuery(msg, start, length, q);
    if (outcome === "drop") {
      c.dropped++;
      return undefined;
    }
    if (outcome === "formerr") return this.headerOnly(RCODE.FORMERR, c, "formerr");
    if (q.opcode !== OPCODE_QUERY) return this.headerOnly(RCODE.NOTIMP, c, "notimp");
    if (q.edns && q.ednsVersion !== 0) return this.finish(msg, RCODE.BADVERS, 0, "badvers");
    const limit = q.edns ? Math.max(CLASSIC_UDP_BYTES, Math.min(q.udpSize, this.maxUdpBytes)) : CLASSIC_UDP_BYTES;
    const ednsFlags = q.edns ? (q.dnssecOk ? 2 : 1) : 0;
    const hash =
      (q.qnameHash ^ Math.imul(q.qtype, 0x9e3779b1) ^ Math.imul(limit, 0x85ebca6b) ^ (ednsFlags << 29)) >>> 0;
    const cached = this.cache.get(hash);
    if (cached && sameQuestion(cached, msg, q, limit, ednsFlags)) return this.answerFromCache(msg, q, cached);
    this.out.reset(limit - (q.edns ? OPT_RR_BYTES : 0));
    const inZone = keyIsAtOrBelow(questionKey(msg, q), this.zone.origin.key);
    const response =
      !inZone || q.qclass !== CLASS_IN || ZONE_TRANSFERS.has(q.qtype)
        ? this.finish(msg, RCODE.REFUSED, 0, "refused")
        : this.authoritative(msg, q);
    if (this.cache.size >= MAX_CACHED_ANSWERS) this.cache.clear();
    this.cache.set(hash, {
      name: lowerCased(msg.subarray(q.qnameStart, q.qnameEnd)),
      qtype: q.qtype,
      qclass: q.qclass,
      limit,
      ednsFlags,
      bytes: response.slice(),
      counter: this.lastCounter,
      truncated: this.lastTruncated,
    });
    return response;
  }

  /**
   * The zone never changes, so an answer depends only on the question (name without case, type,
   * class), the size limit and the EDNS flags: a cached answer is reused with the query's id, RD
   * bit and spelling of the name copied in (same name, same length: every offset holds). It skips
   * building the answer (names, compression table), the larger part of the work per query.
   */
  private answerFromCache(msg: Uint8Array, q: Query, cached: CachedAnswer): Uint8Array {
    const out = this.out.buf;
    out.set(cached.bytes);
    out[0] = q.id >> 8;
    out[1] = q.id & 0xff;
    out[2] = ((out[2] as number) & ~(FLAG.RD >> 8)) | ((q.flags & FLAG.RD) >> 8);
    out.set(msg.subarray(q.qnameStart, q.qnameEnd), HEADER_BYTES);
    this.counters[cached.counter]++;
    if (cached.truncated) this.counters.truncated++;
    return out.subarray(0, cached.bytes.length);
  }

  private authoritative(msg: Uint8Array, q: Query): Uint8Array {
    const w = this.out;
    this.start(msg, FLAG.AA);
    let answers = 0;
    let key = q.qnameKey;
    for (let link = 0; ; link++) {
      const node = this.zone.names.get(key);
      if (!node) return this.negative(msg, RCODE.NXDOMAIN, answers, "nxdomain");
      const cname = node.get(TYPE.CNAME);
      if (cname && q.qtype !== TYPE.CNAME && q.qtype !== TYPE_ANY) {
        answers += w.rrset(cname);
        const target = cname.rdatas[0]?.[0] as DnsName;
        // A target outside the zone, or a chain too long, ends the answer here (RFC 1034 4.3.2).
        if (!target.isAtOrBelow(this.zone.origin) || link + 1 >= MAX_CNAME_CHAIN) break;
        key = target.key;
        continue;
      }
      if (q.qtype === TYPE_ANY) for (const set of node.values()) answers += w.rrset(set);
      else {
        const set = node.get(q.qtype);
        if (set) answers += w.rrset(set);
      }
      break;
    }
    if (answers === 0) return this.negative(msg, RCODE.NOERROR, 0, "nodata");
    w.setCount(1, answers);
    return this.end(msg, RCODE.NOERROR, "noerror");
  }

  /** NXDOMAIN or NODATA: the SOA in the authority section tells resolvers how long to cache it. */
  private negative(msg: Uint8Array, rcode: number, answers: number, counter: CounterName): Uint8Array {
    const w = this.out;
    w.setCount(1, answers);
    w.setCount(2, w.rrset(this.negativeSoa));
    return this.end(msg, rcode, counter);
  }

  /** Header (flags with QR, the query's opcode and RD) and the question. */
  private start(msg: Uint8Array, flags: number): void {
    const q = this.query;
    this.out.header(q.id, FLAG.QR | flags | (q.flags & (0x7800 | FLAG.RD)));
    this.out.setCount(0, 1);
    this.out.questionName(msg, q);
    this.out.u16(q.qtype);
    this.out.u16(q.qclass);
  }

  /** A response with the question and no records (REFUSED, BADVERS). */
  private finish(msg: Uint8Array, rcode: number, flags: number, counter: CounterName): Uint8Array {
    this.out.reset(CLASSIC_UDP_BYTES);
    this.start(msg, flags);
    return this.end(msg, rcode, counter);
  }

  /** Adds the OPT record when the query had one; turns an overflowing response into TC=1. */
  private end(msg: Uint8Array, rcode: number, counter: CounterName): Uint8Array {
    const w = this.out;
    const q = this.query;
    this.lastCounter = counter;
    this.lastTruncated = w.overflow;
    if (w.overflow) {
      this.counters.truncated++;
      w.reset(w.limit);
      this.start(msg, FLAG.AA | FLAG.TC);
    }
    if (q.edns) {
      w.limit += OPT_RR_BYTES; // reserved by answer()
      w.bytes(ROOT_NAME);
      w.u16(TYPE_OPT);
      w.u16(this.maxUdpBytes); // the class field of OPT: our UDP payload size
      w.u32(((rcode >> 4) << 24) | (q.dnssecOk ? 0x8000 : 0)); // extended rcode, version 0, DO copied
      w.u16(0); // no options
      w.setCount(3, 1);
    }
    w.buf[3] = (w.buf[3] as number) | (rcode & 0xf);
    this.counters[counter]++;
    return w.buf.subarray(0, w.pos);
  }

  /** FORMERR and NOTIMP: the header alone (the question may be what is wrong). */
  private headerOnly(rcode: number, c: ResponderCounters, counter: CounterName): Uint8Array {
    const q = this.query;
    const w = this.out;
    w.reset(HEADER_BYTES);
    w.header(q.id, FLAG.QR | (q.flags & (0x7800 | FLAG.RD)) | rcode);
    c[counter]++;
    return w.buf.subarray(0, w.pos);
  }
}

const ROOT_NAME = Uint8Array.of(0);

type CounterName = Exclude<keyof ResponderCounters, "queries" | "truncated" | "dropped">;

interface CachedAnswer {
  /** The question it answers: name (lower case), type, class, size limit, EDNS flags. */
  name: Uint8Array;
  qtype: number;
  qclass: number;
  limit: number;
  ednsFlags: number;
  bytes: Uint8Array;
  counter: CounterName;
  truncated: boolean;
}

function sameQuestion(c: CachedAnswer, msg: Uint8Array, q: Query, limit: number, ednsFlags: number): boolean {
  if (c.qtype !== q.qtype || c.qclass !== q.qclass || c.limit !== limit || c.ednsFlags !== ednsFlags) return false;
  if (c.name.length !== q.qnameEnd - q.qnameStart) return false;
  for (let i = 0; i < c.name.length; i++) {
    const b = msg[q.qnameStart + i] as number;
    if ((b >= 65 && b <= 90 ? b + 32 : b) !== c.name[i]) return false;
  }
  return true;
}

function lowerCased(bytes: Uint8Array): Uint8Array {
  return bytes.map((b) => (b >= 65 && b <= 90 ? b + 32 : b));
}
