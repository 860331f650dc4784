// Neighbors (RTM_*NEIGH), IPv4 and IPv6, for the netstate library: decoding, add / replace /
// delete, and the NTF_USE resolution request. Decoding never throws: a message that cannot be
// trusted is dropped (undefined) and counted in `malformed`.
import { afOf, type IpFamily } from "./addr-msg";
import { formatIp, formatMac } from "./address-text";
import {
  AF_INET,
  AF_INET6,
  NDA_DST,
  NDA_LLADDR,
  NDMSG_SIZE,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  NTF_PROXY,
  NTF_USE,
  RTM_DELNEIGH,
  RTM_GETNEIGH,
  RTM_NEWNEIGH,
} from "./constants";
import type { MalformedReason } from "./counters";
import { AttrCursor, type AttrVisitor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

export const NDA_PROBES = 4;
export const NTF_ROUTER = 0x80;

/** NUD_* states by bit, named as iproute2 prints them. */
export const NEIGH_STATES: readonly [number, string][] = [
  [0x01, "INCOMPLETE"],
  [0x02, "REACHABLE"],
  [0x04, "STALE"],
  [0x08, "DELAY"],
  [0x10, "PROBE"],
  [0x20, "FAILED"],
  [0x40, "NOARP"],
  [0x80, "PERMANENT"],
];

export interface Neighbor {
  family: IpFamily;
  ifindex: number;
  dst: string;
  /** Hardware address, absent while unresolved. */
  lladdr?: string;
  /** NUD_* bit mask (0x02 REACHABLE, 0x04 STALE, 0x80 PERMANENT...). */
  state: number;
  /** NTF_* (0x80 router, 0x08 proxy). */
  flags: number;
  probes?: number;
}

/**
 * The one attribute walk of a neighbor message (ndmsg + NDA_*), shared by the library's
 * NeighborDecoder and the netlink tile's record builder (decode.ts): numbers and byte offsets,
 * every length checked. NDA_PROBES and other attributes only the library reads go to its visitor.
 */
export class NeighScan {
  reason: MalformedReason | undefined;
  af = 0;
  /** 4 for AF_INET, else 16. */
  addrSize = 4;
  ifindex = 0;
  state = 0;
  flags = 0;
  /** NDA_DST's data offset (addrSize bytes), -1 when absent. */
  dstAt = -1;
  /** NDA_LLADDR's data offset (-1 when absent) and length. */
  lladdrAt = -1;
  lladdrLength = 0;
  private readonly attrs: AttrCursor;

  constructor(readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
  }

  /** The ndmsg of the cursor's current message; false (short_payload) when it does not fit. */
  fixed(): boolean {
    const { payloadStart: p, payloadEnd: end, view: v } = this.cursor;
    if (end - p < NDMSG_SIZE) return this.fail("short_payload");
    this.af = v.getUint8(p);
    this.addrSize = this.af === AF_INET ? 4 : 16;
    this.ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    this.state = v.getUint16(p + 8, HOST_LITTLE_ENDIAN);
    this.flags = v.getUint8(p + 10);
    return true;
  }

  /** The attributes, after fixed(). A hardware address must have lladdrSize bytes (0: any up to 32,
   *  as other link types than Ethernet have). The first fault ends the walk (false, `reason`). */
  walk(lladdrSize: number, extra?: AttrVisitor): boolean {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    this.dstAt = this.lladdrAt = -1;
    const a = this.attrs;
    a.begin(p + align4(NDMSG_SIZE), end);
    while (a.next()) {
      if (a.type === NDA_DST) {
        if (a.dataLength !== this.addrSize) return this.fail("bad_attr_size");
        this.dstAt = a.dataStart;
      } else if (a.type === NDA_LLADDR) {
        if (lladdrSize > 0 ? a.dataLength !== lladdrSize : a.dataLength > MAX_ADDR_LEN)
          return this.fail("bad_lladdr_size");
        this.lladdrAt = a.dataStart;
        this.lladdrLength = a.dataLength;
      } else if (extra !== undefined && !extra.attr(a.type, a.dataStart, a.dataLength)) {
        return this.fail("bad_attr_size");
      }
    }
    if (a.malformed) return this.fail(a.malformed);
    if (this.dstAt < 0) return this.fail("missing_attr");
    return true;
  }

  private fail(reason: MalformedReason): false {
    this.reason = reason;
    return false;
  }
}

/** The kernel's MAX_ADDR_LEN: the longest hardware address. */
const MAX_ADDR_LEN = 32;

/** Decodes neighbor messages into Neighbor: a projection of NeighScan, with address strings. */
export class NeighborDecoder implements AttrVisitor {
  malformed = 0;
  private readonly scan: NeighScan;
  private probes: number | undefined;

  constructor(private readonly cursor: MessageCursor) {
    this.scan = new NeighScan(cursor);
  }

  /** A neighbor entry; proxy entries are decoded too (flags has NTF_PROXY). */
  neighbor(): Neighbor | undefined {
    const s = this.scan;
    if (!s.fixed() || (s.af !== AF_INET && s.af !== AF_INET6)) return this.drop();
    // Proxy entries may have no device.
    if (s.ifindex < 0 || (s.ifindex === 0 && (s.flags & NTF_PROXY) === 0)) return this.drop();
    this.probes = undefined;
    if (!s.walk(0, this)) return this.drop();
    const bytes = this.cursor.bytes;
    const out: Neighbor = {
      family: s.af === AF_INET ? 4 : 6,
      ifindex: s.ifindex,
      state: s.state,
      flags: s.flags,
      dst: formatIp(bytes.subarray(s.dstAt, s.dstAt + s.addrSize)),
    };
    if (s.lladdrAt >= 0) out.lladdr = formatMac(bytes.subarray(s.lladdrAt, s.lladdrAt + s.lladdrLength));
    if (this.probes !== undefined) out.probes = this.probes;
    return out;
  }

  /** NDA_PROBES, the one attribute NeighScan leaves to the library. */
  attr(type: number, start: number, length: number): boolean {
    if (type !== NDA_PROBES) return true;
    if (length !== 4) return false;
    this.probes = this.cursor.view.getUint32(start, HOST_LITTLE_ENDIAN);
    return true;
  }

  private drop(): undefined {
    this.malformed++;
    return undefined;
  }
}

/** A dump of neighbor entries, or of proxy entries (the kernel keeps those in another table). */
export function neighborDumpRequest(seq: number, family: IpFamily | undefined, proxy = false): Uint8Array {
  const b = new RequestBuilder(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq);
  const at = b.struct(NDMSG_SIZE);
  b.u8(at, afOf(family));
  if (proxy) b.u8(at + 10, NTF_PROXY);
  return b.finish();
}

export interface NeighborSpec {
  ifindex: number;
  /** 4 or 16 bytes. */
  dst: Uint8Array;
  lladdr?: Uint8Array;
  state: number;
  /** NTF_* flags (NTF_ROUTER 0x80, NTF_PROXY 0x08, NTF_USE 0x01). */
  flags: number;
}

/** RTM_NEWNEIGH (add: EEXIST when present; replace; use: NTF_USE resolution) or RTM_DELNEIGH. */
export function neighborRequest(seq: number, op: "add" | "replace" | "delete" | "use", spec: NeighborSpec): Uint8Array {
  const create = op === "add" ? NLM_F_CREATE | NLM_F_EXCL : NLM_F_CREATE | NLM_F_REPLACE;
  const b = new RequestBuilder(
    op === "delete" ? RTM_DELNEIGH : RTM_NEWNEIGH,
    NLM_F_REQUEST | NLM_F_ACK | (op === "delete" ? 0 : create),
    seq,
  );
  const at = b.struct(NDMSG_SIZE);
  b.u8(at, spec.dst.byteLength === 4 ? AF_INET : AF_INET6)
    .u32(at + 4, spec.ifindex)
    .u16(at + 8, spec.state)
    .u8(at + 10, op === "use" ? spec.flags | NTF_USE : spec.flags);
  b.attrBytes(NDA_DST, spec.dst);
  if (spec.lladdr !== undefined && op !== "delete") b.attrBytes(NDA_LLADDR, spec.lladdr);
  return b.finish();
}
