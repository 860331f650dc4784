// Shared by the IPv6 netbase tests: record builders, a fresh region, a brute-force reference of the
// kernel's IPv6 lookup.
import { parseIp6 } from "../../shared/ip6";
import { initNetbase, type NetbaseCapacities, netbaseRegionSize } from "../../shared/netbase/layout";
import { NetbaseWriter, type NetbaseWriterOptions } from "../../shared/netbase/writer";
import { type Route6Record, RouteType } from "../../shared/netmodel";

export function ip6(text: string): Uint32Array {
  const a = parseIp6(text);
  if (!a) throw new Error(`bad ip6 ${text}`);
  return a;
}

export function route6(fields: Partial<Route6Record> & { dst: Uint32Array; dstLen: number }): Route6Record {
  return {
    table: 254,
    type: RouteType.unicast,
    gateway: new Uint32Array(4),
    oif: 1,
    prefsrc: new Uint32Array(4),
    priority: 1024,
    protocol: 3,
    ...fields,
  };
}

export function newWriter6(caps: Partial<NetbaseCapacities> = {}, options?: NetbaseWriterOptions): NetbaseWriter {
  const c = { routes: 16, routes6: 4096, ...caps };
  const buf = new ArrayBuffer(netbaseRegionSize(c));
  initNetbase(buf, c);
  return new NetbaseWriter(buf, options);
}

export function covers6(r: Route6Record, a: Uint32Array): boolean {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, r.dstLen - 32 * i));
    if (bits === 0) return true;
    const m = -1 << (32 - bits);
    if (((a[i] ^ r.dst[i]) & m) !== 0) return false;
  }
  return true;
}

/** The kernel's answer by brute force. */
export function reference6(routes: Iterable<Route6Record>, a: Uint32Array): Route6Record | undefined {
  const list = [...routes];
  for (const table of [255, 254]) {
    let best: Route6Record | undefined;
    for (const r of list) {
      if (r.table !== table || !covers6(r, a)) continue;
      // Longest prefix, then lowest metric, then (routes that differ only by interface) lowest ifindex.
      if (
        !best ||
        r.dstLen > best.dstLen ||
        (r.dstLen === best.dstLen &&
          (r.priority < best.priority || (r.priority === best.priority && r.oif >>> 0 < best.oif >>> 0)))
      )
        best = r;
    }
    if (best && best.type !== RouteType.throw) return best;
  }
  return undefined;
}
