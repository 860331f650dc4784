// The IPv6 lookups of a netbase reader, typed narrowly: NetbaseReader implements
// Netbase6Lookups once netbase holds IPv6 tables (shared/netbase/v6.ts). The data plane codes
// against the interface and takes it from the reader only when the reader has it, so it builds
// and runs (IPv6 sends counted as unroutable) with a reader that does not.
import type { Netbase6Lookups } from "../netbase/v6";

export function netbase6Of(reader: object): Netbase6Lookups | undefined {
  const r = reader as Partial<Netbase6Lookups>;
  return typeof r.lookupRoute6 === "function" &&
    typeof r.lookupNeighbor6 === "function" &&
    typeof r.isLocalAddress6 === "function" &&
    typeof r.linkLocalAddress6 === "function"
    ? (r as Netbase6Lookups)
    : undefined;
}
