// Policy routing rules (RTM_*RULE), IPv4 and IPv6, for the netstate library: list, add, delete.
// Decoding never throws: a message that cannot be trusted is dropped (undefined) and counted.
import { afOf, type IpFamily } from "./addr-msg";
import { formatIp } from "./address-text";
import {
  AF_INET,
  AF_INET6,
  IFNAMSIZ,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
} from "./constants";
import { cStringAt } from "./link-msg";
import { AttrCursor, align4, HOST_LITTLE_ENDIAN, type MessageCursor, RequestBuilder } from "./wire";

export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
/** struct fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action; u32 flags. */
export const FIB_RULE_HDR_SIZE = 12;
export const FRA_DST = 1;
export const FRA_SRC = 2;
export const FRA_IIFNAME = 3;
export const FRA_GOTO = 4;
export const FRA_PRIORITY = 6;
export const FRA_FWMARK = 10;
export const FRA_TABLE = 15;
export const FRA_FWMASK = 16;
export const FRA_OIFNAME = 17;
export const FRA_PROTOCOL = 21;
export const FIB_RULE_INVERT = 2;

/** FR_ACT_* by number (index), named as iproute2 names them. */
export const RULE_ACTIONS = [
  "unspec",
  "to_tbl",
  "goto",
  "nop",
  "res3",
  "res4",
  "blackhole",
  "unreachable",
  "prohibit",
] as const;

export interface Rule {
  family: IpFamily;
  priority: number;
  table: number;
  /** FR_ACT_* name ("to_tbl" for a lookup). */
  action: string;
  src?: string;
  srcLen: number;
  dst?: string;
  dstLen: number;
  tos: number;
  /** FIB_RULE_* (2 = not). */
  flags: number;
  iifname?: string;
  oifname?: string;
  fwmark?: number;
  fwmask?: number;
  goto?: number;
  protocol?: number;
}

export class RuleDecoder {
  malformed = 0;
  private readonly attrs: AttrCursor;

  constructor(private readonly cursor: MessageCursor) {
    this.attrs = new AttrCursor(cursor.view);
  }

  rule(): Rule | undefined {
    const { payloadStart: p, payloadEnd: end, view: v } = this.cursor;
    if (end - p < FIB_RULE_HDR_SIZE) return this.drop();
    const af = v.getUint8(p);
    if (af !== AF_INET && af !== AF_INET6) return this.drop();
    const size = af === AF_INET ? 4 : 16;
    const rule: Rule = {
      family: af === AF_INET ? 4 : 6,
      priority: 0,
      dstLen: v.getUint8(p + 1),
      srcLen: v.getUint8(p + 2),
      tos: v.getUint8(p + 3),
      table: v.getUint8(p + 4),
      action: RULE_ACTIONS[v.getUint8(p + 7)] ?? `action_${v.getUint8(p + 7)}`,
      flags: v.getUint32(p + 8, HOST_LITTLE_ENDIAN),
    };
    const a = this.attrs;
    a.begin(p + align4(FIB_RULE_HDR_SIZE), end);
    while (a.next()) if (!this.ruleAttr(rule, a, size)) return this.drop();
    if (a.malformed) return this.drop();
    return rule;
  }

  private ruleAttr(rule: Rule, a: AttrCursor, size: number): boolean {
    const { view: v, bytes } = this.cursor;
    const u32 = a.dataLength === 4 ? v.getUint32(a.dataStart, HOST_LITTLE_ENDIAN) : undefined;
    const ip = a.dataLength === size ? formatIp(bytes.subarray(a.dataStart, a.dataStart + size)) : undefined;
    const name = (): string | undefined => cStringAt(bytes, a.dataStart, a.dataLength, IFNAMSIZ);
    switch (a.type) {
      case FRA_PRIORITY:
      case FRA_TABLE:
      case FRA_FWMARK:
      case FRA_FWMASK:
      case FRA_GOTO: {
        if (u32 === undefined) return false;
        const key = (
          {
            [FRA_PRIORITY]: "priority",
            [FRA_TABLE]: "table",
            [FRA_FWMARK]: "fwmark",
            [FRA_FWMASK]: "fwmask",
            [FRA_GOTO]: "goto",
          } as const
        )[a.type];
        rule[key] = u32;
        return true;
      }
      case FRA_SRC:
      case FRA_DST:
        if (ip === undefined) return false;
        if (a.type === FRA_SRC) rule.src = ip;
        else rule.dst = ip;
        return true;
      case FRA_IIFNAME:
      case FRA_OIFNAME: {
        const n = name();
        if (n === undefined) return false;
        if (a.type === FRA_IIFNAME) rule.iifname = n;
        else rule.oifname = n;
        return true;
      }
      case FRA_PROTOCOL:
        if (a.dataLength !== 1) return false;
        rule.protocol = v.getUint8(a.dataStart);
        return true;
      default:
        return true;
    }
  }

  private drop(): undefined {
    this.malformed++;
    return undefined;
  }
}

export function ruleDumpRequest(seq: number, family: IpFamily | undefined): Uint8Array {
  const b = new RequestBuilder(RTM_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  b.u8(b.struct(FIB_RULE_HDR_SIZE), afOf(family));
  return b.finish();
}

export interface RuleSpec {
  family: IpFamily;
  priority?: number;
  table: number;
  /** FR_ACT_* number. */
  action: number;
  src?: Uint8Array;
  srcLen: number;
  dst?: Uint8Array;
  dstLen: number;
  fwmark?: number;
  fwmask?: number;
  iifname?: string;
  oifname?: string;
  invert?: boolean;
}

export function ruleRequest(seq: number, op: "add" | "delete", spec: RuleSpec): Uint8Array {
  const b = new RequestBuilder(
    op === "add" ? RTM_NEWRULE : RTM_DELRULE,
    NLM_F_REQUEST | NLM_F_ACK | (op === "add" ? NLM_F_CREATE | NLM_F_EXCL : 0),
    seq,
  );
  const at = b.struct(FIB_RULE_HDR_SIZE);
  b.u8(at, spec.family === 4 ? AF_INET : AF_INET6)
    .u8(at + 1, spec.dstLen)
    .u8(at + 2, spec.srcLen)
    .u8(at + 4, spec.table < 256 ? spec.table : 0)
    .u8(at + 7, spec.action)
    .u32(at + 8, spec.invert ? FIB_RULE_INVERT : 0);
  if (spec.priority !== undefined) b.attrU32(FRA_PRIORITY, spec.priority);
  if (spec.table >= 256) b.attrU32(FRA_TABLE, spec.table);
  if (spec.src !== undefined) b.attrBytes(FRA_SRC, spec.src);
  if (spec.dst !== undefined) b.attrBytes(FRA_DST, spec.dst);
  if (spec.fwmark !== undefined) b.attrU32(FRA_FWMARK, spec.fwmark);
  if (spec.fwmask !== undefined) b.attrU32(FRA_FWMASK, spec.fwmask);
  if (spec.iifname !== undefined) b.attrString(FRA_IIFNAME, spec.iifname);
  if (spec.oifname !== undefined) b.attrString(FRA_OIFNAME, spec.oifname);
  return b.finish();
}
