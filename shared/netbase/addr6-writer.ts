// IPv6 addresses in the region's addrs6 table: one versioned entry per ifindex holding the link's
// IPv6 addresses in the kernel's order (SeqTableWriter: readers never see a torn list). An entry
// exists while its link has IPv6 addresses; an address needs its link (the interface table).
import type { Addr6Record } from "../netmodel";
import {
  A6_ADDR_WORDS,
  A6_FLAGS,
  A6_PLEN_SCOPE,
  A6C_COUNT,
  A6C_FIXED_WORDS,
  A6C_IFINDEX,
  H_ADDR6_MOVE_SEQ,
  interfaceHash,
  type NetbaseLayout,
} from "./layout";
import { SeqTableWriter } from "./seqtable";
import { isU32, type WriterCore } from "./write-core";

/** IFA_F_* flags that make an address unusable as a source. */
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;
const IFA_F_DEPRECATED = 0x20;
const SCOPE_LINK = 253;

/** Leading bits a and b (4 words each) share. */
export function commonPrefixLen6(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < 4; i++) {
    const x = (a[i] ^ b[i]) >>> 0;
    if (x !== 0) return 32 * i + Math.clz32(x);
  }
  return 128;
}

export class Addr6Writer {
  private readonly v: Int32Array;
  private readonly table: SeqTableWriter;
  private readonly scratch: Int32Array;
  private readonly perInterface: number;

  constructor(
    private readonly core: WriterCore,
    layout: NetbaseLayout,
    /** Whether the link exists (addresses need one). */
    private readonly hasLink: (ifindex: number) => boolean,
    /** After an interface's IPv6 address list changed. */
    private readonly addrsChanged: (ifindex: number) => void,
  ) {
    const v = core.v;
    this.v = v;
    this.perInterface = layout.caps.addrs6PerInterface;
    this.scratch = new Int32Array(layout.addr6CopyWords);
    this.table = new SeqTableWriter(
      v,
      layout.addrs6Offset / 4,
      layout.interfaceSlots,
      layout.addr6EntryWords,
      layout.addr6CopyWords,
      H_ADDR6_MOVE_SEQ,
      1,
      (c) => interfaceHash(v[c + A6C_IFINDEX]),
    );
  }

  private slotOf(ifindex: number): number {
    return this.table.find(interfaceHash(ifindex | 0), ifindex | 0, 0);
  }

  upsert(a: Addr6Record): boolean {
    const ok =
      isU32(a.ifindex) &&
      a.ifindex !== 0 &&
      a.address instanceof Uint32Array &&
      a.address.length === 4 &&
      Number.isInteger(a.prefixLen) &&
      a.prefixLen >= 0 &&
      a.prefixLen <= 128;
    if (!ok) return this.core.bad();
    if (!this.hasLink(a.ifindex)) return this.core.drop("drop_addr_no_link");
    const s = this.scratch;
    let slot = this.slotOf(a.ifindex);
    if (slot < 0) {
      slot = this.table.findEmpty(interfaceHash(a.ifindex | 0)); // one entry per link: never full
      s.fill(0);
      s[A6C_IFINDEX] = a.ifindex | 0;
    } else this.read(slot, s);
    let at = this.findAddr(s, a);
    if (at < 0) {
      if (s[A6C_COUNT] >= this.perInterface) return this.core.drop("drop_addrs6_full");
      at = A6C_FIXED_WORDS + s[A6C_COUNT] * A6_ADDR_WORDS;
      s[A6C_COUNT]++;
    }
    for (let i = 0; i < 4; i++) s[at + i] = a.address[i] | 0;
    s[at + A6_PLEN_SCOPE] = (a.prefixLen & 255) | ((a.scope & 255) << 8);
    s[at + A6_FLAGS] = a.flags | 0;
    this.table.write(slot, s);
    this.core.count("addr6_updates");
    this.addrsChanged(a.ifindex);
    return this.core.published(true);
  }

  delete(a: Addr6Record): boolean {
    const slot = this.slotOf(a.ifindex);
    const s = this.scratch;
    if (slot >= 0) this.read(slot, s);
    const at = slot >= 0 ? this.findAddr(s, a) : -1;
    if (at < 0) {
      this.core.count("delete_missing");
      return this.core.published(false);
    }
    const end = A6C_FIXED_WORDS + s[A6C_COUNT] * A6_ADDR_WORDS;
    s.copyWithin(at, at + A6_ADDR_WORDS, end); // the kernel's order kept
    s.fill(0, end - A6_ADDR_WORDS, end);
    s[A6C_COUNT]--;
    if (s[A6C_COUNT] === 0) this.table.remove(slot);
    else this.table.write(slot, s);
    this.core.count("addr6_deletes");
    this.addrsChanged(a.ifindex);
    return this.core.published(true);
  }

  /** The link is gone: its addresses with it (not published: part of the link's deletion). */
  flushOn(ifindex: number): void {
    const slot = this.slotOf(ifindex);
    if (slot >= 0) this.table.remove(slot);
  }

  private read(slot: number, out: Int32Array): void {
    const c = this.table.current(slot);
    out.set(this.v.subarray(c, c + this.table.copyWords));
  }

  private findAddr(s: Int32Array, a: Addr6Record): number {
    for (let i = 0; i < s[A6C_COUNT]; i++) {
      const at = A6C_FIXED_WORDS + i * A6_ADDR_WORDS;
      let same = (s[at + A6_PLEN_SCOPE] & 255) === a.prefixLen;
      for (let w = 0; w < 4 && same; w++) same = s[at + w] === (a.address[w] | 0);
      if (same) return at;
    }
    return -1;
  }

  /**
   * A route's source into out: prefsrc; else, of the output interface's usable addresses (not
   * tentative, not DAD-failed), for a link-local prefix its link-local address, else the global one
   * sharing the longest prefix with the route's destination (non-deprecated first, as the kernel's
   * rules 3 and 8); else zero.
   */
  sourceFor(prefsrc: Uint32Array, oif: number, dst: Uint32Array, len: number, out: Int32Array): void {
    out.fill(0);
    if ((prefsrc[0] | prefsrc[1] | prefsrc[2] | prefsrc[3]) !== 0) {
      out.set(prefsrc);
      return;
    }
    const slot = oif === 0 ? -1 : this.slotOf(oif);
    if (slot < 0) return;
    const v = this.v;
    const c = this.table.current(slot);
    const wantLink = len >= 10 && dst[0] >>> 22 === 0x3fa;
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < v[c + A6C_COUNT]; i++) {
      const at = c + A6C_FIXED_WORDS + i * A6_ADDR_WORDS;
      const flags = v[at + A6_FLAGS];
      if (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) continue;
      const isLink = ((v[at + A6_PLEN_SCOPE] >>> 8) & 255) === SCOPE_LINK || v[at] >>> 22 === 0x3fa;
      if (isLink !== wantLink) continue;
      const score = (flags & IFA_F_DEPRECATED ? 0 : 256) + commonPrefixLen6(v.subarray(at, at + 4), dst);
      if (score > bestScore) {
        bestScore = score;
        best = at;
      }
    }
    if (best >= 0) for (let w = 0; w < 4; w++) out[w] = v[best + w];
  }
}
