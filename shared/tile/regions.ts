// How a tile declares the regions it maps. A tile names a region by its role (what the tile's code
// asks the runtime for); the instance's description names the region behind it. Each tile's
// definition.ts owns the rule from role to region name, so the launcher, benchmarks and tests
// wire tiles the same way.

/** "write": the tile receives the read-write descriptor; "read": one it can only map read-only. */
export type RegionAccess = "read" | "write";

export interface RegionUse {
  /** The name the tile's code uses (ctx.region(role)). */
  role: string;
  /** The instance's region granted for it. */
  region: string;
  access: RegionAccess;
  /** Written by several tiles (a replica's doorbell, rung by each of its net tiles with an atomic
   *  add): not sealed after the tile maps it, or the second writer could not map it. */
  shared?: boolean;
}

/** Every tile has its own metrics region, named after the tile. */
export function metricsRegionName(tile: string): string {
  return `metrics.${tile}`;
}
