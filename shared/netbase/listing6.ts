// Enumeration of a netbase region's IPv6 content (show, diff, verify, resync): addresses, routes and
// neighbors as netmodel records. Allocates, not for hot paths. Each entry is read under its version
// and retried a bounded number of times while the writer rewrites it (then skipped).
import type { Addr6Record, Neigh6Record, Route6Record } from "../netmodel";
import {
  A6_ADDR_WORDS,
  A6_COPY,
  A6_FLAGS,
  A6_PLEN_SCOPE,
  A6C_COUNT,
  A6C_FIXED_WORDS,
  A6C_IFINDEX,
  NB_INFO_HAS_MAC,
  NB6_COPY,
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
  NH6_GATEWAY,
  NH6_META,
  NH6_METRIC,
  NH6_OIF,
  NH6_PREFSRC,
  NH6_WORDS,
  RT_META_LIVE,
  RT_META_LOCAL,
  RT6_DST,
  RT6_META,
  RT6_NEXTHOP,
  RT6_WORDS,
} from "./layout";

const LIST_RETRIES = 1000;

function words(v: Int32Array, at: number): Uint32Array {
  return Uint32Array.of(v[at], v[at + 1], v[at + 2], v[at + 3]);
}

function cmpWords(a: Uint32Array, b: Uint32Array): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** Every stored IPv6 address, by ifindex (the kernel's order within a link). */
export function listAddresses6(v: Int32Array, layout: NetbaseLayout): Addr6Record[] {
  const out: Addr6Record[] = [];
  for (let slot = 0; slot < layout.interfaceSlots; slot++) {
    const b = layout.addrs6Offset / 4 + slot * layout.addr6EntryWords;
    for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
      const seq = v[b];
      const c = b + A6_COPY + (seq & 1) * layout.addr6CopyWords;
      const ifindex = v[c + A6C_IFINDEX] >>> 0;
      const list: Addr6Record[] = [];
      const count = Math.min(v[c + A6C_COUNT], layout.caps.addrs6PerInterface);
      for (let i = 0; i < count; i++) {
        const a = c + A6C_FIXED_WORDS + i * A6_ADDR_WORDS;
        const ps = v[a + A6_PLEN_SCOPE];
        list.push({
          ifindex,
          address: words(v, a),
          prefixLen: ps & 255,
          scope: (ps >>> 8) & 255,
          flags: v[a + A6_FLAGS],
        });
      }
      if (v[b] !== seq) continue;
      if (ifindex !== 0) out.push(...list);
      break;
    }
  }
  // Stable: a link's addresses keep the kernel's order.
  return out.sort((a, b) => a.ifindex - b.ifindex);
}

/** Every stored IPv6 route (both tables), by table, prefix, length, metric. */
export function listRoutes6(v: Int32Array, layout: NetbaseLayout): Route6Record[] {
  const out: Route6Record[] = [];
  for (let slot = 0; slot < layout.caps.routes6; slot++) {
    const b = layout.routes6Offset / 4 + slot * RT6_WORDS;
    for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
      const seq = v[b];
      if ((seq & 1) !== 0) continue;
      const meta = v[b + RT6_META];
      if ((meta & RT_META_LIVE) === 0) break;
      const r = layout.nexthops6Offset / 4 + v[b + RT6_NEXTHOP] * NH6_WORDS;
      const gen = v[r];
      const nhMeta = v[r + NH6_META];
      const route: Route6Record = {
        table: meta & RT_META_LOCAL ? 255 : 254,
        type: nhMeta & 255,
        dst: words(v, b + RT6_DST),
        dstLen: meta & 255,
        gateway: words(v, r + NH6_GATEWAY),
        oif: v[r + NH6_OIF] >>> 0,
        prefsrc: words(v, r + NH6_PREFSRC),
        priority: v[r + NH6_METRIC] >>> 0,
        protocol: nhMeta >>> 24,
      };
      if ((gen & 1) !== 0 || v[r] !== gen || v[b] !== seq) continue;
      out.push(route);
      break;
    }
  }
  return out.sort(
    (a, b) => a.table - b.table || cmpWords(a.dst, b.dst) || a.dstLen - b.dstLen || a.priority - b.priority,
  );
}

/** Every IPv6 neighbor entry, by (ifindex, address). */
export function listNeighbors6(v: Int32Array, layout: NetbaseLayout): Neigh6Record[] {
  const out: Neigh6Record[] = [];
  for (let slot = 0; slot < layout.neighbor6Slots; slot++) {
    const b = layout.neighbors6Offset / 4 + slot * NB6_WORDS;
    for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
      const seq = v[b];
      const c = b + NB6_COPY + (seq & 1) * NB6_COPY_WORDS;
      const ifindex = v[c + NB6C_IFINDEX];
      const info = v[c + NB6C_INFO];
      const hi = v[c + NB6C_MAC_HI];
      const lo = v[c + NB6C_MAC_LO];
      const rec: Neigh6Record = {
        ifindex: ifindex >>> 0,
        ip: words(v, c + NB6C_IP),
        mac:
          info & NB_INFO_HAS_MAC
            ? Uint8Array.of(hi >>> 24, (hi >>> 16) & 255, (hi >>> 8) & 255, hi & 255, (lo >>> 8) & 255, lo & 255)
            : null,
        state: v[c + NB6C_STATE],
        flags: v[c + NB6C_FLAGS],
      };
      if (v[b] !== seq) continue;
      if (ifindex !== 0) out.push(rec);
      break;
    }
  }
  return out.sort((a, b) => a.ifindex - b.ifindex || cmpWords(a.ip, b.ip));
}
