// The netbase writer's control-plane model of the routes: a path-compressed binary trie (Patricia)
// over IPv4 prefixes, in the writer's own heap (never shared). Each node holds, per table, the head
// of a list of alternatives (kept by the writer, ordered by metric). Nodes exist only for prefixes
// that hold routes and for branch points, so the trie has fewer than 2 nodes per route whatever the
// prefixes are. Arrays grow by doubling; freed nodes are reused.

export const NONE = -1;
/** Tables as the trie indexes them. */
export const TABLE_MAIN = 0;
export const TABLE_LOCAL = 1;

/** Mask of a prefix length as an int32 (len 0..32). */
export function mask32(len: number): number {
  return len === 0 ? 0 : (-1 << (32 - len)) | 0;
}

/** Bit `pos` (0 = most significant) of a 32-bit address. */
export function bitAt(addr: number, pos: number): number {
  return (addr >>> (31 - pos)) & 1;
}

export class PrefixTrie {
  root = NONE;
  /** Live nodes. */
  size = 0;
  key: Int32Array;
  plen: Uint8Array;
  child0: Int32Array;
  child1: Int32Array;
  parent: Int32Array;
  /** Per table: head route id of the node's alternatives, NONE when the node has none. */
  headMain: Int32Array;
  headLocal: Int32Array;
  private highWater = 0;
  private freeNodes: number[] = [];

  constructor(initialCapacity = 1024) {
    const n = Math.max(16, initialCapacity);
    this.key = new Int32Array(n);
    this.plen = new Uint8Array(n);
    this.child0 = new Int32Array(n);
    this.child1 = new Int32Array(n);
    this.parent = new Int32Array(n);
    this.headMain = new Int32Array(n);
    this.headLocal = new Int32Array(n);
  }

  head(node: number, table: number): number {
    return table === TABLE_LOCAL ? this.headLocal[node] : this.headMain[node];
  }

  setHead(node: number, table: number, route: number): void {
    if (table === TABLE_LOCAL) this.headLocal[node] = route;
    else this.headMain[node] = route;
  }

  /** The node for exactly dst/len, or NONE. dst must be masked. */
  find(dst: number, len: number): number {
    let n = this.root;
    while (n !== NONE) {
      const l = this.plen[n];
      if (l > len || ((this.key[n] ^ dst) & mask32(l)) !== 0) return NONE;
      if (l === len) return n;
      n = bitAt(dst, l) ? this.child1[n] : this.child0[n];
    }
    return NONE;
  }

  /** The highest node inside dst/len (the root of everything more specific), or NONE. */
  subtreeTop(dst: number, len: number): number {
    let n = this.root;
    while (n !== NONE) {
      const l = this.plen[n];
      if (l >= len) return ((this.key[n] ^ dst) & mask32(len)) === 0 ? n : NONE;
      if (((this.key[n] ^ dst) & mask32(l)) !== 0) return NONE;
      n = bitAt(dst, l) ? this.child1[n] : this.child0[n];
    }
    return NONE;
  }

  /** The node for dst/len, created (with any branch node needed) when absent. dst must be masked. */
  insert(dst: number, len: number): number {
    dst |= 0;
    if (this.root === NONE) {
      this.root = this.newNode(dst, len, NONE);
      return this.root;
    }
    let n = this.root;
    for (;;) {
      const nl = this.plen[n];
      const nk = this.key[n];
      const common = Math.min(Math.clz32(nk ^ dst), nl, len);
      if (common === nl) {
        if (nl === len) return n;
        // n covers dst/len: go down.
        const b = bitAt(dst, nl);
        const c = b ? this.child1[n] : this.child0[n];
        if (c === NONE) {
          const m = this.newNode(dst, len, n);
          if (b) this.child1[n] = m;
          else this.child0[n] = m;
          return m;
        }
        n = c;
        continue;
      }
      const p = this.parent[n];
      if (common === len) {
        // dst/len covers n: the new node takes n's place and adopts it.
        const m = this.newNode(dst, len, p);
        this.replaceChild(p, n, m);
        this.adopt(m, n);
        return m;
      }
      // They diverge at bit `common`: a branch node holds both.
      const br = this.newNode(dst & mask32(common), common, p);
      this.replaceChild(p, n, br);
      this.adopt(br, n);
      const m = this.newNode(dst, len, br);
      this.adopt(br, m);
      return m;
    }
  }

  /** Removes the node if it holds no routes and is not needed as a branch point. */
  prune(n: number): void {
    if (this.headMain[n] !== NONE || this.headLocal[n] !== NONE) return;
    const c0 = this.child0[n];
    const c1 = this.child1[n];
    if (c0 !== NONE && c1 !== NONE) return;
    const p = this.parent[n];
    const only = c0 !== NONE ? c0 : c1;
    this.replaceChild(p, n, only);
    this.freeNode(n);
    // A leaf went away: its parent may now be a route-less node with a single child.
    if (only === NONE && p !== NONE) this.prune(p);
  }

  private adopt(p: number, c: number): void {
    if (bitAt(this.key[c], this.plen[p])) this.child1[p] = c;
    else this.child0[p] = c;
    this.parent[c] = p;
  }

  private replaceChild(p: number, old: number, now: number): void {
    if (p === NONE) this.root = now;
    else if (this.child0[p] === old) this.child0[p] = now;
    else this.child1[p] = now;
    if (now !== NONE) this.parent[now] = p;
  }

  private newNode(dst: number, len: number, parent: number): number {
    let n = this.freeNodes.pop();
    if (n === undefined) {
      if (this.highWater === this.key.length) this.grow();
      n = this.highWater++;
    }
    this.key[n] = dst & mask32(len);
    this.plen[n] = len;
    this.child0[n] = NONE;
    this.child1[n] = NONE;
    this.parent[n] = parent;
    this.headMain[n] = NONE;
    this.headLocal[n] = NONE;
    this.size++;
    return n;
  }

  private freeNode(n: number): void {
    this.freeNodes.push(n);
    this.size--;
  }

  private grow(): void {
    const n = this.key.length * 2;
    const g32 = (a: Int32Array): Int32Array => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.key = g32(this.key);
    this.child0 = g32(this.child0);
    this.child1 = g32(this.child1);
    this.parent = g32(this.parent);
    this.headMain = g32(this.headMain);
    this.headLocal = g32(this.headLocal);
    const pl = new Uint8Array(n);
    pl.set(this.plen);
    this.plen = pl;
  }
}
