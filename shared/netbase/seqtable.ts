// Writer side of netbase's open-addressed tables (interfaces, neighbors): linear probing, one writer,
// lock-free readers that never see a torn entry.
//
// Entry = a sequence word + two copies of the entry's words (key first: ifindex, 0 = empty slot,
// then for neighbors the IP). The copy numbered (sequence & 1) is the current one. The writer
// fills the OTHER copy with plain stores, then publishes it with one Atomics.store of sequence + 1
// (a full fence on x86-64). A reader loads the sequence, the current copy's words, then the sequence
// again, and keeps what it read only when the sequence did not move. Key and value are published
// together (Firedancer's issue 11198, key before MAC, cannot happen), and unlike a plain seqlock a
// writer preempted in the middle of an update never makes readers wait or miss: it is writing the
// copy nobody reads. A reader retries only when an update was published during its few loads.
//
// Ordering (x86-64, V8): plain typed-array loads are neither merged nor reordered by TurboFan and
// stay in order under TSO; so if a reader saw any word of a later update of its copy, its second
// sequence load sees the publication that preceded that update, and it retries.
//
// Deletion is backward-shift (no tombstones, chains stay short): entries after the hole that may
// live there are copied back one by one, each copy published before its old slot is overwritten, so
// a key is always in at least one slot. A reader probing forward could still pass a key's new slot
// before the copy and reach its old slot after; so the writer keeps a table-wide move sequence odd
// during a deletion, and a reader trusts a miss only when that word was even and unchanged across
// its probe (else it retries, a bounded number of times). Hits never need it.

/** Test-only switch: entries rewritten in place (current copy, key first), without publication. */
export interface SeqTableUnsafe {
  skipVersioning: boolean;
  /** Busy-loop iterations between writing an entry's key and its value (widens the race in tests). */
  keyValueDelay: number;
}

let delaySink = 0;
/** TEST ONLY: burns n loop iterations (the stress test widens race windows with it). */
export function busyDelay(n: number): void {
  for (let i = 0; i < n; i++) delaySink = (delaySink + i) | 0;
}

export class SeqTableWriter {
  readonly mask: number;

  constructor(
    private readonly v: Int32Array,
    /** Word index of slot 0. */
    private readonly base: number,
    readonly slots: number,
    /** Words per entry (stride): the sequence word, two copies, padding. */
    readonly entryWords: number,
    /** Words of one copy (key words first). */
    readonly copyWords: number,
    /** Word index of the table's move sequence in the header. */
    private readonly moveSeqWord: number,
    /** Key words at the start of a copy: 1 (ifindex), 2 (ifindex, ip) or 5 (ifindex, IPv6 words). */
    private readonly keyWords: 1 | 2 | 5,
    /** Hash of the key held by the copy at this word index. */
    private readonly homeOfCopy: (copy: number) => number,
    private readonly unsafe: SeqTableUnsafe = { skipVersioning: false, keyValueDelay: 0 },
  ) {
    this.mask = slots - 1;
    if (entryWords < 1 + 2 * copyWords) throw new Error("netbase: table entry too small for two copies");
  }

  entry(slot: number): number {
    return this.base + slot * this.entryWords;
  }

  /** Word index of the slot's current copy (the writer's view is always settled). */
  current(slot: number): number {
    const e = this.entry(slot);
    return e + 1 + (this.v[e] & 1) * this.copyWords;
  }

  isEmpty(slot: number): boolean {
    return this.v[this.current(slot)] === 0;
  }

  /** Slot holding the key, or -1. */
  find(hash: number, ifindex: number, ip: number): number {
    for (let slot = hash & this.mask, n = 0; n < this.slots; n++, slot = (slot + 1) & this.mask) {
      const c = this.current(slot);
      const k = this.v[c];
      if (k === 0) return -1;
      if (k === ifindex && (this.keyWords === 1 || this.v[c + 1] === ip)) return slot;
    }
    return -1;
  }

  /** Slot holding the key key[from .. from + keyWords), or -1 (any key width). */
  findKey(hash: number, key: ArrayLike<number>, from = 0): number {
    const v = this.v;
    const kw = this.keyWords;
    probe: for (let slot = hash & this.mask, n = 0; n < this.slots; n++, slot = (slot + 1) & this.mask) {
      const c = this.current(slot);
      if (v[c] === 0) return -1;
      for (let i = 0; i < kw; i++) if (v[c + i] !== (key[from + i] | 0)) continue probe;
      return slot;
    }
    return -1;
  }

  /** First empty slot on the key's probe chain (the caller keeps the load factor below 1). */
  findEmpty(hash: number): number {
    for (let slot = hash & this.mask, n = 0; n < this.slots; n++, slot = (slot + 1) & this.mask) {
      if (this.isEmpty(slot)) return slot;
    }
    throw new Error("netbase: open-addressed table has no empty slot (load factor not enforced)");
  }

  /** Whether the slot's current copy already holds exactly these words. */
  holds(slot: number, words: ArrayLike<number>): boolean {
    const c = this.current(slot);
    for (let i = 0; i < this.copyWords; i++) if (this.v[c + i] !== words[i]) return false;
    return true;
  }

  /** Publishes `words` (one copy's worth, taken from `from`) as the slot's new content. */
  write(slot: number, words: ArrayLike<number>, from = 0): void {
    const v = this.v;
    const e = this.entry(slot);
    const seq = v[e];
    if (this.unsafe.skipVersioning) {
      const c = e + 1 + (seq & 1) * this.copyWords; // TEST ONLY: in place, key first, no publication
      for (let i = 0; i < this.keyWords; i++) v[c + i] = words[from + i];
      if (this.unsafe.keyValueDelay > 0) busyDelay(this.unsafe.keyValueDelay);
      for (let i = this.keyWords; i < this.copyWords; i++) v[c + i] = words[from + i];
      return;
    }
    const c = e + 1 + ((seq + 1) & 1) * this.copyWords;
    for (let i = 0; i < this.keyWords; i++) v[c + i] = words[from + i];
    if (this.unsafe.keyValueDelay > 0) busyDelay(this.unsafe.keyValueDelay);
    for (let i = this.keyWords; i < this.copyWords; i++) v[c + i] = words[from + i];
    Atomics.store(v, e, (seq + 1) | 0);
  }

  /** Deletes the entry in `slot` by backward shift (see the module comment). */
  remove(slot: number): void {
    const v = this.v;
    Atomics.store(v, this.moveSeqWord, (v[this.moveSeqWord] + 1) | 1);
    let hole = slot;
    for (let j = (slot + 1) & this.mask; !this.isEmpty(j); j = (j + 1) & this.mask) {
      const home = this.homeOfCopy(this.current(j)) & this.mask;
      // The entry at j may move back to the hole when the hole lies on its probe path [home, j).
      if (((j - home) & this.mask) >= ((j - hole) & this.mask)) {
        this.write(hole, v, this.current(j));
        hole = j;
      }
    }
    this.write(hole, this.zeros());
    Atomics.store(v, this.moveSeqWord, (v[this.moveSeqWord] + 1) & ~1);
  }

  private zeroCopy: Int32Array | undefined;
  private zeros(): Int32Array {
    this.zeroCopy ??= new Int32Array(this.copyWords);
    return this.zeroCopy;
  }
}
