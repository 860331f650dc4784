// Netlink framing: walking the messages of a datagram and the attributes of a message, with
// every length checked against its container, and building request messages. Headers and
// integer attributes are in host byte order; IPv4 addresses are network order on the wire.
// The cursors are reusable objects so that walking a datagram allocates nothing.
import { NLA_F_NESTED, NLA_TYPE_MASK, NLMSG_ALIGNTO, NLMSG_HDRLEN, RTA_HDRLEN } from "./constants";
import type { MalformedReason } from "./counters";

const utf8Encoder = new TextEncoder();

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function align4(n: number): number {
  return (n + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);
}

/** A DataView over exactly the bytes of `bytes` (which may be a subarray). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Walks the nlmsghdr-framed messages of one datagram. Offsets are relative to the buffer. */
export class MessageCursor {
  readonly view: DataView;
  private end = 0;
  private following = 0;
  /** Fields of the current message. */
  length = 0;
  type = 0;
  flags = 0;
  seq = 0;
  pid = 0;
  payloadStart = 0;
  payloadEnd = 0;
  /** Set when next() stopped because the rest of the datagram cannot be framed. */
  malformed: MalformedReason | undefined;

  constructor(readonly bytes: Uint8Array) {
    this.view = viewOf(bytes);
  }

  /** Starts over on the first `length` bytes of the buffer. */
  reset(length: number): void {
    this.resetRange(0, length);
  }

  /** Starts over on the datagram in bytes [start, end) of the buffer. */
  resetRange(start: number, end: number): void {
    this.end = Math.max(0, Math.min(end, this.bytes.byteLength));
    this.following = Math.max(0, start);
    this.malformed = undefined;
  }

  /** Moves to the next message: true when there is one, false at the end of the datagram or
   *  when the remaining bytes are not a valid message (then `malformed` says why). */
  next(): boolean {
    const start = this.following;
    const left = this.end - start;
    if (left <= 0) return false;
    if (left < NLMSG_HDRLEN) {
      this.malformed = "short_header";
      this.following = this.end;
      return false;
    }
    const v = this.view;
    const length = v.getUint32(start, HOST_LITTLE_ENDIAN);
    if (length < NLMSG_HDRLEN || length > left) {
      this.malformed = "bad_msg_len";
      this.following = this.end;
      return false;
    }
    this.length = length;
    this.type = v.getUint16(start + 4, HOST_LITTLE_ENDIAN);
    this.flags = v.getUint16(start + 6, HOST_LITTLE_ENDIAN);
    this.seq = v.getUint32(start + 8, HOST_LITTLE_ENDIAN);
    this.pid = v.getUint32(start + 12, HOST_LITTLE_ENDIAN);
    this.payloadStart = start + NLMSG_HDRLEN;
    this.payloadEnd = start + length;
    this.following = start + align4(length);
    return true;
  }
}

/** Takes the attributes a message kind's walk (RouteScan...) does not read itself: the netstate
 *  library's extra fields. Returns false when the attribute is malformed (the walk then fails). */
export interface AttrVisitor {
  attr(type: number, dataStart: number, dataLength: number): boolean;
}

/** Walks the rtattrs in [start, end). */
export class AttrCursor {
  private following = 0;
  private end = 0;
  /** Attribute type without the nested / byte-order flag bits. */
  type = 0;
  dataStart = 0;
  dataLength = 0;
  malformed: MalformedReason | undefined;

  constructor(readonly view: DataView) {}

  begin(start: number, end: number): void {
    this.following = start;
    this.end = end;
    this.malformed = undefined;
  }

  /** Next attribute: true when there is one; false at the end or on a bad attribute (`malformed`). */
  next(): boolean {
    const start = this.following;
    const left = this.end - start;
    if (left <= 0) return false;
    if (left < RTA_HDRLEN) {
      this.malformed = "attr_past_end";
      return false;
    }
    const length = this.view.getUint16(start, HOST_LITTLE_ENDIAN);
    if (length < RTA_HDRLEN) {
      this.malformed = "bad_attr_len";
      return false;
    }
    if (length > left) {
      this.malformed = "attr_past_end";
      return false;
    }
    this.type = this.view.getUint16(start + 2, HOST_LITTLE_ENDIAN) & NLA_TYPE_MASK;
    this.dataStart = start + RTA_HDRLEN;
    this.dataLength = length - RTA_HDRLEN;
    this.following = start + align4(length);
    return true;
  }
}

/** Builds one request message: header, a zeroed fixed struct, then attributes. */
export class RequestBuilder {
  private bytes: Uint8Array;
  private view: DataView;
  private length = NLMSG_HDRLEN;

  constructor(type: number, flags: number, seq: number, capacity = 256) {
    this.bytes = new Uint8Array(capacity);
    this.view = viewOf(this.bytes);
    this.view.setUint16(4, type, HOST_LITTLE_ENDIAN);
    this.view.setUint16(6, flags, HOST_LITTLE_ENDIAN);
    this.view.setUint32(8, seq >>> 0, HOST_LITTLE_ENDIAN);
    // nlmsg_pid 0: the kernel fills in our port id.
  }

  /** Reserves `size` zeroed bytes (a fixed struct such as rtmsg); returns its offset. */
  struct(size: number): number {
    return this.reserve(size);
  }

  u8(offset: number, value: number): this {
    this.view.setUint8(offset, value);
    return this;
  }

  u16(offset: number, value: number): this {
    this.view.setUint16(offset, value, HOST_LITTLE_ENDIAN);
    return this;
  }

  u32(offset: number, value: number): this {
    this.view.setUint32(offset, value >>> 0, HOST_LITTLE_ENDIAN);
    return this;
  }

  attrU8(type: number, value: number): this {
    this.view.setUint8(this.attr(type, 1), value);
    return this;
  }

  attrU16(type: number, value: number): this {
    this.view.setUint16(this.attr(type, 2), value, HOST_LITTLE_ENDIAN);
    return this;
  }

  /** An attribute without data (NLA_FLAG). */
  attrFlag(type: number): this {
    this.attr(type, 0);
    return this;
  }

  /** A NUL-terminated UTF-8 string attribute. */
  attrString(type: number, value: string): this {
    const encoded = utf8Encoder.encode(value);
    const at = this.attr(type, encoded.byteLength + 1);
    this.bytes.set(encoded, at);
    return this;
  }

  /** Opens a nested attribute; close it with nestEnd(returned offset). Strictly validated families
   *  (generic netlink ones such as ethtool) want NLA_F_NESTED on every nest: pass flagged. */
  nestStart(type: number, flagged = false): number {
    const at = this.reserve(RTA_HDRLEN);
    this.view.setUint16(at + 2, flagged ? type | NLA_F_NESTED : type, HOST_LITTLE_ENDIAN);
    return at;
  }

  nestEnd(at: number): this {
    this.view.setUint16(at, this.length - at, HOST_LITTLE_ENDIAN);
    return this;
  }

  attrU32(type: number, value: number): this {
    const at = this.attr(type, 4);
    this.view.setUint32(at, value >>> 0, HOST_LITTLE_ENDIAN);
    return this;
  }

  /** An IPv4 address attribute (network byte order) from a host-order number. */
  attrIpv4(type: number, ip: number): this {
    const at = this.attr(type, 4);
    this.view.setUint32(at, ip >>> 0, false);
    return this;
  }

  attrBytes(type: number, data: Uint8Array): this {
    const at = this.attr(type, data.byteLength);
    this.bytes.set(data, at);
    return this;
  }

  /** Bytes written so far (header included). */
  size(): number {
    return this.length;
  }

  /** The finished message (nlmsg_len set). */
  finish(): Uint8Array {
    this.view.setUint32(0, this.length, HOST_LITTLE_ENDIAN);
    return this.bytes.slice(0, this.length);
  }

  private attr(type: number, dataLength: number): number {
    const at = this.reserve(align4(RTA_HDRLEN + dataLength));
    this.view.setUint16(at, RTA_HDRLEN + dataLength, HOST_LITTLE_ENDIAN);
    this.view.setUint16(at + 2, type, HOST_LITTLE_ENDIAN);
    return at + RTA_HDRLEN;
  }

  private reserve(size: number): number {
    const at = this.length;
    const need = at + align4(size);
    if (need > this.bytes.byteLength) {
      const grown = new Uint8Array(Math.max(need, this.bytes.byteLength * 2));
      grown.set(this.bytes);
      this.bytes = grown;
      this.view = viewOf(grown);
    }
    this.bytes.fill(0, at, need);
    this.length = need;
    return at;
  }
}
