// The neighbor-solicit message a net tile publishes to the netlink tile when it lacks the MAC of a
// next hop. Declared once here; both ends encode and decode only through these functions.
//
// Version 2 layout: 32 bytes, eight little-endian u32 words, one width for both families (so a
// ring slot is one size whatever the traffic), every bit meaningful or required to be zero:
//   0  head      version << 8 | family: 0x0204 (IPv4) or 0x0206 (IPv6); bits 16..31 zero
//   4  ifindex   kernel interface index the next hop is on
//   8  a0        IPv4: the host-order address (198.18.0.1 = 0xc6120001)
//  12  a1          IPv6: the four words of shared/ip6.ts (word i = bytes 4i..4i+3 big-endian)
//  16  a2          IPv4: a1..a3 are padding, required to be 0
//  20  a3
//  24  reserved  must be 0 (a later version may use it)
//  28  check     solicitCheck(words 0..6): garbage, torn or zeroed slots fail it
// 32 rather than 28: a power of two keeps slots aligned and two per cache line; the spare word is
// the room a v3 needs without changing the width again.
//
// Reading and writing are allocation-free: they work in place on a DataView or an Int32Array
// over ring memory, and decoded fields go into a caller-owned SolicitFields.

export const SOLICIT_BYTES = 32;
export const SOLICIT_VERSION = 2;
export const SOLICIT_FAMILY_IPV4 = 4;
export const SOLICIT_FAMILY_IPV6 = 6;
export const SOLICIT_OFFSET_HEAD = 0;
export const SOLICIT_OFFSET_IFINDEX = 4;
export const SOLICIT_OFFSET_ADDRESS = 8;
/** IPv4 messages: the address is word a0. */
export const SOLICIT_OFFSET_IP = SOLICIT_OFFSET_ADDRESS;
export const SOLICIT_OFFSET_RESERVED = 24;
export const SOLICIT_OFFSET_CHECK = 28;
/** Mixed into the check word so an all-zero slot (a never-written ring entry) is rejected. */
export const SOLICIT_MAGIC = 0x5d1c17a9;
const HEAD_IPV4 = (SOLICIT_VERSION << 8) | SOLICIT_FAMILY_IPV4;
const HEAD_IPV6 = (SOLICIT_VERSION << 8) | SOLICIT_FAMILY_IPV6;

/** Result codes of encodeSolicit/decodeSolicit. */
export const SolicitCode = {
  ok: 0,
  /** Fewer than SOLICIT_BYTES bytes left in the view at that offset (or a negative offset). */
  truncated: 1,
  /** An Int32Array view was given a byte offset that is not a multiple of 4. */
  misaligned: 2,
  /** The check word does not match the other seven words. */
  bad_check: 3,
  /** The check word matches but the reserved word is not zero. */
  reserved_nonzero: 4,
  /** The check matches but the head's version is not 2 (or its bits 16..31 are set). */
  bad_version: 5,
  /** Version 2 with a family other than 4 or 6. */
  bad_family: 6,
  /** An IPv4 message whose address words a1..a3 are not zero. */
  padding_nonzero: 7,
} as const;
export type SolicitCodeValue = (typeof SolicitCode)[keyof typeof SolicitCode];
export type SolicitCodeName = keyof typeof SolicitCode;
export const SOLICIT_CODE_NAMES: readonly SolicitCodeName[] = [
  "ok",
  "truncated",
  "misaligned",
  "bad_check",
  "reserved_nonzero",
  "bad_version",
  "bad_family",
  "padding_nonzero",
];

/** Decoded fields; allocate once and reuse for every message. */
export interface SolicitFields {
  /** 4 or 6. */
  family: number;
  ifindex: number;
  /** IPv4: the address (= a0); IPv6: 0. */
  ip: number;
  /** The address words (IPv4: a0 = ip, a1..a3 = 0), unsigned. */
  a0: number;
  a1: number;
  a2: number;
  a3: number;
}

export function createSolicitFields(): SolicitFields {
  return { family: 0, ifindex: 0, ip: 0, a0: 0, a1: 0, a2: 0, a3: 0 };
}

export type SolicitView = DataView | Int32Array;

// Int32Array views read native byte order; the wire format is little-endian.
const nativeLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function mix(h: number, w: number, k: number): number {
  h = Math.imul(h ^ w, k);
  return (h << 15) | (h >>> 17);
}

/** The check word: a keyed 32-bit mix of the seven other words (murmur3 body and finalizer), as a u32. */
export function solicitCheck(
  head: number,
  ifindex: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  reserved: number,
): number {
  return checkBits(head | 0, ifindex | 0, a0 | 0, a1 | 0, a2 | 0, a3 | 0, reserved | 0) >>> 0;
}

// Int32 in, int32 out: when V8 does not inline it (the handler's caller is large), a u32 above
// 2^31 as an argument or a result would be boxed into a new HeapNumber per message.
function checkBits(
  head: number,
  ifindex: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  reserved: number,
): number {
  let h = SOLICIT_MAGIC;
  h = mix(h, head, 0xcc9e2d51);
  h = mix(h, ifindex, 0x1b873593);
  h = mix(h, a0, 0xcc9e2d51);
  h = mix(h, a1, 0x1b873593);
  h = mix(h, a2, 0xcc9e2d51);
  h = mix(h, a3, 0x1b873593);
  h = mix(h, reserved, 0xcc9e2d51);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function spaceCode(view: SolicitView, byteOffset: number): SolicitCodeValue {
  if (!(byteOffset >= 0) || byteOffset > view.byteLength - SOLICIT_BYTES || byteOffset % 1 !== 0) {
    return SolicitCode.truncated;
  }
  if (view instanceof Int32Array) {
    if (byteOffset % 4 !== 0) return SolicitCode.misaligned;
    if (!nativeLittleEndian) throw new Error("solicit: Int32Array views need a little-endian host; use a DataView");
  }
  return SolicitCode.ok;
}

/**
 * Writes eight raw words (the last one as given: tests and fuzzers forge messages with it).
 * Returns ok, truncated or misaligned; nothing is written unless ok.
 */
export function writeSolicitWords(view: SolicitView, byteOffset: number, words: ArrayLike<number>): SolicitCodeValue {
  const space = spaceCode(view, byteOffset);
  if (space !== SolicitCode.ok) return space;
  if (view instanceof Int32Array) {
    const w = byteOffset >>> 2;
    for (let i = 0; i < 8; i++) view[w + i] = words[i] ?? 0;
  } else {
    for (let i = 0; i < 8; i++) view.setUint32(byteOffset + i * 4, (words[i] ?? 0) >>> 0, true);
  }
  return SolicitCode.ok;
}

function put(
  view: SolicitView,
  byteOffset: number,
  head: number,
  ifindex: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): SolicitCodeValue {
  const space = spaceCode(view, byteOffset);
  if (space !== SolicitCode.ok) return space;
  const check = checkBits(head, ifindex | 0, a0 | 0, a1 | 0, a2 | 0, a3 | 0, 0);
  if (view instanceof Int32Array) {
    const w = byteOffset >>> 2;
    view[w] = head;
    view[w + 1] = ifindex;
    view[w + 2] = a0;
    view[w + 3] = a1;
    view[w + 4] = a2;
    view[w + 5] = a3;
    view[w + 6] = 0;
    view[w + 7] = check;
  } else {
    view.setUint32(byteOffset, head, true);
    view.setUint32(byteOffset + 4, ifindex >>> 0, true);
    view.setUint32(byteOffset + 8, a0 >>> 0, true);
    view.setUint32(byteOffset + 12, a1 >>> 0, true);
    view.setUint32(byteOffset + 16, a2 >>> 0, true);
    view.setUint32(byteOffset + 20, a3 >>> 0, true);
    view.setUint32(byteOffset + 24, 0, true);
    view.setUint32(byteOffset + 28, check >>> 0, true);
  }
  return SolicitCode.ok;
}

/**
 * Writes one IPv4 message at byteOffset (relative to the view's start). Returns ok, truncated or
 * misaligned; nothing is written unless ok. ip and ifindex are taken as u32 or as int32 bits
 * (`ip | 0`), which write the same bytes; int32 bits avoid boxing a u32 above 2^31 per call.
 */
export function encodeSolicit(view: SolicitView, byteOffset: number, ip: number, ifindex: number): SolicitCodeValue {
  return put(view, byteOffset, HEAD_IPV4, ifindex, ip, 0, 0, 0);
}

/** Writes one IPv6 message: the address as the four words of shared/ip6.ts (u32 or int32 bits). */
export function encodeSolicit6(
  view: SolicitView,
  byteOffset: number,
  ifindex: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): SolicitCodeValue {
  return put(view, byteOffset, HEAD_IPV6, ifindex, a0, a1, a2, a3);
}

/** Scratch for decode (int32 bits, never boxed): reading into it first keeps `out` unchanged on a failure. */
const scratch = new Int32Array(8);

function readWords(view: SolicitView, byteOffset: number): void {
  if (view instanceof Int32Array) {
    const w = byteOffset >>> 2;
    for (let i = 0; i < 8; i++) scratch[i] = view[w + i];
  } else {
    for (let i = 0; i < 8; i++) scratch[i] = view.getInt32(byteOffset + i * 4, true);
  }
}

/**
 * Reads and validates one message at byteOffset (relative to the view's start). On ok, `out`
 * holds the family, ifindex and address words as unsigned numbers; otherwise it is unchanged.
 * The check is tested first: garbage says bad_check; the other codes mean a well-formed message
 * from a producer speaking another version (or a buggy one).
 */
export function decodeSolicit(view: SolicitView, byteOffset: number, out: SolicitFields): SolicitCodeValue {
  const space = spaceCode(view, byteOffset);
  if (space !== SolicitCode.ok) return space;
  readWords(view, byteOffset);
  const s = scratch;
  if (s[7] !== checkBits(s[0], s[1], s[2], s[3], s[4], s[5], s[6])) return SolicitCode.bad_check;
  const head = s[0];
  if (head >>> 8 !== SOLICIT_VERSION) return SolicitCode.bad_version;
  if (head !== HEAD_IPV4 && head !== HEAD_IPV6) return SolicitCode.bad_family;
  if (s[6] !== 0) return SolicitCode.reserved_nonzero;
  const v4 = head === HEAD_IPV4;
  if (v4 && (s[3] | s[4] | s[5]) !== 0) return SolicitCode.padding_nonzero;
  out.family = v4 ? SOLICIT_FAMILY_IPV4 : SOLICIT_FAMILY_IPV6;
  out.ifindex = s[1] >>> 0;
  out.ip = v4 ? s[2] >>> 0 : 0;
  out.a0 = s[2] >>> 0;
  out.a1 = s[3] >>> 0;
  out.a2 = s[4] >>> 0;
  out.a3 = s[5] >>> 0;
  return SolicitCode.ok;
}
