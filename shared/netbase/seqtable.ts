// Writer side of netbase's open-addressed tables (interfaces, neighbors): linear probing, one writer,
// lock-free readers. Every entry starts with a seqlock word (odd while the writer changes the entry)
// followed by the ifindex (0 = empty slot) and, for neighbors, the IP.
//
// Ordering (x86-64, V8): the writer makes the sequence odd with Atomics.store (a full fence), writes
// the other words with plain stores (kept in program order by the compiler and by TSO), and makes
// it even again with Atomics.store. A reader loads the sequence, the words, then the sequence again
// (plain loads, not merged or reordered by TurboFan for typed arrays, in order under TSO) and keeps
// the entry only when both loads are equal and even. So a key is never paired with another key's
// MAC or state: Firedancer's issue 11198 (key published before the value) cannot happen.
//
// Deletion is backward-shift (no tombstones, chains stay short): the entries after the hole that may
// live there are moved back one by one, each copy written before its old slot is overwritten, so a
// key is always present in at least one slot. A reader probing forward can still pass a key's new
// slot before the copy and reach its old slot after it was reused; so the writer keeps a table-wide
// move sequence odd during a deletion, and a reader trusts a miss only when that sequence was even
// and unchanged across its probe (else it retries, a bounded number of times). Hits never need it.

/** Test-only switch: values written without the seqlock, key first (the bug readers must never see). */
export interface SeqTableUnsafe {
  skipSeqlock: boolean;
  /** Busy-loop iterations between writing an entry's key and its value (widens the race in tests). */
  keyValueDelay: number;
}

let delaySink = 0;
function busyDelay(n: number): void {
  for (let i = 0; i < n; i++) delaySink = (delaySink + i) | 0;
}

export class SeqTableWriter {
  readonly mask: number;

  constructor(
    private readonly v: Int32Array,
    /** Word index of slot 0. */
    private readonly base: number,
    readonly slots: number,
    readonly entryWords: number,
    /** Word index of the table's move sequence in the header. */
    private readonly moveSeqWord: number,
    /** Number of key words after the seqlock word: 1 (ifindex) or 2 (ifindex, ip). */
    private readonly keyWords: 1 | 2,
    /** Hash of the key stored at an entry's word index. */
    private readonly homeOfEntry: (entry: number) => number,
    private readonly unsafe: SeqTableUnsafe = { skipSeqlock: false, keyValueDelay: 0 },
  ) {
    this.mask = slots - 1;
  }

  entry(slot: number): number {
    return this.base + slot * this.entryWords;
  }

  isEmpty(slot: number): boolean {
    return this.v[this.entry(slot) + 1] === 0;
  }

  /** Slot holding the key, or -1. */
  find(hash: number, ifindex: number, ip: number): number {
    for (let slot = hash & this.mask, n = 0; n < this.slots; n++, slot = (slot + 1) & this.mask) {
      const e = this.entry(slot);
      const k = this.v[e + 1];
      if (k === 0) return -1;
      if (k === ifindex && (this.keyWords === 1 || this.v[e + 2] === ip)) return slot;
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

  beginWrite(slot: number): void {
    if (this.unsafe.skipSeqlock) return;
    const e = this.entry(slot);
    Atomics.store(this.v, e, (this.v[e] + 1) | 1);
  }

  endWrite(slot: number): void {
    if (this.unsafe.skipSeqlock) return;
    const e = this.entry(slot);
    Atomics.store(this.v, e, (this.v[e] + 1) & ~1);
  }

  /** Writes key and value words (words[0] is ignored: the seqlock) of an entry as one versioned change. */
  write(slot: number, words: ArrayLike<number>): void {
    const e = this.entry(slot);
    this.beginWrite(slot);
    for (let i = 1; i <= this.keyWords; i++) this.v[e + i] = words[i];
    if (this.unsafe.keyValueDelay > 0) busyDelay(this.unsafe.keyValueDelay);
    for (let i = this.keyWords + 1; i < this.entryWords; i++) this.v[e + i] = words[i];
    this.endWrite(slot);
  }

  /** Deletes the entry in `slot` by backward shift (see the module comment). */
  remove(slot: number): void {
    const v = this.v;
    Atomics.store(v, this.moveSeqWord, (v[this.moveSeqWord] + 1) | 1);
    let hole = slot;
    for (let j = (slot + 1) & this.mask; !this.isEmpty(j); j = (j + 1) & this.mask) {
      const home = this.homeOfEntry(this.entry(j)) & this.mask;
      // The entry at j may move back to the hole when the hole lies on its probe path [home, j).
      if (((j - home) & this.mask) >= ((j - hole) & this.mask)) {
        this.copy(j, hole);
        hole = j;
      }
    }
    const e = this.entry(hole);
    this.beginWrite(hole);
    for (let i = 1; i < this.entryWords; i++) v[e + i] = 0;
    this.endWrite(hole);
    Atomics.store(v, this.moveSeqWord, (v[this.moveSeqWord] + 1) & ~1);
  }

  private copy(from: number, to: number): void {
    const src = this.entry(from);
    const dst = this.entry(to);
    const v = this.v;
    this.beginWrite(to);
    for (let i = 1; i <= this.keyWords; i++) v[dst + i] = v[src + i];
    if (this.unsafe.keyValueDelay > 0) busyDelay(this.unsafe.keyValueDelay);
    for (let i = this.keyWords + 1; i < this.entryWords; i++) v[dst + i] = v[src + i];
    this.endWrite(to);
  }
}
