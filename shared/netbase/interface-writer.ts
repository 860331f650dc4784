// Links and their addresses in the region's interface table (one entry per ifindex: the link's
// fields and its addresses in the kernel's order, published as one versioned entry by SeqTableWriter).
// What the other tables must do when a link goes or its addresses change (routes and neighbors via
// it flushed, route sources re-derived) is the owner's business: it is told through InterfaceEvents.
import type { AddrRecord, LinkRecord, NetSnapshot } from "../netmodel";
import { normalizeSnapshot, normalMac, normalName, sameAddr, sameLink } from "./diff";
import {
  H_INTERFACE_MOVE_SEQ,
  IF_ADDR_WORDS,
  IF_NAME_BYTES,
  IF_STATE_HAS_MAC,
  IF_STATE_LOWER_UP,
  IF_STATE_UP,
  IFC_ADDR_COUNT,
  IFC_FIXED_WORDS,
  IFC_IFINDEX,
  IFC_KERNEL_FLAGS,
  IFC_MAC_HI,
  IFC_MAC_LO,
  IFC_MTU,
  IFC_NAME,
  IFC_STATE,
  IFC_TYPE,
  interfaceHash,
  type NetbaseLayout,
} from "./layout";
import type { NetbaseReader } from "./reader";
import { SeqTableWriter } from "./seqtable";
import { mask32 } from "./trie";
import { isU32, macWords, type NetbaseWrites, type ResyncResult, type WriterCore } from "./write-core";

const textEncoder = new TextEncoder();

export interface InterfaceEvents {
  /** Before a link's entry is removed (the kernel flushes its routes and neighbors without telling). */
  linkGone(ifindex: number): void;
  /** After an interface's address list changed. */
  addrsChanged(ifindex: number): void;
}

export class InterfaceWriter {
  private readonly v: Int32Array;
  private readonly table: SeqTableWriter;
  private readonly scratch: Int32Array;
  private readonly capacity: number;
  private readonly addrsPerInterface: number;
  private count = 0;

  constructor(
    private readonly core: WriterCore,
    layout: NetbaseLayout,
    private readonly reader: NetbaseReader,
    private readonly events: InterfaceEvents,
  ) {
    const v = core.v;
    this.v = v;
    this.capacity = layout.caps.interfaces;
    this.addrsPerInterface = layout.caps.addrsPerInterface;
    this.scratch = new Int32Array(layout.interfaceCopyWords);
    this.table = new SeqTableWriter(
      v,
      layout.interfacesOffset / 4,
      layout.interfaceSlots,
      layout.interfaceEntryWords,
      layout.interfaceCopyWords,
      H_INTERFACE_MOVE_SEQ,
      1,
      (c) => interfaceHash(v[c + IFC_IFINDEX]),
    );
  }

  /** Adds or updates a link (its addresses are kept). False when dropped (table full, bad record). */
  upsertLink(link: LinkRecord): boolean {
    const ifindex = link.ifindex;
    if (!isU32(ifindex) || ifindex === 0 || !isU32(link.mtu)) return this.core.bad();
    const hash = interfaceHash(ifindex | 0);
    let slot = this.table.find(hash, ifindex | 0, 0);
    const s = this.scratch;
    if (slot < 0) {
      if (this.count >= this.capacity) return this.core.drop("drop_interfaces_full");
      slot = this.table.findEmpty(hash);
      s.fill(0);
      this.count++;
    } else {
      this.readInterface(slot, s);
    }
    const mac = normalMac(link.mac);
    const [hi, lo] = macWords(mac);
    s[IFC_IFINDEX] = ifindex | 0;
    s[IFC_STATE] = (link.up ? IF_STATE_UP : 0) | (link.lowerUp ? IF_STATE_LOWER_UP : 0) | (mac ? IF_STATE_HAS_MAC : 0);
    s[IFC_MTU] = link.mtu | 0;
    s[IFC_TYPE] = link.type | 0;
    s[IFC_KERNEL_FLAGS] = link.flags | 0;
    s[IFC_MAC_HI] = hi;
    s[IFC_MAC_LO] = lo;
    const name = textEncoder.encode(normalName(link.name));
    const nameBytes = new Uint8Array(s.buffer, s.byteOffset + IFC_NAME * 4, IF_NAME_BYTES);
    nameBytes.fill(0);
    nameBytes.set(name.subarray(0, IF_NAME_BYTES - 1));
    this.table.write(slot, s);
    this.core.count("link_updates");
    this.core.set("interfaces", this.count);
    return this.core.published(true);
  }

  /** Whether the link is stored. */
  has(ifindex: number): boolean {
    return isU32(ifindex) && ifindex !== 0 && this.table.find(interfaceHash(ifindex | 0), ifindex | 0, 0) >= 0;
  }

  /** Removes a link, its addresses, and (through linkGone) the routes and neighbors that use it. */
  deleteLink(ifindex: number): boolean {
    if (!isU32(ifindex) || ifindex === 0) return this.core.bad();
    this.events.linkGone(ifindex);
    const slot = this.table.find(interfaceHash(ifindex | 0), ifindex | 0, 0);
    if (slot < 0) {
      this.core.count("delete_missing");
      return this.core.published(false);
    }
    this.table.remove(slot);
    this.count--;
    this.core.count("link_deletes");
    this.core.set("interfaces", this.count);
    return this.core.published(true);
  }

  upsertAddr(addr: AddrRecord): boolean {
    if (!isU32(addr.address) || !Number.isInteger(addr.prefixLen) || addr.prefixLen < 0 || addr.prefixLen > 32)
      return this.core.bad();
    const slot = this.table.find(interfaceHash(addr.ifindex | 0), addr.ifindex | 0, 0);
    if (slot < 0 || addr.ifindex === 0) return this.core.drop("drop_addr_no_link");
    const s = this.scratch;
    this.readInterface(slot, s);
    const count = s[IFC_ADDR_COUNT];
    let at = this.findAddr(s, addr);
    if (at < 0) {
      if (count >= this.addrsPerInterface) return this.core.drop("drop_addrs_full");
      at = IFC_FIXED_WORDS + count * IF_ADDR_WORDS;
      s[IFC_ADDR_COUNT] = count + 1;
    }
    s[at] = addr.address | 0;
    s[at + 1] = (addr.prefixLen & 255) | ((addr.scope & 255) << 8);
    s[at + 2] = addr.broadcast | 0;
    this.table.write(slot, s);
    this.core.count("addr_updates");
    this.events.addrsChanged(addr.ifindex);
    return this.core.published(true);
  }

  deleteAddr(addr: AddrRecord): boolean {
    const slot = this.table.find(interfaceHash(addr.ifindex | 0), addr.ifindex | 0, 0);
    const s = this.scratch;
    if (slot >= 0) this.readInterface(slot, s);
    const at = slot >= 0 ? this.findAddr(s, addr) : -1;
    if (at < 0) {
      this.core.count("delete_missing");
      return this.core.published(false);
    }
    const end = IFC_FIXED_WORDS + s[IFC_ADDR_COUNT] * IF_ADDR_WORDS;
    s.copyWithin(at, at + IF_ADDR_WORDS, end); // keep the kernel's order: the first is the primary
    s.fill(0, end - IF_ADDR_WORDS, end);
    s[IFC_ADDR_COUNT]--;
    this.table.write(slot, s);
    this.core.count("addr_deletes");
    this.events.addrsChanged(addr.ifindex);
    return this.core.published(true);
  }

  private readInterface(slot: number, out: Int32Array): void {
    const c = this.table.current(slot);
    out.set(this.v.subarray(c, c + this.table.copyWords));
  }

  private findAddr(s: Int32Array, addr: AddrRecord): number {
    for (let i = 0; i < s[IFC_ADDR_COUNT]; i++) {
      const at = IFC_FIXED_WORDS + i * IF_ADDR_WORDS;
      if (s[at] === (addr.address | 0) && (s[at + 1] & 255) === addr.prefixLen) return at;
    }
    return -1;
  }

  /** A route's source address: prefsrc; else the output interface's first address on the gateway's
   *  subnet (or, on-link, in the route's prefix); else its first address; else 0. */
  sourceFor(prefsrc: number, oif: number, gateway: number, dst: number, len: number): number {
    if (prefsrc !== 0) return prefsrc >>> 0;
    if (oif === 0) return 0;
    const slot = this.table.find(interfaceHash(oif | 0), oif | 0, 0);
    if (slot < 0) return 0;
    const v = this.v;
    const e = this.table.current(slot);
    const count = v[e + IFC_ADDR_COUNT];
    for (let i = 0; i < count; i++) {
      const a = e + IFC_FIXED_WORDS + i * IF_ADDR_WORDS;
      const addr = v[a];
      const onSubnet =
        gateway !== 0 ? ((gateway ^ addr) & mask32(v[a + 1] & 255)) === 0 : ((addr ^ dst) & mask32(len)) === 0;
      if (onSubnet) return addr >>> 0;
    }
    return count > 0 ? v[e + IFC_FIXED_WORDS] >>> 0 : 0;
  }

  /** Links, then addresses, to exactly the dump's (a vanished link counts as one removal). */
  resync(snap: NetSnapshot, result: ResyncResult, writes: NetbaseWrites): void {
    const want = normalizeSnapshot({ links: snap.links, addrs: snap.addrs, routes: [], neighs: [] });
    const links = normalizeSnapshot({
      links: this.reader.interfaces().map((i) => i.link),
      addrs: [],
      routes: [],
      neighs: [],
    }).links;
    for (const [ifindex, link] of want.links) {
      const cur = links.get(ifindex);
      if (cur && sameLink(cur, link)) continue;
      if (writes.upsertLink(link)) result[cur ? "changed" : "added"]++;
    }
    for (const ifindex of links.keys()) {
      if (!want.links.has(ifindex) && writes.deleteLink(ifindex)) result.removed++;
    }
    const haveAddrs = normalizeSnapshot({
      links: [],
      addrs: this.reader.interfaces().flatMap((i) => i.addrs.map((a) => ({ ...a, ifindex: i.link.ifindex }))),
      routes: [],
      neighs: [],
    }).addrs;
    for (const [key, addr] of haveAddrs) {
      if (!want.addrs.has(key) && writes.deleteAddr(addr)) result.removed++;
    }
    for (const [key, addr] of want.addrs) {
      const cur = haveAddrs.get(key);
      if (cur && sameAddr(cur, addr)) continue;
      if (writes.upsertAddr(addr)) result[cur ? "changed" : "added"]++;
    }
  }

  adopt(): void {
    for (let s = 0; s < this.table.slots; s++) if (!this.table.isEmpty(s)) this.count++;
    this.core.set("interfaces", this.count);
  }
}
