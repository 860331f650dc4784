// How full netbase is, structure by structure. Routes need four structures (route slots, nexthop
// records, tbl8 groups for /24 blocks and rows for /28s holding longer prefixes): the route capacity in use is that
// of whichever fills first, so 100% means the next route may not fit, whatever the others say.

import type { StructureName, StructureUse } from "../../shared/netbase/reader";
import type { NetbaseWriter } from "../../shared/netbase/writer";

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
  const structures = writer.reader.usage();
  const pct = (name: StructureName): number => structures.find((s) => s.name === name)?.pct ?? 0;
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
