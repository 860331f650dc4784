// Enumeration of a netbase region (show, diff, verify): every interface, route and neighbor as
// records. Allocates, not for hot paths. Each entry is read under its seqlock or version and retried
// a bounded number of times while the writer rewrites it (then skipped).
import type { LinkRecord, NeighRecord, RouteRecord } from "../netmodel";
import {
  IF_ADDR_WORDS,
  IF_COPY,
  IF_NAME_BYTES,
  IF_STATE_HAS_MAC,
  IF_STATE_LOWER_UP,
  IF_STATE_UP,
  IFC_ADDR_COUNT,
  IFC_FIXED_WORDS,
  IFC_IFINDEX,
  IFC_KERNEL_FLAGS,
  IFC_MAC_HI,
  IFC_MAC_LO,
  IFC_MTU,
  IFC_NAME,
  IFC_STATE,
  IFC_TYPE,
  NB_COPY,
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
  NH_GATEWAY,
  NH_META,
  NH_METRIC,
  NH_OIF,
  NH_PREFSRC,
  NH_WORDS,
  RT_DST,
  RT_META,
  RT_META_LIVE,
  RT_META_LOCAL,
  RT_NEXTHOP,
  RT_WORDS,
} from "./layout";

/** Retries per entry before skipping it. */
const LIST_RETRIES = 1000;

/** An interface as stored: its link record and its addresses. */
export interface StoredInterface {
  link: LinkRecord;
  addrs: { address: number; prefixLen: number; scope: number; broadcast: number }[];
}

export class RegionListing {
  private readonly v: Int32Array;
  private readonly bytes: Uint8Array;

  /** buf: the whole region (already validated: layout). */
  constructor(
    buf: ArrayBuffer,
    private readonly layout: NetbaseLayout,
  ) {
    this.v = new Int32Array(buf, 0, layout.regionBytes / 4);
    this.bytes = new Uint8Array(buf, 0, layout.regionBytes);
  }

  /** Every interface with its addresses, by ifindex. */
  interfaces(): StoredInterface[] {
    const out: StoredInterface[] = [];
    const v = this.v;
    const decoder = new TextDecoder();
    const layout = this.layout;
    for (let slot = 0; slot < layout.interfaceSlots; slot++) {
      const b = layout.interfacesOffset / 4 + slot * layout.interfaceEntryWords;
      for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
        const seq = v[b];
        const c = b + IF_COPY + (seq & 1) * layout.interfaceCopyWords;
        const ifindex = v[c + IFC_IFINDEX];
        const state = v[c + IFC_STATE];
        const nameBytes = this.bytes.slice((c + IFC_NAME) * 4, (c + IFC_NAME) * 4 + IF_NAME_BYTES);
        const end = nameBytes.indexOf(0);
        const addrs: StoredInterface["addrs"] = [];
        const count = Math.min(v[c + IFC_ADDR_COUNT], layout.caps.addrsPerInterface);
        for (let i = 0; i < count; i++) {
          const a = c + IFC_FIXED_WORDS + i * IF_ADDR_WORDS;
          addrs.push({
            address: v[a] >>> 0,
            prefixLen: v[a + 1] & 255,
            scope: (v[a + 1] >>> 8) & 255,
            broadcast: v[a + 2] >>> 0,
          });
        }
        const link: LinkRecord = {
          ifindex: ifindex >>> 0,
          name: decoder.decode(end >= 0 ? nameBytes.subarray(0, end) : nameBytes),
          mac: state & IF_STATE_HAS_MAC ? unpackMac(v[c + IFC_MAC_HI], v[c + IFC_MAC_LO]) : null,
          mtu: v[c + IFC_MTU] >>> 0,
          up: (state & IF_STATE_UP) !== 0,
          lowerUp: (state & IF_STATE_LOWER_UP) !== 0,
          type: v[c + IFC_TYPE],
          flags: v[c + IFC_KERNEL_FLAGS] >>> 0,
        };
        if (v[b] !== seq) continue;
        if (ifindex !== 0) out.push({ link, addrs });
        break;
      }
    }
    return out.sort((a, b) => a.link.ifindex - b.link.ifindex);
  }

  /** Every stored route (both tables), as records (tos is not stored: 0). */
  routes(): RouteRecord[] {
    const out: RouteRecord[] = [];
    const v = this.v;
    const layout = this.layout;
    for (let slot = 0; slot < layout.caps.routes; slot++) {
      const b = layout.routesOffset / 4 + slot * RT_WORDS;
      for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
        const seq = v[b];
        if ((seq & 1) !== 0) continue;
        const meta = v[b + RT_META];
        if ((meta & RT_META_LIVE) === 0) break;
        const dst = v[b + RT_DST] >>> 0;
        const r = layout.nexthopsOffset / 4 + v[b + RT_NEXTHOP] * NH_WORDS;
        const gen = v[r];
        const nhMeta = v[r + NH_META];
        const route: RouteRecord = {
          table: meta & RT_META_LOCAL ? 255 : 254,
          type: nhMeta & 255,
          dst,
          dstLen: meta & 63,
          gateway: v[r + NH_GATEWAY] >>> 0,
          oif: v[r + NH_OIF] >>> 0,
          prefsrc: v[r + NH_PREFSRC] >>> 0,
          priority: v[r + NH_METRIC] >>> 0,
          scope: (nhMeta >>> 8) & 255,
          protocol: nhMeta >>> 24,
          tos: 0,
        };
        if ((gen & 1) !== 0 || v[r] !== gen || v[b] !== seq) continue;
        out.push(route);
        break;
      }
    }
    return out.sort((a, b) => a.table - b.table || a.dst - b.dst || a.dstLen - b.dstLen || a.priority - b.priority);
  }

  /** Every neighbor entry, by (ifindex, ip). */
  neighbors(): NeighRecord[] {
    const out: NeighRecord[] = [];
    const v = this.v;
    const layout = this.layout;
    for (let slot = 0; slot < layout.neighborSlots; slot++) {
      const b = layout.neighborsOffset / 4 + slot * NB_WORDS;
      for (let attempt = 0; attempt < LIST_RETRIES; attempt++) {
        const seq = v[b];
        const c = b + NB_COPY + (seq & 1) * NB_COPY_WORDS;
        const ifindex = v[c + NBC_IFINDEX];
        const info = v[c + NBC_INFO];
        const rec: NeighRecord = {
          ifindex: ifindex >>> 0,
          ip: v[c + NBC_IP] >>> 0,
          mac: info & NB_INFO_HAS_MAC ? unpackMac(v[c + NBC_MAC_HI], v[c + NBC_MAC_LO]) : null,
          state: v[c + NBC_STATE],
          flags: v[c + NBC_FLAGS],
        };
        if (v[b] !== seq) continue;
        if (ifindex !== 0) out.push(rec);
        break;
      }
    }
    return out.sort((a, b) => a.ifindex - b.ifindex || a.ip - b.ip);
  }
}

function unpackMac(hi: number, lo: number): Uint8Array {
  return Uint8Array.of(hi >>> 24, (hi >>> 16) & 255, (hi >>> 8) & 255, hi & 255, (lo >>> 8) & 255, lo & 255);
}
