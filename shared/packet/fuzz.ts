// Fuzz target for the frame parser (`tilenet fuzz packet`). For any input it must return without
// throwing; it throws only when the parser breaks one of its own invariants, which is the bug
// the fuzzer is looking for:
// - the result code is a known one, and accepted frames have their payload inside the frame;
// - an accepted frame rebuilt with buildUdpFrame from the parsed fields parses to the same fields;
// - the input "repaired" into a well-formed UDP frame (headers fixed, options and payload kept)
//   is accepted, so random bytes still reach the deep checks.
// The same three for IPv6 (parseUdp6Frame / buildUdp6Frame) on every input.
import { checksumOf, onesSum, pseudoHeaderSum, pseudoHeaderSum6 } from "./checksum";
import {
  buildUdpFrame,
  ETH_HLEN,
  newUdpFrameFields,
  newUdpFrameInfo,
  PARSE_OK,
  parseUdpFrame,
  UDP_HLEN,
  UDP_MAX_PAYLOAD,
  UDP_PARSE_RESULT_NAMES,
  UDP_PAYLOAD_OFFSET,
  UdpDrop,
  type UdpFrameInfo,
} from "./udp-frame";
import {
  buildUdp6Frame,
  IPV6_HLEN,
  newUdp6FrameFields,
  newUdp6FrameInfo,
  parseUdp6Frame,
  UDP6_MAX_PAYLOAD,
  UDP6_PAYLOAD_OFFSET,
  type Udp6FrameInfo,
} from "./udp6-frame";

const info = newUdpFrameInfo();
const again = newUdpFrameInfo();
const fields = newUdpFrameFields();
const info6 = newUdp6FrameInfo();
const again6 = newUdp6FrameInfo();
const fields6 = newUdp6FrameFields();
const src6 = new Uint32Array(4);
const dst6 = new Uint32Array(4);
let scratch = new Uint8Array(0);

function scratchOf(size: number): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, 2048));
  return scratch;
}

function fail(what: string): never {
  throw new Error(`packet parser invariant broken: ${what}`);
}

function checkRoundTrip(u8: Uint8Array, off: number, len: number, p: UdpFrameInfo): void {
  if (p.payloadOff < off + UDP_PAYLOAD_OFFSET || p.payloadOff + p.payloadLen > off + len)
    fail(`payload [${p.payloadOff}, +${p.payloadLen}) outside frame [${off}, +${len})`);
  if (p.payloadLen > UDP_MAX_PAYLOAD) fail(`payload length ${p.payloadLen}`);
  const buf = scratchOf(UDP_PAYLOAD_OFFSET + p.payloadLen);
  buf.set(u8.subarray(p.payloadOff, p.payloadOff + p.payloadLen), UDP_PAYLOAD_OFFSET);
  fields.dstMac.set(u8.subarray(p.dstMacOff, p.dstMacOff + 6));
  fields.srcMac.set(u8.subarray(p.srcMacOff, p.srcMacOff + 6));
  fields.srcIp = p.srcIp;
  fields.dstIp = p.dstIp;
  fields.srcPort = p.srcPort;
  fields.dstPort = p.dstPort;
  fields.ttl = p.ttl;
  const n = buildUdpFrame(buf, 0, fields, p.payloadLen);
  const r = parseUdpFrame(buf, 0, n, again);
  if (r !== PARSE_OK) fail(`rebuilt frame refused: ${UDP_PARSE_RESULT_NAMES[r]}`);
  if (
    again.srcIp !== p.srcIp ||
    again.dstIp !== p.dstIp ||
    again.srcPort !== p.srcPort ||
    again.dstPort !== p.dstPort ||
    again.payloadLen !== p.payloadLen
  )
    fail("rebuilt frame parses to different fields");
}

function check(u8: Uint8Array, off: number, len: number): void {
  const r = parseUdpFrame(u8, off, len, info);
  if (!(r >= 0 && r < UDP_PARSE_RESULT_NAMES.length) || (r | 0) !== r) fail(`unknown result ${r}`);
  if (r === PARSE_OK) checkRoundTrip(u8, off, len, info);
}

/** Rewrites the headers of a copy of bytes into a valid UDP frame; returns its length, or 0 if too short. */
function repair(bytes: Uint8Array): number {
  if (bytes.length < UDP_PAYLOAD_OFFSET) return 0;
  const buf = scratchOf(bytes.length);
  buf.set(bytes);
  const ip = ETH_HLEN;
  // Keep the input's IHL when its options fit, else 5.
  let ihl = (buf[ip] & 0x0f) << 2;
  if (ihl < 20 || ETH_HLEN + ihl + UDP_HLEN > bytes.length) ihl = 20;
  const total = Math.min(bytes.length - ETH_HLEN, 0xffff);
  const udpLen = total - ihl;
  buf[12] = 0x08;
  buf[13] = 0x00;
  buf[ip] = 0x40 | (ihl >>> 2);
  buf[ip + 2] = total >>> 8;
  buf[ip + 3] = total;
  buf[ip + 6] &= 0x40; // keep DF only: no fragment
  buf[ip + 7] = 0;
  buf[ip + 9] = 17;
  buf[ip + 10] = 0;
  buf[ip + 11] = 0;
  const ipSum = checksumOf(onesSum(buf, ip, ihl, 0));
  buf[ip + 10] = ipSum >>> 8;
  buf[ip + 11] = ipSum;
  const udp = ip + ihl;
  buf[udp + 4] = udpLen >>> 8;
  buf[udp + 5] = udpLen;
  // An input checksum of 0 stays "none"; otherwise make it right.
  if (buf[udp + 6] !== 0 || buf[udp + 7] !== 0) {
    buf[udp + 6] = 0;
    buf[udp + 7] = 0;
    const srcIp = ((buf[ip + 12] << 24) | (buf[ip + 13] << 16) | (buf[ip + 14] << 8) | buf[ip + 15]) >>> 0;
    const dstIp = ((buf[ip + 16] << 24) | (buf[ip + 17] << 16) | (buf[ip + 18] << 8) | buf[ip + 19]) >>> 0;
    const sum = checksumOf(onesSum(buf, udp, udpLen, pseudoHeaderSum(srcIp, dstIp, 17, udpLen))) || 0xffff;
    buf[udp + 6] = sum >>> 8;
    buf[udp + 7] = sum;
  }
  return ETH_HLEN + total;
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

function checkRoundTrip6(u8: Uint8Array, off: number, len: number, p: Udp6FrameInfo): void {
  if (p.payloadOff < off + UDP6_PAYLOAD_OFFSET || p.payloadOff + p.payloadLen > off + len)
    fail(`IPv6 payload [${p.payloadOff}, +${p.payloadLen}) outside frame [${off}, +${len})`);
  if (p.payloadLen > UDP6_MAX_PAYLOAD) fail(`IPv6 payload length ${p.payloadLen}`);
  const buf = scratchOf(UDP6_PAYLOAD_OFFSET + p.payloadLen);
  buf.set(u8.subarray(p.payloadOff, p.payloadOff + p.payloadLen), UDP6_PAYLOAD_OFFSET);
  fields6.dstMac.set(u8.subarray(p.dstMacOff, p.dstMacOff + 6));
  fields6.srcMac.set(u8.subarray(p.srcMacOff, p.srcMacOff + 6));
  fields6.src.set(p.srcIp);
  fields6.dst.set(p.dstIp);
  fields6.srcPort = p.srcPort;
  fields6.dstPort = p.dstPort;
  fields6.hopLimit = p.hopLimit;
  const n = buildUdp6Frame(buf, 0, fields6, p.payloadLen);
  const r = parseUdp6Frame(buf, 0, n, again6);
  if (r !== PARSE_OK) fail(`rebuilt IPv6 frame refused: ${UDP_PARSE_RESULT_NAMES[r]}`);
  if (
    !sameWords(again6.srcIp, p.srcIp) ||
    !sameWords(again6.dstIp, p.dstIp) ||
    again6.srcPort !== p.srcPort ||
    again6.dstPort !== p.dstPort ||
    again6.payloadLen !== p.payloadLen
  )
    fail("rebuilt IPv6 frame parses to different fields");
}

function check6(u8: Uint8Array, off: number, len: number): void {
  const r = parseUdp6Frame(u8, off, len, info6);
  if (!(r >= 0 && r < UDP_PARSE_RESULT_NAMES.length) || (r | 0) !== r) fail(`unknown IPv6 result ${r}`);
  if (r === PARSE_OK) checkRoundTrip6(u8, off, len, info6);
}

/** Rewrites a copy of bytes into a valid IPv6/UDP frame (addresses, ports, payload kept);
 *  returns its length, or 0 if too short. */
function repair6(bytes: Uint8Array): number {
  if (bytes.length < UDP6_PAYLOAD_OFFSET) return 0;
  const buf = scratchOf(bytes.length);
  buf.set(bytes);
  const ip = ETH_HLEN;
  const udpLen = Math.min(bytes.length - ETH_HLEN - IPV6_HLEN, 0xffff);
  buf[12] = 0x86;
  buf[13] = 0xdd;
  buf[ip] = 0x60 | (buf[ip] & 0x0f);
  buf[ip + 4] = udpLen >>> 8;
  buf[ip + 5] = udpLen;
  buf[ip + 6] = 17;
  const udp = ip + IPV6_HLEN;
  buf[udp + 4] = udpLen >>> 8;
  buf[udp + 5] = udpLen;
  buf[udp + 6] = 0;
  buf[udp + 7] = 0;
  for (let i = 0; i < 4; i++) {
    src6[i] =
      ((buf[ip + 8 + 4 * i] << 24) |
        (buf[ip + 9 + 4 * i] << 16) |
        (buf[ip + 10 + 4 * i] << 8) |
        buf[ip + 11 + 4 * i]) >>>
      0;
    dst6[i] =
      ((buf[ip + 24 + 4 * i] << 24) |
        (buf[ip + 25 + 4 * i] << 16) |
        (buf[ip + 26 + 4 * i] << 8) |
        buf[ip + 27 + 4 * i]) >>>
      0;
  }
  const sum = checksumOf(onesSum(buf, udp, udpLen, pseudoHeaderSum6(src6, 0, dst6, 0, 17, udpLen))) || 0xffff;
  buf[udp + 6] = sum >>> 8;
  buf[udp + 7] = sum;
  return ETH_HLEN + IPV6_HLEN + udpLen;
}

function fuzzParse6(bytes: Uint8Array): void {
  check6(bytes, 0, bytes.length);
  if (bytes.length > 1) check6(bytes, 1, bytes.length - 1);
  if (parseUdp6Frame(bytes, bytes.length, 1, info6) !== UdpDrop.bad_bounds) fail("IPv6: range past the view accepted");
  const n = repair6(bytes);
  if (n > 0) {
    const repaired = scratchOf(n);
    const r = parseUdp6Frame(repaired, 0, n, info6);
    if (r !== PARSE_OK) fail(`repaired IPv6 frame refused: ${UDP_PARSE_RESULT_NAMES[r]}`);
    checkRoundTrip6(repaired.slice(0, n), 0, n, info6);
  }
}

export function fuzzParse(bytes: Uint8Array): void {
  fuzzParse6(bytes);
  check(bytes, 0, bytes.length);
  if (bytes.length > 1) {
    check(bytes, 1, bytes.length - 1);
    check(bytes, 0, bytes.length >>> 1);
  }
  if (parseUdpFrame(bytes, bytes.length, 1, info) !== UdpDrop.bad_bounds) fail("range past the view accepted");
  if (parseUdpFrame(bytes, -1, 0, info) !== UdpDrop.bad_bounds) fail("negative offset accepted");
  const n = repair(bytes);
  if (n > 0) {
    const repaired = scratchOf(n);
    const r = parseUdpFrame(repaired, 0, n, info);
    if (r !== PARSE_OK) fail(`repaired frame refused: ${UDP_PARSE_RESULT_NAMES[r]}`);
    checkRoundTrip(repaired.slice(0, n), 0, n, info);
  }
}
