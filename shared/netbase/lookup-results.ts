// What the reader's allocation-free lookups fill: caller-owned result objects, reused across lookups.

/**
 * Filled by lookupRoute. The lookup stores the record's raw 32-bit words (cheap: fewer stores and no
 * float conversions on the hot path); the getters give the documented values, IPv4 as host-order
 * unsigned 32-bit numbers.
 */
export class RouteResult {
  /** type | scope << 8 | table << 16 | protocol << 24 */
  rawMeta = 0;
  rawGateway = 0;
  rawNexthop = 0;
  rawIfindex = 0;
  rawSrc = 0;
  rawMetric = 0;
  /** RouteType value (unicast, local, broadcast, blackhole, unreachable, prohibit, ...). */
  get type(): number {
    return this.rawMeta & 255;
  }
  get scope(): number {
    return (this.rawMeta >>> 8) & 255;
  }
  /** 255 (local) or 254 (main). */
  get table(): number {
    return (this.rawMeta >>> 16) & 255;
  }
  /** Who installed the route (RTPROT_*: 2 kernel, 3 boot, 4 static...). */
  get protocol(): number {
    return this.rawMeta >>> 24;
  }
  /** The route's gateway, 0 when on-link. */
  get gateway(): number {
    return this.rawGateway >>> 0;
  }
  /** Where to send: the gateway, or the destination itself when on-link. */
  get nexthop(): number {
    return this.rawNexthop >>> 0;
  }
  get ifindex(): number {
    return this.rawIfindex >>> 0;
  }
  /** Source address: prefsrc, else the output interface's address on that subnet, else its first, else 0. */
  get src(): number {
    return this.rawSrc >>> 0;
  }
  get metric(): number {
    return this.rawMetric >>> 0;
  }
}

/** Filled by lookupRoutes: entry i answers dsts[from + i]. */
export class RouteBatch {
  readonly capacity: number;
  /** 1 when the destination has a route. */
  readonly found: Uint8Array;
  readonly type: Uint8Array;
  readonly table: Uint8Array;
  readonly nexthop: Uint32Array;
  readonly ifindex: Uint32Array;
  readonly src: Uint32Array;
  readonly metric: Uint32Array;
  /** Scratch: the tbl24 words, loaded first for all destinations so their cache misses overlap. */
  readonly entries: Int32Array;
  constructor(capacity = 64) {
    this.capacity = capacity;
    this.found = new Uint8Array(capacity);
    this.type = new Uint8Array(capacity);
    this.table = new Uint8Array(capacity);
    this.nexthop = new Uint32Array(capacity);
    this.ifindex = new Uint32Array(capacity);
    this.src = new Uint32Array(capacity);
    this.metric = new Uint32Array(capacity);
    this.entries = new Int32Array(capacity);
  }
}

/** Filled by lookupNeighbor. */
export class NeighborResult {
  readonly mac = new Uint8Array(6);
  /** NeighState bits. */
  state = 0;
  flags = 0;
  /** False while the kernel has no link-layer address (INCOMPLETE, FAILED): mac is then zero. */
  hasMac = false;
}

/** Filled by lookupInterface. */
export class InterfaceResult {
  ifindex = 0;
  mtu = 0;
  up = false;
  lowerUp = false;
  type = 0;
  flags = 0;
  hasMac = false;
  readonly mac = new Uint8Array(6);
  /** Number of entries filled in addrs/prefixLens (at most their length). */
  addrCount = 0;
  readonly addrs: Uint32Array;
  readonly prefixLens: Uint8Array;
  constructor(maxAddrs = 16) {
    this.addrs = new Uint32Array(maxAddrs);
    this.prefixLens = new Uint8Array(maxAddrs);
  }
}

/** Filled by lookupRoutes6: entry i answers the destination at dsts[4 * (from + i)]. Addresses are
 *  four words per entry (nexthop[4 * i .. 4 * i + 3], src likewise). */
export class Route6Batch {
  readonly capacity: number;
  /** 1 when the destination has a route. */
  readonly found: Uint8Array;
  readonly type: Uint8Array;
  readonly table: Uint8Array;
  readonly ifindex: Uint32Array;
  readonly metric: Uint32Array;
  /** Where to send: the gateway, or the destination itself when on-link (4 words each). */
  readonly nexthop: Uint32Array;
  /** The route's source (4 words each); for a link-local destination the interface's link-local. */
  readonly src: Uint32Array;
  /** Scratch: each destination's LPM entry, advanced one stride per pass for the whole batch. */
  readonly entries: Int32Array;
  constructor(capacity = 64) {
    this.capacity = capacity;
    this.found = new Uint8Array(capacity);
    this.type = new Uint8Array(capacity);
    this.table = new Uint8Array(capacity);
    this.ifindex = new Uint32Array(capacity);
    this.metric = new Uint32Array(capacity);
    this.nexthop = new Uint32Array(capacity * 4);
    this.src = new Uint32Array(capacity * 4);
    this.entries = new Int32Array(capacity);
  }
}
