// The netbase writer's control-plane model of the routes: a path-compressed binary trie (Patricia)
// over IPv4 prefixes, in the writer's own heap (never shared). Each node holds, per table, the head
// of a list of alternatives (kept by the writer, ordered by metric). Nodes exist only for prefixes
// that hold routes and for branch points, so the trie has fewer than 2 nodes per route whatever the
// prefixes are. A node's fields share one 32-byte block of one Int32Array (one cache line per node
// visited); node ids are the blocks' word offsets. The array grows by doubling; freed nodes are reused.

export const NONE = -1;
/** Tables as the trie indexes them. */
export const TABLE_MAIN = 0;
export const TABLE_LOCAL = 1;

/** Fields of a node block. */
export const N_KEY = 0;
export const N_LEN = 1;
export const N_CHILD0 = 2;
export const N_CHILD1 = 3;
export const N_PARENT = 4;
export const N_HEAD_MAIN = 5;
export const N_HEAD_LOCAL = 6;
const NODE_WORDS = 8;

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
  /** Node blocks; read fields as nodes[node + N_*]. Replaced when it grows (only in insert). */
  nodes: Int32Array;
  private highWater = 0;
  private freeNodes: number[] = [];

  constructor(initialNodes = 1024) {
    this.nodes = new Int32Array(Math.max(16, initialNodes) * NODE_WORDS);
  }

  head(node: number, table: number): number {
    return this.nodes[node + (table === TABLE_LOCAL ? N_HEAD_LOCAL : N_HEAD_MAIN)];
  }

  setHead(node: number, table: number, route: number): void {
    this.nodes[node + (table === TABLE_LOCAL ? N_HEAD_LOCAL : N_HEAD_MAIN)] = route;
  }

  child(node: number, bit: number): number {
    return this.nodes[node + N_CHILD0 + bit];
  }

  /** The node for exactly dst/len, or NONE. dst must be masked. */
  find(dst: number, len: number): number {
    const t = this.nodes;
    let n = this.root;
    while (n !== NONE) {
      const l = t[n + N_LEN];
      if (l > len || ((t[n + N_KEY] ^ dst) & mask32(l)) !== 0) return NONE;
      if (l === len) return n;
      n = t[n + N_CHILD0 + bitAt(dst, l)];
    }
    return NONE;
  }

  /** The highest node inside dst/len (the root of everything more specific), or NONE. */
  subtreeTop(dst: number, len: number): number {
    const t = this.nodes;
    let n = this.root;
    while (n !== NONE) {
      const l = t[n + N_LEN];
      if (l >= len) return ((t[n + N_KEY] ^ dst) & mask32(len)) === 0 ? n : NONE;
      if (((t[n + N_KEY] ^ dst) & mask32(l)) !== 0) return NONE;
      n = t[n + N_CHILD0 + bitAt(dst, l)];
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
      const t = this.nodes;
      const nl = t[n + N_LEN];
      const nk = t[n + N_KEY];
      const common = Math.min(Math.clz32(nk ^ dst), nl, len);
      if (common === nl) {
        if (nl === len) return n;
        // n covers dst/len: go down.
        const slot = n + N_CHILD0 + bitAt(dst, nl);
        const c = t[slot];
        if (c === NONE) {
          const m = this.newNode(dst, len, n);
          this.nodes[slot] = m;
          return m;
        }
        n = c;
        continue;
      }
      const p = t[n + N_PARENT];
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
    const t = this.nodes;
    if (t[n + N_HEAD_MAIN] !== NONE || t[n + N_HEAD_LOCAL] !== NONE) return;
    const c0 = t[n + N_CHILD0];
    const c1 = t[n + N_CHILD1];
    if (c0 !== NONE && c1 !== NONE) return;
    const p = t[n + N_PARENT];
    const only = c0 !== NONE ? c0 : c1;
    this.replaceChild(p, n, only);
    this.freeNodes.push(n);
    this.size--;
    // A leaf went away: its parent may now be a route-less node with a single child.
    if (only === NONE && p !== NONE) this.prune(p);
  }

  private adopt(p: number, c: number): void {
    const t = this.nodes;
    t[p + N_CHILD0 + bitAt(t[c + N_KEY], t[p + N_LEN])] = c;
    t[c + N_PARENT] = p;
  }

  private replaceChild(p: number, old: number, now: number): void {
    const t = this.nodes;
    if (p === NONE) this.root = now;
    else if (t[p + N_CHILD0] === old) t[p + N_CHILD0] = now;
    else t[p + N_CHILD1] = now;
    if (now !== NONE) t[now + N_PARENT] = p;
  }

  private newNode(dst: number, len: number, parent: number): number {
    let n = this.freeNodes.pop();
    if (n === undefined) {
      if (this.highWater === this.nodes.length) {
        const grown = new Int32Array(this.nodes.length * 2);
        grown.set(this.nodes);
        this.nodes = grown;
      }
      n = this.highWater;
      this.highWater += NODE_WORDS;
    }
    const t = this.nodes;
    t[n + N_KEY] = dst & mask32(len);
    t[n + N_LEN] = len;
    t[n + N_CHILD0] = NONE;
    t[n + N_CHILD1] = NONE;
    t[n + N_PARENT] = parent;
    t[n + N_HEAD_MAIN] = NONE;
    t[n + N_HEAD_LOCAL] = NONE;
    this.size++;
    return n;
  }
}
