// Ethernet II / IPv4 / UDP frames: parse with every length and checksum checked, and build in
// place. Both work on a caller's byte view (e.g. a UMEM frame) and allocate nothing: parse fills
// a caller-owned result, build reads a caller-owned field record. IPv4 addresses are host-order
// u32, as in shared/netmodel.ts.
import { checksumOf, foldSum, onesSum, pseudoHeaderSum } from "./checksum";

export const ETH_HLEN = 14;
export const IPV4_MIN_HLEN = 20;
export const UDP_HLEN = 8;
/** Offset of the payload in a frame built by buildUdpFrame (no IP options). */
export const UDP_PAYLOAD_OFFSET = ETH_HLEN + IPV4_MIN_HLEN + UDP_HLEN;
export const ETHERTYPE_IPV4 = 0x0800;
export const IPPROTO_UDP = 17;
/** Largest payload of one IPv4 UDP datagram without options. */
export const UDP_MAX_PAYLOAD = 0xffff - IPV4_MIN_HLEN - UDP_HLEN;

export const PARSE_OK = 0;

/** Why parseUdpFrame refused a frame (the count names double as metric labels). */
export const UdpDrop = {
  /** (off, len) does not describe a range of the view. */
  bad_bounds: 1,
  /** Shorter than Ethernet + IPv4 + UDP headers. */
  undersize: 2,
  /** EtherType is not IPv4 (ARP, IPv6, VLAN-tagged, ...). */
  not_ipv4: 3,
  bad_version: 4,
  /** IHL < 5, or the IPv4 header does not fit in the frame. */
  bad_ihl: 5,
  /** Total length shorter than the header or longer than the frame. */
  bad_total_length: 6,
  bad_ip_checksum: 7,
  /** MF set or nonzero fragment offset (reassembly is the kernel's job: XDP passes them). */
  fragment: 8,
  not_udp: 9,
  /** UDP length < 8 or different from the IPv4 payload length. */
  bad_udp_length: 10,
  bad_udp_checksum: 11,
} as const;
export type UdpDropName = keyof typeof UdpDrop;

/** Why parseUdp6Frame (udp6-frame.ts) refused a frame: codes after the IPv4 ones (which stay
 *  stable), names prefixed ip6_ so each family's drops are their own metric. A frame that is
 *  neither IPv4 nor IPv6 counts as not_ipv4 (the EtherType dispatch tries IPv4 last). */
export const Udp6Drop = {
  /** Shorter than Ethernet + IPv6 + UDP headers. */
  ip6_undersize: 12,
  /** EtherType 0x86dd but the version nibble is not 6. */
  ip6_bad_version: 13,
  /** Payload length longer than the frame (or shorter than a UDP header). */
  ip6_bad_payload_length: 14,
  /** A Fragment header (44): the kernel reassembles (XDP passes them). */
  ip6_fragment: 15,
  /** Any other next header, extension headers included (XDP follows none: see program.ts). */
  ip6_not_udp: 16,
  /** UDP length < 8 or different from the payload length (jumbograms included). */
  ip6_bad_udp_length: 17,
  /** A zero UDP checksum: mandatory over IPv6 (RFC 8200 8.1). */
  ip6_zero_udp_checksum: 18,
  ip6_bad_udp_checksum: 19,
} as const;
export type Udp6DropName = keyof typeof Udp6Drop;

/** Name of each result code of either parser, indexed by code (0 = "ok"). */
export const UDP_PARSE_RESULT_NAMES: readonly string[] = (() => {
  const names: string[] = ["ok"];
  for (const [name, code] of Object.entries(UdpDrop)) names[code] = name;
  for (const [name, code] of Object.entries(Udp6Drop)) names[code] = name;
  return names;
})();

/** Filled by parseUdpFrame; offsets are absolute indices into the view. */
export interface UdpFrameInfo {
  dstMacOff: number;
  srcMacOff: number;
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
  ttl: number;
  /** IPv4 header length in bytes (20..60). */
  ipHeaderLen: number;
  payloadOff: number;
  payloadLen: number;
}

export function newUdpFrameInfo(): UdpFrameInfo {
  return {
    dstMacOff: 0,
    srcMacOff: 0,
    srcIp: 0,
    dstIp: 0,
    srcPort: 0,
    dstPort: 0,
    ttl: 0,
    ipHeaderLen: 0,
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
 * Parses the frame at u8[off, off+len). Returns PARSE_OK (0) and fills out, or a UdpDrop code
 * (out is then unspecified). Ethernet padding after the IPv4 total length is allowed.
 */
export function parseUdpFrame(u8: Uint8Array, off: number, len: number, out: UdpFrameInfo): number {
  if (off >>> 0 !== off || len >>> 0 !== len || off + len > u8.length) return UdpDrop.bad_bounds;
  if (len < UDP_PAYLOAD_OFFSET) return UdpDrop.undersize;
  if (u16(u8, off + 12) !== ETHERTYPE_IPV4) return UdpDrop.not_ipv4;
  const ip = off + ETH_HLEN;
  const verIhl = u8[ip];
  if (verIhl >>> 4 !== 4) return UdpDrop.bad_version;
  const ihl = (verIhl & 0x0f) << 2;
  if (ihl < IPV4_MIN_HLEN || ETH_HLEN + ihl > len) return UdpDrop.bad_ihl;
  const totalLen = u16(u8, ip + 2);
  if (totalLen < ihl || ETH_HLEN + totalLen > len) return UdpDrop.bad_total_length;
  if (foldSum(onesSum(u8, ip, ihl, 0)) !== 0xffff) return UdpDrop.bad_ip_checksum;
  if ((u16(u8, ip + 6) & 0x3fff) !== 0) return UdpDrop.fragment;
  if (u8[ip + 9] !== IPPROTO_UDP) return UdpDrop.not_udp;
  const udp = ip + ihl;
  const ipPayloadLen = totalLen - ihl;
  if (ipPayloadLen < UDP_HLEN) return UdpDrop.bad_udp_length;
  const udpLen = u16(u8, udp + 4);
  if (udpLen !== ipPayloadLen) return UdpDrop.bad_udp_length;
  const srcIp = u32(u8, ip + 12);
  const dstIp = u32(u8, ip + 16);
  if (u16(u8, udp + 6) !== 0) {
    const sum = onesSum(u8, udp, udpLen, pseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, udpLen));
    if (foldSum(sum) !== 0xffff) return UdpDrop.bad_udp_checksum;
  }
  out.dstMacOff = off;
  out.srcMacOff = off + 6;
  out.srcIp = srcIp;
  out.dstIp = dstIp;
  out.srcPort = u16(u8, udp);
  out.dstPort = u16(u8, udp + 2);
  out.ttl = u8[ip + 8];
  out.ipHeaderLen = ihl;
  out.payloadOff = udp + UDP_HLEN;
  out.payloadLen = udpLen - UDP_HLEN;
  return PARSE_OK;
}

/** What buildUdpFrame writes (caller-owned, reused between frames). */
export interface UdpFrameFields {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
  ttl: number;
  /** IPv4 identification. */
  ipId: number;
  /** DSCP (6 bits); ECN is left 0. */
  dscp: number;
}

export function newUdpFrameFields(): UdpFrameFields {
  return {
    dstMac: new Uint8Array(6),
    srcMac: new Uint8Array(6),
    srcIp: 0,
    dstIp: 0,
    srcPort: 0,
    dstPort: 0,
    ttl: 64,
    ipId: 0,
    dscp: 0,
  };
}

function put16(u8: Uint8Array, i: number, v: number): void {
  u8[i] = v >>> 8;
  u8[i + 1] = v;
}

function put32(u8: Uint8Array, i: number, v: number): void {
  u8[i] = v >>> 24;
  u8[i + 1] = v >>> 16;
  u8[i + 2] = v >>> 8;
  u8[i + 3] = v;
}

/**
 * Writes Ethernet, IPv4 (no options, DF set) and UDP headers in front of a payload already at
 * u8[off + UDP_PAYLOAD_OFFSET, +payloadLen), with both checksums. Returns the frame length.
 */
export function buildUdpFrame(u8: Uint8Array, off: number, f: UdpFrameFields, payloadLen: number): number {
  const frameLen = UDP_PAYLOAD_OFFSET + payloadLen;
  if (
    off >>> 0 !== off ||
    payloadLen >>> 0 !== payloadLen ||
    payloadLen > UDP_MAX_PAYLOAD ||
    off + frameLen > u8.length
  )
    throw new RangeError(`buildUdpFrame: ${payloadLen}-byte payload at ${off} does not fit a ${u8.length}-byte view`);
  for (let i = 0; i < 6; i++) {
    u8[off + i] = f.dstMac[i];
    u8[off + 6 + i] = f.srcMac[i];
  }
  put16(u8, off + 12, ETHERTYPE_IPV4);
  const ip = off + ETH_HLEN;
  const udpLen = UDP_HLEN + payloadLen;
  u8[ip] = 0x45;
  u8[ip + 1] = (f.dscp & 0x3f) << 2;
  put16(u8, ip + 2, IPV4_MIN_HLEN + udpLen);
  put16(u8, ip + 4, f.ipId & 0xffff);
  put16(u8, ip + 6, 0x4000);
  u8[ip + 8] = f.ttl;
  u8[ip + 9] = IPPROTO_UDP;
  put16(u8, ip + 10, 0);
  put32(u8, ip + 12, f.srcIp);
  put32(u8, ip + 16, f.dstIp);
  put16(u8, ip + 10, checksumOf(onesSum(u8, ip, IPV4_MIN_HLEN, 0)));
  const udp = ip + IPV4_MIN_HLEN;
  put16(u8, udp, f.srcPort);
  put16(u8, udp + 2, f.dstPort);
  put16(u8, udp + 4, udpLen);
  put16(u8, udp + 6, 0);
  const sum = onesSum(u8, udp, udpLen, pseudoHeaderSum(f.srcIp >>> 0, f.dstIp >>> 0, IPPROTO_UDP, udpLen));
  // A computed 0 is sent as 0xffff: 0 on the wire means "no checksum".
  put16(u8, udp + 6, checksumOf(sum) || 0xffff);
  return frameLen;
}
