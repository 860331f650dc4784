// Neighbors in the region's neighbor table: (ifindex, IP) -> MAC and state, each entry published as
// one versioned entry by SeqTableWriter (key and MAC together).
import type { NeighRecord } from "../netmodel";
import { normalMac } from "./diff";
import {
  H_NEIGHBOR_MOVE_SEQ,
  NB_COPY_WORDS,
  NB_INFO_HAS_MAC,
  NB_WORDS,
  NBC_FLAGS,
  NBC_IFINDEX,
  NBC_INFO,
  NBC_IP,
  NBC_MAC_HI,
  NBC_MAC_LO,
  NBC_STATE,
  type NetbaseLayout,
  neighborHash,
} from "./layout";
import { SeqTableWriter } from "./seqtable";
import {
  isU32,
  macWords,
  type NetbaseWriterOptions,
  type NetbaseWrites,
  type ResyncResult,
  type WriterCore,
} from "./write-core";

export class NeighborWriter {
  private readonly v: Int32Array;
  private readonly table: SeqTableWriter;
  private readonly scratch = new Int32Array(NB_COPY_WORDS);
  private readonly capacity: number;
  private count = 0;
  /** Resync bookkeeping: slots stamped with the current epoch were in the dump. */
  private readonly seen: Uint32Array;
  private epoch = 0;

  constructor(
    private readonly core: WriterCore,
    layout: NetbaseLayout,
    unsafe: NetbaseWriterOptions["unsafe"],
  ) {
    const v = core.v;
    this.v = v;
    this.capacity = layout.caps.neighbors;
    this.seen = new Uint32Array(layout.neighborSlots);
    this.table = new SeqTableWriter(
      v,
      layout.neighborsOffset / 4,
      layout.neighborSlots,
      NB_WORDS,
      NB_COPY_WORDS,
      H_NEIGHBOR_MOVE_SEQ,
      2,
      (c) => neighborHash(v[c + NBC_IFINDEX], v[c + NBC_IP]),
      {
        skipVersioning: unsafe?.neighborSkipVersioning ?? false,
        keyValueDelay: unsafe?.writeDelay ?? 0,
      },
    );
  }

  /** Adds or updates (ifindex, ip) -> MAC, state. False when dropped (table full, bad record). */
  upsert(n: NeighRecord): boolean {
    if (!isU32(n.ifindex) || n.ifindex === 0 || !isU32(n.ip)) return this.core.bad();
    const ifindex = n.ifindex | 0;
    const ip = n.ip | 0;
    const hash = neighborHash(ifindex, ip);
    let slot = this.table.find(hash, ifindex, ip);
    if (slot < 0) {
      if (this.count >= this.capacity) return this.core.drop("drop_neighbors_full");
      slot = this.table.findEmpty(hash);
      this.count++;
    }
    const s = this.scratch;
    this.entryWords(n, s);
    // The kernel re-announces unchanged entries often: publish only real changes (readers retry less).
    if (!this.table.holds(slot, s)) this.table.write(slot, s);
    this.core.count("neighbor_updates");
    this.core.set("neighbors", this.count);
    return this.core.published(true);
  }

  /** The entry words netbase stores for n. */
  private entryWords(n: NeighRecord, s: Int32Array): void {
    const mac = normalMac(n.mac);
    const [hi, lo] = macWords(mac);
    s[NBC_IFINDEX] = n.ifindex | 0;
    s[NBC_IP] = n.ip | 0;
    s[NBC_MAC_HI] = hi;
    s[NBC_MAC_LO] = lo;
    s[NBC_STATE] = n.state | 0;
    s[NBC_FLAGS] = n.flags | 0;
    s[NBC_INFO] = mac ? NB_INFO_HAS_MAC : 0;
  }

  delete(n: Pick<NeighRecord, "ifindex" | "ip">): boolean {
    const slot = this.slotOf(n);
    if (slot < 0) {
      this.core.count("delete_missing");
      return this.core.published(false);
    }
    this.table.remove(slot);
    this.count--;
    this.core.count("neighbor_deletes");
    this.core.set("neighbors", this.count);
    return this.core.published(true);
  }

  private slotOf(n: Pick<NeighRecord, "ifindex" | "ip">): number {
    return this.table.find(neighborHash(n.ifindex | 0, n.ip | 0), n.ifindex | 0, n.ip | 0);
  }

  /** Removes the neighbors on a link that is gone (not published: part of the link's deletion). */
  flushOn(ifindex: number): void {
    const v = this.v;
    for (let slot = 0; slot < this.table.slots; ) {
      if (v[this.table.current(slot) + NBC_IFINDEX] === (ifindex | 0)) {
        // Backward shift may move a later entry into this slot: look at it again.
        this.table.remove(slot);
        this.count--;
        this.core.count("flushed_neighbors");
      } else slot++;
    }
    this.core.set("neighbors", this.count);
  }

  /** Neighbors to exactly `neighs`: entries no dump line names are removed first (room for new
   *  ones, as the kernel had it), then changed and new ones written (unchanged ones are not). */
  resync(neighs: readonly NeighRecord[], result: ResyncResult, writes: NetbaseWrites): void {
    const seen = this.seen;
    const v = this.v;
    const s = this.scratch;
    const named = ++this.epoch;
    for (const n of neighs) {
      const slot = this.slotOf(n);
      if (slot >= 0) seen[slot] = named;
    }
    const stale: NeighRecord[] = [];
    for (let slot = 0; slot < this.table.slots; slot++) {
      if (this.table.isEmpty(slot) || seen[slot] === named) continue;
      const c = this.table.current(slot);
      stale.push({ ifindex: v[c + NBC_IFINDEX] >>> 0, ip: v[c + NBC_IP] >>> 0, mac: null, state: 0, flags: 0 });
    }
    for (const n of stale) if (writes.deleteNeighbor(n)) result.removed++;
    // Last to first: of two records with one key, the later one wins (as in a map built in order).
    const written = ++this.epoch;
    for (let i = neighs.length - 1; i >= 0; i--) {
      const n = neighs[i];
      const slot = this.slotOf(n);
      if (slot >= 0 && seen[slot] === written) continue;
      if (slot >= 0) {
        this.entryWords(n, s);
        if (this.table.holds(slot, s)) {
          seen[slot] = written;
          continue;
        }
      }
      if (writes.upsertNeighbor(n)) result[slot >= 0 ? "changed" : "added"]++;
      const now = this.slotOf(n);
      if (now >= 0) seen[now] = written;
    }
  }

  adopt(): void {
    for (let s = 0; s < this.table.slots; s++) if (!this.table.isEmpty(s)) this.count++;
    this.core.set("neighbors", this.count);
  }
}
