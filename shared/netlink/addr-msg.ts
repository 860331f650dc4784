// Interface addresses (RTM_*ADDR), IPv4 and IPv6, for the netstate library. Decoding never
// throws: a message that cannot be trusted is dropped (undefined) and counted in `malformed`.
import { formatIp } from "./address-text";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFA_ADDRESS,
  IFA_BROADCAST,
  IFA_CACHEINFO,
  IFA_CACHEINFO_SIZE,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFADDRMSG_SIZE,
  IFNAMSIZ,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from "./constants";
import type { MalformedReason } from "./counters";
import { cStringAt } from "./link-msg";
import { AttrCursor, type AttrVisitor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

export type IpFamily = 4 | 6;

export interface Address {
  family: IpFamily;
  ifindex: number;
  prefixLen: number;
  /** The interface's own address (IFA_LOCAL, else IFA_ADDRESS). */
  local: string;
  /** IFA_ADDRESS when it differs from local (the peer of a point-to-point address). */
  peer?: string;
  broadcast?: string;
  label?: string;
  /** RT_SCOPE_* (0 universe, 253 link, 254 host). */
  scope: number;
  /** IFA_F_* (IFA_FLAGS when present, else the 8-bit ifa_flags). */
  flags: number;
  /** Seconds; 0xffffffff = forever. */
  validLifetime?: number;
  preferredLifetime?: number;
}

export function familyOf(bytes: Uint8Array): IpFamily {
  return bytes.byteLength === 4 ? 4 : 6;
}

export function afOf(family: IpFamily | undefined): number {
  return family === 4 ? AF_INET : family === 6 ? AF_INET6 : AF_UNSPEC;
}

/**
 * The one attribute walk of an address message (ifaddrmsg + IFA_*), shared by the library's
 * AddressDecoder and the netlink tile's record builder (decode.ts): numbers and byte offsets,
 * every length checked. IFA_LABEL, IFA_FLAGS and IFA_CACHEINFO (only the library reads them) go
 * to its visitor.
 */
export class AddrScan {
  reason: MalformedReason | undefined;
  af = 0;
  /** 4 for AF_INET, else 16. */
  addrSize = 4;
  prefixLen = 0;
  /** The 8-bit ifa_flags. */
  flags = 0;
  scope = 0;
  ifindex = 0;
  /** Data offsets (addrSize bytes) of IFA_LOCAL, IFA_ADDRESS and IFA_BROADCAST; -1 when absent. */
  localAt = -1;
  addressAt = -1;
  broadcastAt = -1;
  private readonly attrs: AttrCursor;

  constructor(readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
  }

  /** The ifaddrmsg of the cursor's current message; false (short_payload) when it does not fit. */
  fixed(): boolean {
    const { payloadStart: p, payloadEnd: end, view: v } = this.cursor;
    if (end - p < IFADDRMSG_SIZE) return this.fail("short_payload");
    this.af = v.getUint8(p);
    this.addrSize = this.af === AF_INET ? 4 : 16;
    this.prefixLen = v.getUint8(p + 1);
    this.flags = v.getUint8(p + 2);
    this.scope = v.getUint8(p + 3);
    this.ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    return true;
  }

  /** Prefix length, ifindex, then the attributes, after fixed(). The first fault ends the walk
   *  (false, `reason`); an address needs IFA_LOCAL or IFA_ADDRESS. */
  walk(extra?: AttrVisitor): boolean {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    const size = this.addrSize;
    if (this.prefixLen > size * 8) return this.fail("bad_prefix_len");
    if (this.ifindex < 1) return this.fail("bad_ifindex");
    this.localAt = this.addressAt = this.broadcastAt = -1;
    const a = this.attrs;
    a.begin(p + align4(IFADDRMSG_SIZE), end);
    while (a.next()) {
      switch (a.type) {
        case IFA_ADDRESS:
        case IFA_LOCAL:
        case IFA_BROADCAST:
          if (a.dataLength !== size) return this.fail("bad_attr_size");
          if (a.type === IFA_ADDRESS) this.addressAt = a.dataStart;
          else if (a.type === IFA_LOCAL) this.localAt = a.dataStart;
          else this.broadcastAt = a.dataStart;
          break;
        default:
          if (extra !== undefined && !extra.attr(a.type, a.dataStart, a.dataLength)) return this.fail("bad_attr_size");
      }
    }
    if (a.malformed) return this.fail(a.malformed);
    if (this.localAt < 0 && this.addressAt < 0) return this.fail("missing_attr");
    return true;
  }

  private fail(reason: MalformedReason): false {
    this.reason = reason;
    return false;
  }
}

/** Decodes address messages into Address: a projection of AddrScan, with address strings. */
export class AddressDecoder implements AttrVisitor {
  malformed = 0;
  private readonly scan: AddrScan;
  /** The address being decoded, for attr(). */
  private current: Omit<Address, "local"> | undefined;

  constructor(private readonly cursor: MessageCursor) {
    this.scan = new AddrScan(cursor);
  }

  address(): Address | undefined {
    const s = this.scan;
    if (!s.fixed() || (s.af !== AF_INET && s.af !== AF_INET6)) return this.drop();
    const out: Omit<Address, "local"> = {
      family: s.af === AF_INET ? 4 : 6,
      ifindex: s.ifindex,
      prefixLen: s.prefixLen,
      scope: s.scope,
      flags: s.flags,
    };
    this.current = out;
    const walked = s.walk(this);
    this.current = undefined;
    if (!walked) return this.drop();
    if (s.broadcastAt >= 0) out.broadcast = this.ip(s.broadcastAt);
    const address = s.addressAt >= 0 ? this.ip(s.addressAt) : undefined;
    const own = s.localAt >= 0 ? this.ip(s.localAt) : (address as string);
    return { ...out, local: own, ...(address !== undefined && address !== own ? { peer: address } : {}) };
  }

  /** The attributes AddrScan leaves to the library; false when one is malformed. */
  attr(type: number, start: number, length: number): boolean {
    const out = this.current as Omit<Address, "local">;
    const v = this.cursor.view;
    switch (type) {
      case IFA_LABEL:
        out.label = cStringAt(this.cursor.bytes, start, length, IFNAMSIZ);
        return out.label !== undefined;
      case IFA_FLAGS:
        if (length !== 4) return false;
        out.flags = v.getUint32(start, HOST_LITTLE_ENDIAN);
        return true;
      case IFA_CACHEINFO:
        if (length < IFA_CACHEINFO_SIZE) return false;
        out.preferredLifetime = v.getUint32(start, HOST_LITTLE_ENDIAN);
        out.validLifetime = v.getUint32(start + 4, HOST_LITTLE_ENDIAN);
        return true;
      default:
        return true;
    }
  }

  private ip(at: number): string {
    return formatIp(this.cursor.bytes.subarray(at, at + this.scan.addrSize));
  }

  private drop(): undefined {
    this.malformed++;
    return undefined;
  }
}

export function addressDumpRequest(seq: number, family: IpFamily | undefined): Uint8Array {
  const b = new RequestBuilder(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
  b.u8(b.struct(IFADDRMSG_SIZE), afOf(family));
  return b.finish();
}

export interface AddressSpec {
  ifindex: number;
  /** 4 or 16 bytes. */
  local: Uint8Array;
  prefixLen: number;
  peer?: Uint8Array;
  broadcast?: Uint8Array;
  label?: string;
  scope?: number;
  /** IFA_F_* (e.g. IFA_F_NODAD 0x02, IFA_F_NOPREFIXROUTE 0x200). */
  flags?: number;
  validLifetime?: number;
  preferredLifetime?: number;
}

/** RTM_NEWADDR (create; replace when asked) or RTM_DELADDR for one address, as iproute2 sends them. */
export function addressRequest(seq: number, op: "add" | "replace" | "delete", spec: AddressSpec): Uint8Array {
  const flags =
    op === "delete"
      ? NLM_F_REQUEST | NLM_F_ACK
      : NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (op === "add" ? NLM_F_EXCL : NLM_F_REPLACE);
  const b = new RequestBuilder(op === "delete" ? RTM_DELADDR : RTM_NEWADDR, flags, seq);
  const at = b.struct(IFADDRMSG_SIZE);
  b.u8(at, spec.local.byteLength === 4 ? AF_INET : AF_INET6)
    .u8(at + 1, spec.prefixLen)
    .u8(at + 2, (spec.flags ?? 0) & 0xff)
    .u8(at + 3, spec.scope ?? 0)
    .u32(at + 4, spec.ifindex);
  b.attrBytes(IFA_LOCAL, spec.local);
  b.attrBytes(IFA_ADDRESS, spec.peer ?? spec.local);
  if (spec.broadcast !== undefined) b.attrBytes(IFA_BROADCAST, spec.broadcast);
  if (spec.label !== undefined) b.attrString(IFA_LABEL, spec.label);
  if (spec.flags !== undefined && spec.flags > 0xff) b.attrU32(IFA_FLAGS, spec.flags);
  if (op !== "delete" && (spec.validLifetime !== undefined || spec.preferredLifetime !== undefined)) {
    const ci = new Uint8Array(IFA_CACHEINFO_SIZE);
    const cv = new DataView(ci.buffer);
    const valid = spec.validLifetime ?? 0xffffffff;
    cv.setUint32(0, spec.preferredLifetime ?? valid, HOST_LITTLE_ENDIAN);
    cv.setUint32(4, valid, HOST_LITTLE_ENDIAN);
    b.attrBytes(IFA_CACHEINFO, ci);
  }
  return b.finish();
}
