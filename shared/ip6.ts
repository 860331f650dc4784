// IPv6 addresses as four 32-bit words, the form the hot paths use (netbase, the net tile, the app
// channels, the solicit message): word i is bytes 4i..4i+3 of the address read big-endian, as an
// unsigned host-order number, so 2001:2::1 is [0x20010002, 0, 0, 1]. No allocation: callers pass
// the words or a Uint32Array(4) of their own. Text goes through the RFC 5952 helpers iproute2's
// output is compared with (shared/netlink/address-text.ts).
import { formatIpv6, parseIpv6 } from "./netlink/address-text";

/** Words of one address. */
export const IP6_WORDS = 4;

/** Parses IPv6 text (no zone) into `out` (4 words); false when malformed. */
export function parseIp6Into(text: string, out: Uint32Array, at = 0): boolean {
  const b = parseIpv6(text);
  if (b === undefined) return false;
  ip6WordsFromBytes(b, 0, out, at);
  return true;
}

/** IPv6 text -> a new Uint32Array(4) (configuration, tests: not the hot path). */
export function parseIp6(text: string): Uint32Array | undefined {
  const out = new Uint32Array(IP6_WORDS);
  return parseIp6Into(text, out) ? out : undefined;
}

/** RFC 5952 text of the words (allocates the string: for logs, status and apps' own use). */
export function formatIp6(a0: number, a1: number, a2: number, a3: number): string {
  const b = new Uint8Array(16);
  ip6WordsToBytes(a0, a1, a2, a3, b, 0);
  return formatIpv6(b);
}

/** Reads 16 bytes at `off` (network order) into out[at..at+3]. */
export function ip6WordsFromBytes(bytes: Uint8Array, off: number, out: Uint32Array, at = 0): void {
  for (let i = 0; i < IP6_WORDS; i++) {
    const p = off + i * 4;
    out[at + i] =
      (((bytes[p] ?? 0) << 24) | ((bytes[p + 1] ?? 0) << 16) | ((bytes[p + 2] ?? 0) << 8) | (bytes[p + 3] ?? 0)) >>> 0;
  }
}

/** Writes the words as 16 bytes (network order) at `off`. */
export function ip6WordsToBytes(a0: number, a1: number, a2: number, a3: number, bytes: Uint8Array, off: number): void {
  const w = [a0, a1, a2, a3];
  for (let i = 0; i < IP6_WORDS; i++) {
    const v = (w[i] ?? 0) >>> 0;
    const p = off + i * 4;
    bytes[p] = v >>> 24;
    bytes[p + 1] = (v >>> 16) & 255;
    bytes[p + 2] = (v >>> 8) & 255;
    bytes[p + 3] = v & 255;
  }
}

/** ::, the unspecified address. */
export function isIp6Unspecified(a0: number, a1: number, a2: number, a3: number): boolean {
  return (a0 | a1 | a2 | a3) === 0;
}

/** ::1. */
export function isIp6Loopback(a0: number, a1: number, a2: number, a3: number): boolean {
  return (a0 | a1 | a2) === 0 && a3 >>> 0 === 1;
}

/** ff00::/8. */
export function isIp6Multicast(a0: number): boolean {
  return a0 >>> 24 === 0xff;
}

/** fe80::/10: meaningful only with an interface (a scope). */
export function isIp6LinkLocal(a0: number): boolean {
  return a0 >>> 22 === 0x3fa;
}

/** ::ffff:0:0/96, an IPv4 address in IPv6 clothing (never sent as IPv6 on the wire here). */
export function isIp6V4Mapped(a0: number, a1: number, a2: number): boolean {
  return a0 === 0 && a1 === 0 && a2 >>> 0 === 0xffff;
}
