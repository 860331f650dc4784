// Shared by the netbase tests: record builders and a brute-force reference of the kernel's lookup.
import { initNetbase, type NetbaseCapacities, netbaseRegionSize } from "../../shared/netbase/layout";
import { NetbaseWriter, type NetbaseWriterOptions } from "../../shared/netbase/writer";
import { parseIp, prefixMask, type RouteRecord, RouteType } from "../../shared/netmodel";

export function ip(text: string): number {
  const v = parseIp(text);
  if (v === undefined) throw new Error(`bad ip ${text}`);
  return v;
}

export function route(fields: Partial<RouteRecord> & { dst: number; dstLen: number }): RouteRecord {
  return {
    table: 254,
    type: RouteType.unicast,
    gateway: 0,
    oif: 1,
    prefsrc: 0,
    priority: 0,
    scope: 0,
    protocol: 4,
    tos: 0,
    ...fields,
  };
}

/** A fresh region in process memory (the layout does not care what backs it). */
export function newWriter(caps: Partial<NetbaseCapacities>, options?: NetbaseWriterOptions): NetbaseWriter {
  const buf = new ArrayBuffer(netbaseRegionSize(caps));
  initNetbase(buf, caps);
  return new NetbaseWriter(buf, options);
}

export function covers(r: RouteRecord, addr: number): boolean {
  const m = prefixMask(r.dstLen);
  return (addr & m) >>> 0 === (r.dst & m) >>> 0;
}

/** The kernel's answer by brute force: local then main; longest prefix, then lowest metric; throw
 *  continues with the next table; throw in main = no route. */
export function referenceLookup(routes: Iterable<RouteRecord>, addr: number): RouteRecord | undefined {
  const list = [...routes];
  for (const table of [255, 254]) {
    let best: RouteRecord | undefined;
    for (const r of list) {
      if (r.table !== table || !covers(r, addr)) continue;
      if (!best || r.dstLen > best.dstLen || (r.dstLen === best.dstLen && r.priority < best.priority)) best = r;
    }
    if (best && best.type !== RouteType.throw) return best;
  }
  return undefined;
}

/** Same answer for large tables: per table, one Map per prefix length (33 probes per lookup). */
export class ReferenceTable {
  private readonly maps = new Map<number, Map<number, RouteRecord>[]>();

  constructor(routes: Iterable<RouteRecord>) {
    for (const r of routes) this.add(r);
  }

  add(r: RouteRecord): void {
    let byLen = this.maps.get(r.table);
    if (!byLen) {
      byLen = Array.from({ length: 33 }, () => new Map<number, RouteRecord>());
      this.maps.set(r.table, byLen);
    }
    const key = (r.dst & prefixMask(r.dstLen)) >>> 0;
    const cur = byLen[r.dstLen].get(key);
    if (!cur || r.priority < cur.priority) byLen[r.dstLen].set(key, r);
  }

  lookup(addr: number): RouteRecord | undefined {
    for (const table of [255, 254]) {
      const byLen = this.maps.get(table);
      if (!byLen) continue;
      let found: RouteRecord | undefined;
      for (let len = 32; len >= 0 && !found; len--) found = byLen[len].get((addr & prefixMask(len)) >>> 0);
      if (found && found.type !== RouteType.throw) return found;
    }
    return undefined;
  }
}
