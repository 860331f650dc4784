// Generic netlink (family resolution) and the ethtool family's messages: features (offloads),
// channels and rings. Same framing as rtnetlink with a 4-byte genlmsghdr after nlmsghdr.
// Decoding never throws: what cannot be trusted is dropped (undefined) and counted.
import { NLM_F_ACK, NLM_F_REQUEST } from "./constants";
import { cStringAt } from "./link-msg";
import { AttrCursor, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

export const GENL_HDRLEN = 4;
export const GENL_ID_CTRL = 16;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;

export const ETHTOOL_GENL_NAME = "ethtool";
export const ETHTOOL_GENL_VERSION = 1;
export const ETHTOOL_MSG_FEATURES_GET = 11;
export const ETHTOOL_MSG_FEATURES_SET = 12;
export const ETHTOOL_MSG_RINGS_GET = 15;
export const ETHTOOL_MSG_RINGS_SET = 16;
export const ETHTOOL_MSG_CHANNELS_GET = 17;
export const ETHTOOL_MSG_CHANNELS_SET = 18;
/** Every ethtool request's first attribute is this nest (ETHTOOL_A_*_HEADER = 1). */
export const ETHTOOL_A_HEADER = 1;
export const ETHTOOL_A_HEADER_DEV_INDEX = 1;
export const ETHTOOL_A_HEADER_DEV_NAME = 2;
export const ETHTOOL_A_HEADER_FLAGS = 3;
export const ETHTOOL_FLAG_OMIT_REPLY = 1 << 1;
export const ETHTOOL_A_FEATURES_HW = 2;
export const ETHTOOL_A_FEATURES_WANTED = 3;
export const ETHTOOL_A_FEATURES_ACTIVE = 4;
export const ETHTOOL_A_FEATURES_NOCHANGE = 5;
export const ETHTOOL_A_BITSET_NOMASK = 1;
export const ETHTOOL_A_BITSET_SIZE = 2;
export const ETHTOOL_A_BITSET_BITS = 3;
export const ETHTOOL_A_BITSET_BITS_BIT = 1;
export const ETHTOOL_A_BITSET_BIT_INDEX = 1;
export const ETHTOOL_A_BITSET_BIT_NAME = 2;
export const ETHTOOL_A_BITSET_BIT_VALUE = 3;

/** ETHTOOL_A_CHANNELS_* (u32 each), in attribute order from 2. */
export const CHANNEL_FIELDS = [
  "rxMax",
  "txMax",
  "otherMax",
  "combinedMax",
  "rxCount",
  "txCount",
  "otherCount",
  "combinedCount",
] as const;
export type Channels = Partial<Record<(typeof CHANNEL_FIELDS)[number], number>>;
/** ETHTOOL_A_RINGS_* u32 attributes, in attribute order from 2 (later ones are not all u32). */
export const RING_FIELDS = ["rxMax", "rxMiniMax", "rxJumboMax", "txMax", "rx", "rxMini", "rxJumbo", "tx"] as const;
export type Rings = Partial<Record<(typeof RING_FIELDS)[number], number>>;

/** One device feature (offload) as ethtool -k shows it. */
export interface Feature {
  name: string;
  /** Currently on. */
  active: boolean;
  /** Requested by the user (may differ from active when a dependency forbids it). */
  wanted: boolean;
  /** The driver lets the user change it (in the hw set and not in nochange). */
  changeable: boolean;
}

/** A generic netlink request: nlmsghdr(type = family) + genlmsghdr(cmd, version). */
export function genlRequest(family: number, cmd: number, version: number, flags: number, seq: number): RequestBuilder {
  const b = new RequestBuilder(family, flags, seq);
  const at = b.struct(GENL_HDRLEN);
  b.u8(at, cmd).u8(at + 1, version);
  return b;
}

export function familyIdRequest(seq: number, name: string): Uint8Array {
  const b = genlRequest(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_REQUEST | NLM_F_ACK, seq);
  b.attrString(CTRL_ATTR_FAMILY_NAME, name);
  return b.finish();
}

/** An ethtool request for one device (by name) with header flags. */
export function ethtoolRequest(family: number, cmd: number, seq: number, dev: string, headerFlags = 0): RequestBuilder {
  const b = genlRequest(family, cmd, ETHTOOL_GENL_VERSION, NLM_F_REQUEST | NLM_F_ACK, seq);
  const header = b.nestStart(ETHTOOL_A_HEADER, true);
  b.attrString(ETHTOOL_A_HEADER_DEV_NAME, dev);
  if (headerFlags !== 0) b.attrU32(ETHTOOL_A_HEADER_FLAGS, headerFlags);
  b.nestEnd(header);
  return b;
}

/** FEATURES_SET: only the named bits change (a bitset without NOMASK lists the mask). */
export function featuresSetRequest(family: number, seq: number, dev: string, wanted: Map<string, boolean>): Uint8Array {
  const b = ethtoolRequest(family, ETHTOOL_MSG_FEATURES_SET, seq, dev, ETHTOOL_FLAG_OMIT_REPLY);
  const set = b.nestStart(ETHTOOL_A_FEATURES_WANTED, true);
  const bits = b.nestStart(ETHTOOL_A_BITSET_BITS, true);
  for (const [name, on] of wanted) {
    const bit = b.nestStart(ETHTOOL_A_BITSET_BITS_BIT, true);
    b.attrString(ETHTOOL_A_BITSET_BIT_NAME, name);
    if (on) b.attrFlag(ETHTOOL_A_BITSET_BIT_VALUE);
    b.nestEnd(bit);
  }
  b.nestEnd(bits).nestEnd(set);
  return b.finish();
}

/** CHANNELS_SET / RINGS_SET: the given u32 fields (attribute = 2 + index in `fields`). */
export function countsSetRequest(
  family: number,
  cmd: number,
  seq: number,
  dev: string,
  fields: readonly string[],
  values: Record<string, number | undefined>,
): Uint8Array {
  const b = ethtoolRequest(family, cmd, seq, dev);
  fields.forEach((field, i) => {
    const value = values[field];
    if (value !== undefined) b.attrU32(2 + i, value);
  });
  return b.finish();
}

export class GenlDecoder {
  malformed = 0;
  private readonly attrs: AttrCursor;
  private readonly bits: AttrCursor;
  private readonly bit: AttrCursor;

  constructor(private readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
    this.bits = new AttrCursor(cursor.view);
    this.bit = new AttrCursor(cursor.view);
  }

  /** CTRL_CMD_NEWFAMILY reply: the family id. */
  familyId(): number | undefined {
    const a = this.begin();
    if (a === undefined) return undefined;
    let id: number | undefined;
    while (a.next()) {
      if (a.type === CTRL_ATTR_FAMILY_ID) {
        if (a.dataLength !== 2) return this.drop();
        id = this.cursor.view.getUint16(a.dataStart, HOST_LITTLE_ENDIAN);
      }
    }
    if (a.malformed || id === undefined) return this.drop();
    return id;
  }

  /** FEATURES_GET reply: every feature the kernel names, in its order. */
  features(): Feature[] | undefined {
    const a = this.begin();
    if (a === undefined) return undefined;
    const sets = new Map<number, Map<string, boolean>>();
    while (a.next()) {
      if (a.type < ETHTOOL_A_FEATURES_HW || a.type > ETHTOOL_A_FEATURES_NOCHANGE) continue;
      const set = this.bitset(a.dataStart, a.dataStart + a.dataLength);
      if (set === undefined) return this.drop();
      sets.set(a.type, set);
    }
    const hw = sets.get(ETHTOOL_A_FEATURES_HW);
    const wanted = sets.get(ETHTOOL_A_FEATURES_WANTED);
    const active = sets.get(ETHTOOL_A_FEATURES_ACTIVE);
    const nochange = sets.get(ETHTOOL_A_FEATURES_NOCHANGE);
    if (a.malformed || !hw || !wanted || !active || !nochange) return this.drop();
    const names = new Set([...hw.keys(), ...active.keys(), ...wanted.keys()]);
    return [...names].map((name) => ({
      name,
      active: active.get(name) === true,
      wanted: wanted.get(name) === true,
      changeable: hw.get(name) === true && nochange.get(name) !== true,
    }));
  }

  /** CHANNELS_GET / RINGS_GET reply: the u32 fields present (attribute = 2 + index). */
  counts(fields: readonly string[]): Record<string, number> | undefined {
    const a = this.begin();
    if (a === undefined) return undefined;
    const out: Record<string, number> = {};
    while (a.next()) {
      const field = fields[a.type - 2];
      if (field === undefined) continue;
      if (a.dataLength !== 4) return this.drop();
      out[field] = this.cursor.view.getUint32(a.dataStart, HOST_LITTLE_ENDIAN);
    }
    if (a.malformed) return this.drop();
    return out;
  }

  /** A verbose bitset: name -> set. With NOMASK only set bits are listed; otherwise the listed
   *  bits are the mask and VALUE marks the set ones. */
  private bitset(start: number, end: number): Map<string, boolean> | undefined {
    const a = this.bits;
    a.begin(start, end);
    let noMask = false;
    let bitsStart = -1;
    let bitsEnd = -1;
    while (a.next()) {
      if (a.type === ETHTOOL_A_BITSET_NOMASK) noMask = true;
      else if (a.type === ETHTOOL_A_BITSET_BITS) {
        bitsStart = a.dataStart;
        bitsEnd = a.dataStart + a.dataLength;
      }
    }
    if (a.malformed) return undefined;
    const out = new Map<string, boolean>();
    if (bitsStart < 0) return out;
    a.begin(bitsStart, bitsEnd);
    while (a.next()) {
      if (a.type !== ETHTOOL_A_BITSET_BITS_BIT) continue;
      const one = this.oneBit(a.dataStart, a.dataStart + a.dataLength);
      if (one === undefined) return undefined;
      out.set(one.name, noMask || one.value);
    }
    return a.malformed ? undefined : out;
  }

  private oneBit(start: number, end: number): { name: string; value: boolean } | undefined {
    const b = this.bit;
    b.begin(start, end);
    let name: string | undefined;
    let value = false;
    while (b.next()) {
      if (b.type === ETHTOOL_A_BITSET_BIT_NAME) name = cStringAt(this.cursor.bytes, b.dataStart, b.dataLength, 64);
      else if (b.type === ETHTOOL_A_BITSET_BIT_VALUE) value = true;
    }
    if (b.malformed || name === undefined) return undefined;
    return { name, value };
  }

  /** Attributes after the genlmsghdr. */
  private begin(): AttrCursor | undefined {
    const { payloadStart: p, payloadEnd: end } = this.cursor;
    if (end - p < GENL_HDRLEN) return this.drop();
    this.attrs.begin(p + GENL_HDRLEN, end);
    return this.attrs;
  }

  private drop(): undefined {
    this.malformed++;
    return undefined;
  }
}
