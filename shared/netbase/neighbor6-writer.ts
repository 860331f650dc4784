// IPv6 neighbors (NDP) in the region's neighbors6 table: (ifindex, address) -> MAC, NUD state, flags,
// each entry published as one versioned entry by SeqTableWriter (key and MAC together), exactly as
// the IPv4 neighbors (neighbor-writer.ts), with a 5-word key.
import type { Neigh6Record } from "../netmodel";
import { normalMac } from "./diff";
import {
  H_NEIGHBOR6_MOVE_SEQ,
  NB_INFO_HAS_MAC,
  NB6_COPY_WORDS,
  NB6_WORDS,
  NB6C_FLAGS,
  NB6C_IFINDEX,
  NB6C_INFO,
  NB6C_IP,
  NB6C_MAC_HI,
  NB6C_MAC_LO,
  NB6C_STATE,
  type NetbaseLayout,
  neighbor6Hash,
} from "./layout";
import { SeqTableWriter } from "./seqtable";
import { isU32, macWords, type NetbaseWriterOptions, type ResyncResult, type WriterCore } from "./write-core";

export function neigh6Key(n: Pick<Neigh6Record, "ifindex" | "ip">): string {
  return `${n.ifindex >>> 0} ${n.ip[0]},${n.ip[1]},${n.ip[2]},${n.ip[3]}`;
}

export class Neighbor6Writer {
  private readonly v: Int32Array;
  private readonly table: SeqTableWriter;
  private readonly scratch = new Int32Array(NB6_COPY_WORDS);
  private readonly key = new Int32Array(5);
  private readonly capacity: number;
  private count = 0;

  constructor(
    private readonly core: WriterCore,
    layout: NetbaseLayout,
    unsafe: NetbaseWriterOptions["unsafe"],
  ) {
    const v = core.v;
    this.v = v;
    this.capacity = layout.caps.neighbors6;
    this.table = new SeqTableWriter(
      v,
      layout.neighbors6Offset / 4,
      layout.neighbor6Slots,
      NB6_WORDS,
      NB6_COPY_WORDS,
      H_NEIGHBOR6_MOVE_SEQ,
      5,
      (c) => neighbor6Hash(v[c], v[c + 1], v[c + 2], v[c + 3], v[c + 4]),
      { skipVersioning: unsafe?.neighborSkipVersioning ?? false, keyValueDelay: unsafe?.writeDelay ?? 0 },
    );
  }

  private slotOf(n: Pick<Neigh6Record, "ifindex" | "ip">): number {
    const k = this.key;
    k[0] = n.ifindex | 0;
    for (let i = 0; i < 4; i++) k[1 + i] = n.ip[i] | 0;
    return this.table.findKey(neighbor6Hash(k[0], k[1], k[2], k[3], k[4]), k);
  }

  upsert(n: Neigh6Record): boolean {
    if (!isU32(n.ifindex) || n.ifindex === 0 || !(n.ip instanceof Uint32Array) || n.ip.length !== 4)
      return this.core.bad();
    let slot = this.slotOf(n);
    if (slot < 0) {
      if (this.count >= this.capacity) return this.core.drop("drop_neighbors6_full");
      const k = this.key;
      slot = this.table.findEmpty(neighbor6Hash(k[0], k[1], k[2], k[3], k[4]));
      this.count++;
    }
    const s = this.scratch;
    entry6Words(n, s);
    if (!this.table.holds(slot, s)) this.table.write(slot, s);
    this.core.count("neighbor6_updates");
    this.core.set("neighbors6", this.count);
    return this.core.published(true);
  }

  delete(n: Pick<Neigh6Record, "ifindex" | "ip">): boolean {
    const slot = this.slotOf(n);
    if (slot < 0) {
      this.core.count("delete_missing");
      return this.core.published(false);
    }
    this.table.remove(slot);
    this.count--;
    this.core.count("neighbor6_deletes");
    this.core.set("neighbors6", this.count);
    return this.core.published(true);
  }

  /** Removes the neighbors on a link that is gone (not published: part of the link's deletion). */
  flushOn(ifindex: number): void {
    for (let slot = 0; slot < this.table.slots; ) {
      if (this.v[this.table.current(slot) + NB6C_IFINDEX] === (ifindex | 0)) {
        this.table.remove(slot); // a later entry may move here: look again
        this.count--;
        this.core.count("flushed_neighbors6");
      } else slot++;
    }
    this.core.set("neighbors6", this.count);
  }

  /** Every stored key (resync). */
  private keys(): Neigh6Record[] {
    const out: Neigh6Record[] = [];
    for (let slot = 0; slot < this.table.slots; slot++) {
      if (this.table.isEmpty(slot)) continue;
      const c = this.table.current(slot);
      const ip = Uint32Array.from(this.v.subarray(c + NB6C_IP, c + NB6C_IP + 4));
      out.push({ ifindex: this.v[c + NB6C_IFINDEX] >>> 0, ip, mac: null, state: 0, flags: 0 });
    }
    return out;
  }

  /** Neighbors to exactly `neighs`: stale entries removed first (room, as in the kernel), then
   *  changed and new ones written (unchanged ones are not). */
  resync(
    neighs: readonly Neigh6Record[],
    result: ResyncResult,
    write: { upsert(n: Neigh6Record): boolean; remove(n: Neigh6Record): boolean },
  ): void {
    const want = new Map<string, Neigh6Record>();
    for (const n of neighs) want.set(neigh6Key(n), n);
    for (const n of this.keys()) if (!want.has(neigh6Key(n)) && write.remove(n)) result.removed++;
    const s = this.scratch;
    for (const n of want.values()) {
      const slot = this.slotOf(n);
      if (slot >= 0) {
        entry6Words(n, s);
        if (this.table.holds(slot, s)) continue;
      }
      if (write.upsert(n)) result[slot >= 0 ? "changed" : "added"]++;
    }
  }

  adopt(): void {
    for (let s = 0; s < this.table.slots; s++) if (!this.table.isEmpty(s)) this.count++;
    this.core.set("neighbors6", this.count);
  }
}

/** The entry words netbase stores for n. */
function entry6Words(n: Neigh6Record, s: Int32Array): void {
  const mac = normalMac(n.mac);
  const [hi, lo] = macWords(mac);
  s[NB6C_IFINDEX] = n.ifindex | 0;
  for (let i = 0; i < 4; i++) s[NB6C_IP + i] = n.ip[i] | 0;
  s[NB6C_MAC_HI] = hi;
  s[NB6C_MAC_LO] = lo;
  s[NB6C_STATE] = n.state | 0;
  s[NB6C_FLAGS] = n.flags | 0;
  s[NB6C_INFO] = mac ? NB_INFO_HAS_MAC : 0;
}
