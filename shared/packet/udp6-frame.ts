// Ethernet II / IPv6 / UDP frames: parse with every length checked and the (mandatory) UDP
// checksum verified, and build in place, the twins of udp-frame.ts. Allocation-free: parse fills
// a caller-owned result, build reads caller-owned fields. Addresses are four u32 words
// (shared/ip6.ts), held in Uint32Array(4)s the caller owns.
//
// Extension headers are not followed: the next header must be UDP (17). The XDP program sends
// only such frames here (program.ts says why), so anything else reaching this parser is counted.
import { checksumOf, foldSum, onesSum, pseudoHeaderSum6 } from "./checksum";
import { ETH_HLEN, IPPROTO_UDP, PARSE_OK, UDP_HLEN, Udp6Drop, UdpDrop } from "./udp-frame";

export const IPV6_HLEN = 40;
export const ETHERTYPE_IPV6 = 0x86dd;
/** Next header value of the Fragment extension header. */
export const IPPROTO_FRAGMENT = 44;
/** Offset of the payload in an IPv6 frame (no extension headers): 14 + 40 + 8 = 62. */
export const UDP6_PAYLOAD_OFFSET = ETH_HLEN + IPV6_HLEN + UDP_HLEN;
/** Largest payload of one IPv6 UDP datagram (no jumbograms). */
export const UDP6_MAX_PAYLOAD = 0xffff - UDP_HLEN;

/** Filled by parseUdp6Frame; offsets are absolute indices into the view. */
export interface Udp6FrameInfo {
  dstMacOff: number;
  srcMacOff: number;
  readonly srcIp: Uint32Array;
  readonly dstIp: Uint32Array;
  srcPort: number;
  dstPort: number;
  hopLimit: number;
  payloadOff: number;
  payloadLen: number;
}

export function newUdp6FrameInfo(): Udp6FrameInfo {
  return {
    dstMacOff: 0,
    srcMacOff: 0,
    srcIp: new Uint32Array(4),
    dstIp: new Uint32Array(4),
    srcPort: 0,
    dstPort: 0,
    hopLimit: 0,
    payloadOff: 0,
    payloadLen: 0,
  };
}

function u16(u8: Uint8Array, i: number): number {
  return (u8[i] << 8) | u8[i + 1];
}

function u32(u8: Uint8Array, i: number): number {
  return ((u8[i] << 24) | (u8[i + 1] << 16) | (u8[i + 2] << 8) | u8[i + 3]) >>> 0;
}

/**
 * Parses the IPv6 frame at u8[off, off+len). Returns PARSE_OK (0) and fills out, or a UdpDrop /
 * Udp6Drop code (out is then unspecified). Ethernet padding after the payload length is allowed;
 * the hop limit is not checked (we are the destination).
 */
export function parseUdp6Frame(u8: Uint8Array, off: number, len: number, out: Udp6FrameInfo): number {
  if (off >>> 0 !== off || len >>> 0 !== len || off + len > u8.length) return UdpDrop.bad_bounds;
  if (len < UDP6_PAYLOAD_OFFSET) return Udp6Drop.ip6_undersize;
  if (u16(u8, off + 12) !== ETHERTYPE_IPV6) return UdpDrop.not_ipv4;
  const ip = off + ETH_HLEN;
  if (u8[ip] >>> 4 !== 6) return Udp6Drop.ip6_bad_version;
  const payloadLen = u16(u8, ip + 4);
  if (payloadLen < UDP_HLEN || ETH_HLEN + IPV6_HLEN + payloadLen > len) return Udp6Drop.ip6_bad_payload_length;
  const next = u8[ip + 6];
  if (next === IPPROTO_FRAGMENT) return Udp6Drop.ip6_fragment;
  if (next !== IPPROTO_UDP) return Udp6Drop.ip6_not_udp;
  const udp = ip + IPV6_HLEN;
  const udpLen = u16(u8, udp + 4);
  if (udpLen !== payloadLen) return Udp6Drop.ip6_bad_udp_length;
  if (u16(u8, udp + 6) === 0) return Udp6Drop.ip6_zero_udp_checksum;
  const src = out.srcIp;
  const dst = out.dstIp;
  for (let i = 0; i < 4; i++) {
    src[i] = u32(u8, ip + 8 + 4 * i);
    dst[i] = u32(u8, ip + 24 + 4 * i);
  }
  const sum = onesSum(u8, udp, udpLen, pseudoHeaderSum6(src, 0, dst, 0, IPPROTO_UDP, udpLen));
  if (foldSum(sum) !== 0xffff) return Udp6Drop.ip6_bad_udp_checksum;
  out.dstMacOff = off;
  out.srcMacOff = off + 6;
  out.srcPort = u16(u8, udp);
  out.dstPort = u16(u8, udp + 2);
  out.hopLimit = u8[ip + 7];
  out.payloadOff = udp + UDP_HLEN;
  out.payloadLen = udpLen - UDP_HLEN;
  return PARSE_OK;
}

/** What buildUdp6Frame writes (caller-owned, reused between frames). */
export interface Udp6FrameFields {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  /** Addresses as words: src[srcAt..srcAt+3], dst[dstAt..dstAt+3] (so cached tables serve directly). */
  src: Uint32Array;
  srcAt: number;
  dst: Uint32Array;
  dstAt: number;
  srcPort: number;
  dstPort: number;
  hopLimit: number;
  /** DSCP (6 bits); ECN and the flow label are left 0. */
  dscp: number;
}

export function newUdp6FrameFields(): Udp6FrameFields {
  return {
    dstMac: new Uint8Array(6),
    srcMac: new Uint8Array(6),
    src: new Uint32Array(4),
    srcAt: 0,
    dst: new Uint32Array(4),
    dstAt: 0,
    srcPort: 0,
    dstPort: 0,
    hopLimit: 64,
    dscp: 0,
  };
}

function put16(u8: Uint8Array, i: number, v: number): void {
  u8[i] = v >>> 8;
  u8[i + 1] = v;
}

function putWords(u8: Uint8Array, i: number, w: Uint32Array, at: number): void {
  for (let k = 0; k < 4; k++) {
    const v = w[at + k];
    const p = i + k * 4;
    u8[p] = v >>> 24;
    u8[p + 1] = v >>> 16;
    u8[p + 2] = v >>> 8;
    u8[p + 3] = v;
  }
}

/**
 * Writes Ethernet, IPv6 (no extension headers) and UDP headers in front of a payload already at
 * u8[off + UDP6_PAYLOAD_OFFSET, +payloadLen), with the UDP checksum. Returns the frame length.
 */
export function buildUdp6Frame(u8: Uint8Array, off: number, f: Udp6FrameFields, payloadLen: number): number {
  const frameLen = UDP6_PAYLOAD_OFFSET + payloadLen;
  if (
    off >>> 0 !== off ||
    payloadLen >>> 0 !== payloadLen ||
    payloadLen > UDP6_MAX_PAYLOAD ||
    off + frameLen > u8.length
  )
    throw new RangeError(`buildUdp6Frame: ${payloadLen}-byte payload at ${off} does not fit a ${u8.length}-byte view`);
  for (let i = 0; i < 6; i++) {
    u8[off + i] = f.dstMac[i];
    u8[off + 6 + i] = f.srcMac[i];
  }
  put16(u8, off + 12, ETHERTYPE_IPV6);
  const ip = off + ETH_HLEN;
  const udpLen = UDP_HLEN + payloadLen;
  const tc = (f.dscp & 0x3f) << 2;
  u8[ip] = 0x60 | (tc >>> 4);
  u8[ip + 1] = (tc & 0x0f) << 4;
  u8[ip + 2] = 0;
  u8[ip + 3] = 0;
  put16(u8, ip + 4, udpLen);
  u8[ip + 6] = IPPROTO_UDP;
  u8[ip + 7] = f.hopLimit;
  putWords(u8, ip + 8, f.src, f.srcAt);
  putWords(u8, ip + 24, f.dst, f.dstAt);
  const udp = ip + IPV6_HLEN;
  put16(u8, udp, f.srcPort);
  put16(u8, udp + 2, f.dstPort);
  put16(u8, udp + 4, udpLen);
  put16(u8, udp + 6, 0);
  const sum = onesSum(u8, udp, udpLen, pseudoHeaderSum6(f.src, f.srcAt, f.dst, f.dstAt, IPPROTO_UDP, udpLen));
  // A computed 0 is sent as 0xffff (0 would mean "no checksum", which IPv6 forbids).
  put16(u8, udp + 6, checksumOf(sum) || 0xffff);
  return frameLen;
}
