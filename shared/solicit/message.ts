// The neighbor-solicit message a net tile publishes to the netlink tile when it lacks the MAC of a
// next hop. Declared once here; both ends encode and decode only through these functions.
//
// Layout: 16 bytes, four little-endian u32 words, every bit meaningful or required to be zero.
//   0  ip        IPv4 address, host-order number (198.18.0.1 = 0xc6120001)
//   4  ifindex   kernel interface index the next hop is on
//   8  reserved  must be 0 (a later version may use it; today it marks a foreign producer)
//  12  check     solicitCheck(ip, ifindex, reserved): garbage, torn or zeroed slots fail it
//
// Reading and writing are allocation-free: they work in place on a DataView or an Int32Array
// over ring memory, and decoded fields go into a caller-owned SolicitFields.

export const SOLICIT_BYTES = 16;
export const SOLICIT_OFFSET_IP = 0;
export const SOLICIT_OFFSET_IFINDEX = 4;
export const SOLICIT_OFFSET_RESERVED = 8;
export const SOLICIT_OFFSET_CHECK = 12;
/** Mixed into the check word so an all-zero slot (a never-written ring entry) is rejected. */
export const SOLICIT_MAGIC = 0x5d1c17a9;

/** Result codes of encodeSolicit/decodeSolicit. */
export const SolicitCode = {
  ok: 0,
  /** Fewer than SOLICIT_BYTES bytes left in the view at that offset (or a negative offset). */
  truncated: 1,
  /** An Int32Array view was given a byte offset that is not a multiple of 4. */
  misaligned: 2,
  /** The check word does not match the other three words. */
  bad_check: 3,
  /** The check word matches but the reserved word is not zero. */
  reserved_nonzero: 4,
} as const;
export type SolicitCodeValue = (typeof SolicitCode)[keyof typeof SolicitCode];
export type SolicitCodeName = keyof typeof SolicitCode;
export const SOLICIT_CODE_NAMES: readonly SolicitCodeName[] = [
  "ok",
  "truncated",
  "misaligned",
  "bad_check",
  "reserved_nonzero",
];

/** Decoded fields; allocate once and reuse for every message. */
export interface SolicitFields {
  ip: number;
  ifindex: number;
}

export function createSolicitFields(): SolicitFields {
  return { ip: 0, ifindex: 0 };
}

export type SolicitView = DataView | Int32Array;

// Int32Array views read native byte order; the wire format is little-endian.
const nativeLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The check word: a keyed 32-bit mix of the three other words (murmur3 finalizer steps). */
export function solicitCheck(ip: number, ifindex: number, reserved: number): number {
  let h = Math.imul((ip ^ SOLICIT_MAGIC) | 0, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ ifindex, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  h = Math.imul(h ^ reserved, 0x85ebca6b);
  h ^= h >>> 16;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 13;
  return h >>> 0;
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
 * Writes one message at byteOffset (relative to the view's start). Returns ok, truncated or
 * misaligned; nothing is written unless ok. ip and ifindex are taken as u32 or as int32 bits
 * (`ip | 0`), which write the same bytes; int32 bits avoid boxing a u32 above 2^31 per call.
 */
export function encodeSolicit(view: SolicitView, byteOffset: number, ip: number, ifindex: number): SolicitCodeValue {
  const space = spaceCode(view, byteOffset);
  if (space !== SolicitCode.ok) return space;
  const check = solicitCheck(ip, ifindex, 0);
  if (view instanceof Int32Array) {
    const w = byteOffset >>> 2;
    view[w] = ip;
    view[w + 1] = ifindex;
    view[w + 2] = 0;
    view[w + 3] = check;
  } else {
    view.setUint32(byteOffset + SOLICIT_OFFSET_IP, ip >>> 0, true);
    view.setUint32(byteOffset + SOLICIT_OFFSET_IFINDEX, ifindex >>> 0, true);
    view.setUint32(byteOffset + SOLICIT_OFFSET_RESERVED, 0, true);
    view.setUint32(byteOffset + SOLICIT_OFFSET_CHECK, check, true);
  }
  return SolicitCode.ok;
}

/**
 * Reads and validates one message at byteOffset (relative to the view's start). On ok, `out`
 * holds ip and ifindex as unsigned numbers; otherwise `out` is left unchanged.
 * A bad check word is reported before a nonzero reserved word: garbage says bad_check, and
 * reserved_nonzero means a well-formed message from a producer speaking another version.
 */
export function decodeSolicit(view: SolicitView, byteOffset: number, out: SolicitFields): SolicitCodeValue {
  const space = spaceCode(view, byteOffset);
  if (space !== SolicitCode.ok) return space;
  let ip: number;
  let ifindex: number;
  let reserved: number;
  let check: number;
  if (view instanceof Int32Array) {
    const w = byteOffset >>> 2;
    ip = view[w] >>> 0;
    ifindex = view[w + 1] >>> 0;
    reserved = view[w + 2] >>> 0;
    check = view[w + 3] >>> 0;
  } else {
    ip = view.getUint32(byteOffset + SOLICIT_OFFSET_IP, true);
    ifindex = view.getUint32(byteOffset + SOLICIT_OFFSET_IFINDEX, true);
    reserved = view.getUint32(byteOffset + SOLICIT_OFFSET_RESERVED, true);
    check = view.getUint32(byteOffset + SOLICIT_OFFSET_CHECK, true);
  }
  if (check !== solicitCheck(ip, ifindex, reserved)) return SolicitCode.bad_check;
  if (reserved !== 0) return SolicitCode.reserved_nonzero;
  out.ip = ip;
  out.ifindex = ifindex;
  return SolicitCode.ok;
}
