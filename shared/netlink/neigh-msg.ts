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
import { AttrCursor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

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

export class NeighborDecoder {
  malformed = 0;
  private readonly attrs: AttrCursor;

  constructor(private readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
  }

  /** A neighbor entry; proxy entries are decoded too (flags has NTF_PROXY). */
  neighbor(): Neighbor | undefined {
    const { payloadStart: p, payloadEnd: end, view: v, bytes } = this.cursor;
    if (end - p < NDMSG_SIZE) return this.drop();
    const af = v.getUint8(p);
    if (af !== AF_INET && af !== AF_INET6) return this.drop();
    const size = af === AF_INET ? 4 : 16;
    const ifindex = v.getInt32(p + 4, HOST_LITTLE_ENDIAN);
    const flags = v.getUint8(p + 10);
    if (ifindex < 0 || (ifindex === 0 && (flags & NTF_PROXY) === 0)) return this.drop();
    let dst: string | undefined;
    const out: Omit<Neighbor, "dst"> = {
      family: af === AF_INET ? 4 : 6,
      ifindex,
      state: v.getUint16(p + 8, HOST_LITTLE_ENDIAN),
      flags,
    };
    const a = this.attrs;
    a.begin(p + align4(NDMSG_SIZE), end);
    while (a.next()) {
      if (a.type === NDA_DST) {
        if (a.dataLength !== size) return this.drop();
        dst = formatIp(bytes.subarray(a.dataStart, a.dataStart + size));
      } else if (a.type === NDA_LLADDR) {
        if (a.dataLength > 32) return this.drop();
        out.lladdr = formatMac(bytes.subarray(a.dataStart, a.dataStart + a.dataLength));
      } else if (a.type === NDA_PROBES) {
        if (a.dataLength !== 4) return this.drop();
        out.probes = v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
      }
    }
    if (a.malformed || dst === undefined) return this.drop();
    return { ...out, dst };
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
