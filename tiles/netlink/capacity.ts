// How full netbase is, structure by structure. Routes need four structures (route slots, nexthop
// records, tbl8 groups for /24 blocks and rows for /28s holding longer prefixes): the route capacity in use is that
// of whichever fills first, so 100% means the next route may not fit, whatever the others say.
import type { NetbaseWriter } from "../../shared/netbase/writer";
import type { NETBASE_STRUCTURES } from "./definition";

export interface StructureUse {
  name: (typeof NETBASE_STRUCTURES)[number];
  used: number;
  capacity: number;
  pct: number;
}

export interface NetbaseFullness {
  structures: StructureUse[];
  /** Percent of the route structure that is fullest. */
  routePct: number;
  neighborPct: number;
  /** Updates dropped so far because a structure was full (all tables). */
  drops: number;
}

export function netbaseFullness(writer: NetbaseWriter): NetbaseFullness {
  const c = writer.counters();
  const caps = writer.capacities;
  const use = (name: StructureUse["name"], used: number, capacity: number): StructureUse => ({
    name,
    used,
    capacity,
    pct: capacity > 0 ? (used / capacity) * 100 : 0,
  });
  const structures = [
    use("routes", c.routes_local + c.routes_main, caps.routes),
    use("nexthops", c.nexthops_used, caps.nexthops),
    use("tbl8_groups", c.tbl8_groups_used, caps.tbl8Groups),
    use("tbl8_rows", c.tbl8_rows_used, caps.tbl8Rows),
    use("neighbors", c.neighbors, caps.neighbors),
    use("interfaces", c.interfaces, caps.interfaces),
  ];
  const pct = (name: StructureUse["name"]): number => structures.find((s) => s.name === name)?.pct ?? 0;
  return {
    structures,
    routePct: Math.max(pct("routes"), pct("nexthops"), pct("tbl8_groups"), pct("tbl8_rows")),
    neighborPct: pct("neighbors"),
    drops:
      c.drop_routes_full +
      c.drop_nexthops_full +
      c.drop_tbl8_full +
      c.drop_tbl8_rows_full +
      c.drop_neighbors_full +
      c.drop_interfaces_full +
      c.drop_addrs_full,
  };
}
