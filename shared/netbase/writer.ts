// Write side of netbase: the netlink tile's only handle on the region (read-write mapping). One region,
// one writer; this facade owns the parts, each writing its own tables of the region:
//
// - route-writer.ts: the routes of the local and main tables. The writer keeps its control-plane
//   model (a Patricia trie, trie.ts, of every route with, per prefix and table, the alternatives
//   ordered by metric; route-slots.ts per route) in its own heap, and the region holds the answer for
//   every address in a DIR-24-8 table (dir24-8.ts), repainted as a delta on every change, so a
//   lookup is 2-3 loads whatever the tables hold and a reader never sees a hole.
// - nexthops.ts: the immutable nexthop records the answers point to, shared by content.
// - interface-writer.ts, neighbor-writer.ts: links with their addresses, and neighbors, in
//   open-addressed tables of versioned entries (seqtable.ts).
// - write-core.ts: the region's words, counters, clock and the publication rule (each public write
//   ends with exactly one bump of the sync generation).
//
// Here: the wiring between the parts (a link that goes takes its routes and neighbors with it; an
// address change re-derives route sources), event dispatch, resync to a dump, and adoption of a
// region an earlier writer left (a restarted netlink tile carries on where the last one stopped).
import type {
  Addr6Record,
  AddrRecord,
  LinkRecord,
  Neigh6Record,
  NeighRecord,
  NetEvent,
  NetSnapshot,
  Route6Record,
  RouteRecord,
} from "../netmodel";
import { Addr6Writer } from "./addr6-writer";
import { addr6Key, diffNetbase } from "./diff";
import { InterfaceWriter } from "./interface-writer";
import {
  H_WRITER_PID,
  type NetbaseCapacities,
  type NetbaseCounter,
  type NetbaseLayout,
  validateNetbase,
} from "./layout";
import { NeighborWriter } from "./neighbor-writer";
import { Neighbor6Writer } from "./neighbor6-writer";
import { NetbaseReader } from "./reader";
import { RouteWriter } from "./route-writer";
import { Route6Writer } from "./route6-writer";
import { type NetbaseWriterOptions, type NetbaseWrites, type ResyncResult, WriterCore } from "./write-core";

export type { NetbaseWriterOptions, NetbaseWrites, ResyncResult } from "./write-core";

export class NetbaseWriter implements NetbaseWrites {
  readonly layout: NetbaseLayout;
  readonly capacities: NetbaseCapacities;
  /** A reader over the writer's own mapping (diff, tests). */
  readonly reader: NetbaseReader;
  private readonly core: WriterCore;
  private readonly interfaces: InterfaceWriter;
  private readonly neighbors: NeighborWriter;
  private readonly routes: RouteWriter;
  private readonly addrs6: Addr6Writer;
  private readonly neighbors6: Neighbor6Writer;
  private readonly routes6: Route6Writer;

  constructor(buf: ArrayBuffer, options: NetbaseWriterOptions = {}) {
    this.layout = validateNetbase(buf);
    this.capacities = this.layout.caps;
    this.reader = new NetbaseReader(buf);
    this.core = new WriterCore(buf, this.layout.regionBytes, options);
    this.interfaces = new InterfaceWriter(this.core, this.layout, this.reader, {
      // The kernel flushes a vanished link's routes and neighbors without telling.
      linkGone: (ifindex) => {
        this.routes.flushVia(ifindex);
        this.neighbors.flushOn(ifindex);
        this.routes6.flushVia(ifindex);
        this.neighbors6.flushOn(ifindex);
        this.addrs6.flushOn(ifindex);
      },
      addrsChanged: (ifindex) => this.routes.refreshDerivedSources(ifindex),
    });
    this.neighbors = new NeighborWriter(this.core, this.layout, options.unsafe);
    this.routes = new RouteWriter(this.core, this.layout, this.interfaces, options.unsafe);
    this.addrs6 = new Addr6Writer(
      this.core,
      this.layout,
      (ifindex) => this.interfaces.has(ifindex),
      (ifindex) => this.routes6.refreshDerivedSources(ifindex),
    );
    this.neighbors6 = new Neighbor6Writer(this.core, this.layout, options.unsafe);
    this.routes6 = new Route6Writer(this.core, this.layout, this.addrs6);
    const v = this.core.v;
    // A region that never had a writer is all zeros past its header: nothing to adopt, and not
    // scanning it keeps its untouched pages unallocated (they are shared memory).
    if (v[H_WRITER_PID] !== 0) this.adopt();
    v[H_WRITER_PID] = process.pid;
  }

  /** Adds or updates a link (its addresses are kept). False when dropped (table full, bad record). */
  upsertLink(link: LinkRecord): boolean {
    return this.interfaces.upsertLink(link);
  }

  /** Removes a link, its addresses, and (the kernel flushes them without telling) the routes that
   *  leave through it and its neighbors. */
  deleteLink(ifindex: number): boolean {
    return this.interfaces.deleteLink(ifindex);
  }

  upsertAddr(addr: AddrRecord): boolean {
    return this.interfaces.upsertAddr(addr);
  }

  deleteAddr(addr: AddrRecord): boolean {
    return this.interfaces.deleteAddr(addr);
  }

  /** Adds or updates (ifindex, ip) -> MAC, state. False when dropped (table full, bad record). */
  upsertNeighbor(n: NeighRecord): boolean {
    return this.neighbors.upsert(n);
  }

  deleteNeighbor(n: Pick<NeighRecord, "ifindex" | "ip">): boolean {
    return this.neighbors.delete(n);
  }

  /** Adds a route, or replaces the one with the same (table, prefix, metric). Tables other than local
   *  and main, and routes with a TOS, are ignored (counted). False when ignored or dropped. */
  upsertRoute(r: RouteRecord): boolean {
    return this.routes.upsert(r);
  }

  /** Deletes the route with the same (table, prefix, metric); its addresses fall back to the next
   *  best covering route. */
  deleteRoute(r: RouteRecord): boolean {
    return this.routes.delete(r);
  }

  applyEvent(ev: NetEvent): boolean {
    switch (ev.kind) {
      case "link":
        return ev.op === "new" ? this.upsertLink(ev.link) : this.deleteLink(ev.link.ifindex);
      case "addr":
        return ev.op === "new" ? this.upsertAddr(ev.addr) : this.deleteAddr(ev.addr);
      case "route":
        return ev.op === "new" ? this.upsertRoute(ev.route) : this.deleteRoute(ev.route);
      case "neigh":
        return ev.op === "new" ? this.upsertNeighbor(ev.neigh) : this.deleteNeighbor(ev.neigh);
      case "addr6":
        return ev.op === "new" ? this.upsertAddr6(ev.addr) : this.deleteAddr6(ev.addr);
      case "route6":
        return ev.op === "new" ? this.upsertRoute6(ev.route) : this.deleteRoute6(ev.route);
      case "neigh6":
        return ev.op === "new" ? this.upsertNeighbor6(ev.neigh) : this.deleteNeighbor6(ev.neigh);
    }
  }

  /** Adds or updates an IPv6 address of a stored link (routes via the link get their source
   *  re-derived). False when dropped (no link, list full, bad record). */
  upsertAddr6(addr: Addr6Record): boolean {
    return this.addrs6.upsert(addr);
  }

  deleteAddr6(addr: Addr6Record): boolean {
    return this.addrs6.delete(addr);
  }

  /** Adds or updates (ifindex, address) -> MAC, NUD state. False when dropped (table full, bad record). */
  upsertNeighbor6(n: Neigh6Record): boolean {
    return this.neighbors6.upsert(n);
  }

  deleteNeighbor6(n: Pick<Neigh6Record, "ifindex" | "ip">): boolean {
    return this.neighbors6.delete(n);
  }

  /** Adds an IPv6 route, or replaces the one with the same (table, prefix, metric, interface).
   *  Tables other than local and main are ignored (counted). False when ignored or dropped (full,
   *  bad record). */
  upsertRoute6(r: Route6Record): boolean {
    return this.routes6.upsert(r);
  }

  /** A `route replace` event (the kernel sends no delete for the route it replaced): false when
   *  the replaced route cannot be told (several share table, prefix and metric): resync then. */
  replaceRoute6(r: Route6Record): boolean {
    return this.routes6.replace(r);
  }

  /** Deletes the IPv6 route with the same (table, prefix, metric, interface): its addresses fall
   *  back to the next best covering route without a hole. */
  deleteRoute6(r: Route6Record): boolean {
    return this.routes6.delete(r);
  }

  /**
   * Brings the region to a full new dump (after a netlink overrun) by applying only the differences
   * as deltas: readers never see emptied tables. Links first (a vanished link takes its addresses,
   * routes and neighbors with it, as in the kernel; it counts as one removal); then routes are added
   * and changed before any is removed, so a prefix that moves to another metric is never without a
   * route. Route sources are re-derived once, at the end.
   */
  resync(snap: NetSnapshot): ResyncResult {
    const result: ResyncResult = { added: 0, removed: 0, changed: 0 };
    this.routes.deferSourceRefresh();
    try {
      this.interfaces.resync(snap, result, this);
      this.routes.resync(snap.routes, result, this);
      this.neighbors.resync(snap.neighs, result, this);
      this.resync6(snap, result);
    } finally {
      this.routes.refreshDeferredSources();
    }
    this.core.count("resyncs");
    this.core.published(true);
    return result;
  }

  /** The IPv6 lists of a dump (an absent list: nothing of that kind to compare). Addresses after
   *  links (a vanished link took its own), routes added and changed before any is removed. */
  private resync6(snap: NetSnapshot, result: ResyncResult): void {
    if (snap.addrs6) {
      const have = new Map<string, Addr6Record>();
      for (const a of this.reader.addresses6()) have.set(addr6Key(a), a);
      const want = new Map<string, Addr6Record>();
      for (const a of snap.addrs6) want.set(addr6Key(a), a);
      for (const [key, a] of have) if (!want.has(key) && this.deleteAddr6(a)) result.removed++;
      for (const [key, a] of want) {
        const cur = have.get(key);
        if (cur && cur.scope === a.scope && cur.flags === a.flags) continue;
        if (this.upsertAddr6(a)) result[cur ? "changed" : "added"]++;
      }
    }
    if (snap.routes6)
      this.routes6.resync(snap.routes6, result, {
        upsert: (r) => this.upsertRoute6(r),
        remove: (r) => this.deleteRoute6(r),
      });
    if (snap.neighs6)
      this.neighbors6.resync(snap.neighs6, result, {
        upsert: (n) => this.upsertNeighbor6(n),
        remove: (n) => this.deleteNeighbor6(n),
      });
  }

  /** Human-readable differences between the region and a kernel dump; empty when equal. */
  diff(snap: NetSnapshot): string[] {
    return diffNetbase(this.reader, snap);
  }

  counters(): Record<NetbaseCounter, number> {
    return this.reader.counters();
  }

  /**
   * Rebuilds the private model from the region, so a restarted writer carries on where the last one
   * stopped (an initialized, empty region gives an empty model).
   */
  private adopt(): void {
    this.interfaces.adopt();
    this.neighbors.adopt();
    this.routes.adopt(this.core.now());
    this.neighbors6.adopt();
    this.routes6.adopt(this.core.now());
  }
}
