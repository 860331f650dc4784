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
import { cStringAt } from "./link-msg";
import { AttrCursor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

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

export class AddressDecoder {
  malformed = 0;
  private readonly attrs: AttrCursor;

  constructor(private readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
  }

  address(): Address | undefined {
    const { payloadStart: p, payloadEnd: end, bytes, view: v } = this.cursor;
    if (end - p < IFADDRMSG_SIZE) return this.drop();
    const af = v.getUint8(p);
    if (af !== AF_INET && af !== AF_INET6) return this.drop();
    const size = af === AF_INET ? 4 : 16;
    const prefixLen = v.getUint8(p + 1);
    const ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    if (prefixLen > size * 8 || ifindex < 1) return this.drop();
    let local: string | undefined;
    let address: string | undefined;
    const out: Omit<Address, "local"> = {
      family: af === AF_INET ? 4 : 6,
      ifindex,
      prefixLen,
      scope: v.getUint8(p + 3),
      flags: v.getUint8(p + 2),
    };
    const a = this.attrs;
    a.begin(p + align4(IFADDRMSG_SIZE), end);
    while (a.next()) {
      const data = bytes.subarray(a.dataStart, a.dataStart + a.dataLength);
      switch (a.type) {
        case IFA_LOCAL:
        case IFA_ADDRESS:
        case IFA_BROADCAST:
          if (a.dataLength !== size) return this.drop();
          if (a.type === IFA_LOCAL) local = formatIp(data);
          else if (a.type === IFA_ADDRESS) address = formatIp(data);
          else out.broadcast = formatIp(data);
          break;
        case IFA_LABEL:
          out.label = cStringAt(bytes, a.dataStart, a.dataLength, IFNAMSIZ);
          if (out.label === undefined) return this.drop();
          break;
        case IFA_FLAGS:
          if (a.dataLength !== 4) return this.drop();
          out.flags = v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
          break;
        case IFA_CACHEINFO:
          if (a.dataLength < IFA_CACHEINFO_SIZE) return this.drop();
          out.preferredLifetime = v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
          out.validLifetime = v.getUint32(a.dataStart + 4, HOST_LITTLE_ENDIAN);
          break;
      }
    }
    const own = local ?? address;
    if (a.malformed || own === undefined) return this.drop();
    return { ...out, local: own, ...(address !== undefined && address !== own ? { peer: address } : {}) };
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
