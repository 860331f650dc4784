// Freed netbase resources (nexthop records, tbl8 groups and rows) wait out a reuse delay before the
// writer hands them out again: a reader holds no pointer across lookups, so one that was in the
// resource when it was freed has left it by then.

/** Indexes of freed resources waiting out their reuse delay, oldest first. */
export class DeferredReuse {
  private items: number[] = [];
  private times: number[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: number, at: number): void {
    this.items.push(item);
    this.times.push(at);
  }

  /** Oldest item freed at least `delay` ago for which stillFree(item, freedAt) holds, or -1. */
  take(now: number, delay: number, stillFree: (item: number, at: number) => boolean): number {
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      const at = this.times[this.head];
      if (!stillFree(item, at)) {
        this.head++;
        continue;
      }
      if (now - at < delay) return -1;
      this.head++;
      this.compact();
      return item;
    }
    return -1;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}
