// Netbase's IPv6 answers scripted by a test (the Netbase6Lookups interface of shared/netbase/v6.ts),
// for data plane tests written before (or independently of) netbase's IPv6 tables.
import { formatIp6 } from "../../shared/ip6";
import type { NeighborResult } from "../../shared/netbase/lookup-results";
import type { Netbase6Lookups, Route6Result } from "../../shared/netbase/v6";

const key = (w: ArrayLike<number>) => formatIp6(w[0], w[1], w[2], w[3]);

/** Netbase's IPv6 answers, scripted. */
export class FakeNetbase6 implements Netbase6Lookups {
  routes: { prefix: Uint32Array; len: number; ifindex: number; via?: Uint32Array; src?: Uint32Array; type?: number }[] =
    [];
  neighbors = new Map<string, number[]>();
  locals = new Set<string>();
  linkLocal = new Map<number, Uint32Array>();
  lookupRoute6(a0: number, a1: number, a2: number, a3: number, out: Route6Result): boolean {
    const a = [a0, a1, a2, a3];
    const matches = (p: Uint32Array, len: number) =>
      [0, 1, 2, 3].every((i) => {
        const bits = Math.max(0, Math.min(32, len - 32 * i));
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        return (a[i] & mask) >>> 0 === (p[i] & mask) >>> 0;
      });
    const best = this.routes.filter((r) => matches(r.prefix, r.len)).sort((x, y) => y.len - x.len)[0];
    if (!best) return false;
    out.rawMeta = best.type ?? 1;
    out.ifindex = best.ifindex;
    out.gateway.set(best.via ?? [0, 0, 0, 0]);
    out.nexthop.set(best.via ?? a);
    out.src.set(best.src ?? [0, 0, 0, 0]);
    return true;
  }
  lookupNeighbor6(ifindex: number, a0: number, a1: number, a2: number, a3: number, out: NeighborResult): boolean {
    const mac = this.neighbors.get(`${ifindex}/${key([a0, a1, a2, a3])}`);
    if (!mac) return false;
    out.mac.set(mac);
    out.hasMac = true;
    return true;
  }
  isLocalAddress6(a0: number, a1: number, a2: number, a3: number): boolean {
    return this.locals.has(key([a0, a1, a2, a3]));
  }
  linkLocalAddress6(ifindex: number, out: Uint32Array): boolean {
    const ll = this.linkLocal.get(ifindex);
    if (ll) out.set(ll);
    return ll !== undefined;
  }
}
