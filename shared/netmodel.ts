// Typed records of the kernel's network state, as decoded from rtnetlink and stored in netbase.
// IPv4 addresses are unsigned 32-bit numbers in host order (198.18.0.1 = 0xc6120001).

/** Route types (RTN_*), as the kernel numbers them. */
export const RouteType = {
  unicast: 1,
  local: 2,
  broadcast: 3,
  anycast: 4,
  multicast: 5,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
  throw: 9,
} as const;
export type RouteTypeName = keyof typeof RouteType;

/** Routing tables we mirror. */
export const RouteTable = { main: 254, local: 255 } as const;

/** Neighbor states (NUD_*), a bit mask in the kernel. */
export const NeighState = {
  incomplete: 0x01,
  reachable: 0x02,
  stale: 0x04,
  delay: 0x08,
  probe: 0x10,
  failed: 0x20,
  noarp: 0x40,
  permanent: 0x80,
} as const;

export interface LinkRecord {
  ifindex: number;
  name: string;
  /** 6-byte hardware address, or null when the link has none (e.g. some tunnels). */
  mac: Uint8Array | null;
  mtu: number;
  /** IFF_UP set administratively. */
  up: boolean;
  /** IFF_LOWER_UP / carrier. */
  lowerUp: boolean;
  /** ARPHRD_* (1 = Ethernet, 772 = loopback). */
  type: number;
  flags: number;
}

export interface AddrRecord {
  ifindex: number;
  /** IFA_LOCAL (or IFA_ADDRESS when there is no IFA_LOCAL). */
  address: number;
  prefixLen: number;
  /** IFA_BROADCAST, 0 if none. */
  broadcast: number;
  scope: number;
}

export interface RouteRecord {
  table: number;
  /** RouteType value. */
  type: number;
  dst: number;
  dstLen: number;
  /** RTA_GATEWAY, 0 when on-link. */
  gateway: number;
  /** RTA_OIF, 0 when none (blackhole etc.). */
  oif: number;
  /** RTA_PREFSRC, 0 when none. */
  prefsrc: number;
  /** RTA_PRIORITY (the metric), 0 when absent. */
  priority: number;
  scope: number;
  protocol: number;
  tos: number;
}

export interface NeighRecord {
  ifindex: number;
  ip: number;
  /** NDA_LLADDR, null while unresolved. */
  mac: Uint8Array | null;
  /** NeighState bits. */
  state: number;
  flags: number;
}

// IPv6 records: addresses as four 32-bit words (shared/ip6.ts: word i = bytes 4i..4i+3 read
// big-endian, unsigned), each record's own Uint32Array(4) (decoders allocate records anyway).

export interface Addr6Record {
  ifindex: number;
  /** IFA_ADDRESS (IFA_LOCAL when present). */
  address: Uint32Array;
  prefixLen: number;
  /** RT_SCOPE_*: 0 universe (global), 253 link (fe80::/10), 254 host. */
  scope: number;
  /** IFA_FLAGS (IFA_F_TENTATIVE, IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_NODAD, ...). */
  flags: number;
}

export interface Route6Record {
  table: number;
  /** RouteType value. */
  type: number;
  dst: Uint32Array;
  dstLen: number;
  /** RTA_GATEWAY, all zero when on-link. */
  gateway: Uint32Array;
  /** RTA_OIF, 0 when none. */
  oif: number;
  /** RTA_PREFSRC, all zero when none. */
  prefsrc: Uint32Array;
  /** RTA_PRIORITY (the metric; IPv6 routes always carry one). */
  priority: number;
  protocol: number;
}

export interface Neigh6Record {
  ifindex: number;
  ip: Uint32Array;
  /** NDA_LLADDR, null while unresolved. */
  mac: Uint8Array | null;
  /** NeighState bits. */
  state: number;
  /** NTF_* flags (NTF_ROUTER for routers). */
  flags: number;
}

/** One change the kernel told us about (subscription event or dump entry). */
export type NetEvent =
  | { kind: "link"; op: "new" | "del"; link: LinkRecord }
  | { kind: "addr"; op: "new" | "del"; addr: AddrRecord }
  | { kind: "route"; op: "new" | "del"; route: RouteRecord }
  | { kind: "neigh"; op: "new" | "del"; neigh: NeighRecord }
  | { kind: "addr6"; op: "new" | "del"; addr: Addr6Record }
  | { kind: "route6"; op: "new" | "del"; route: Route6Record }
  | { kind: "neigh6"; op: "new" | "del"; neigh: Neigh6Record };

/** Everything a full dump returns (the IPv6 lists absent from producers that predate them). */
export interface NetSnapshot {
  links: LinkRecord[];
  addrs: AddrRecord[];
  routes: RouteRecord[];
  neighs: NeighRecord[];
  addrs6?: Addr6Record[];
  routes6?: Route6Record[];
  neighs6?: Neigh6Record[];
}

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/** Parses dotted-quad IPv4; returns undefined when malformed. */
export function parseIp(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let ip = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    ip = ip * 256 + n;
  }
  return ip >>> 0;
}

export function macToString(mac: Uint8Array | null): string {
  if (!mac) return "";
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Mask of a prefix length (0..32) as an unsigned 32-bit number. */
export function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}
