// Apps with replicas, as the net tiles (AF_XDP and socket) see them: each replica of an app has
// its own channel pair with every net tile (SPSC kept), named by its channel key, and a doorbell
// when it reads several channels (shared/udp/doorbell.ts). Declared once for both net tiles.
import type { RegionUse } from "../tile/regions";
import { udpChannelRegionNames } from "./channel";

/** One replica's channel pair as a net tile sees it. */
export interface NetReplicaChannel {
  /** The channel key: regions `rx.<channel>.*` and `tx.<channel>.*` (udpChannelRegionNames). */
  channel: string;
  /** Region name of the replica's doorbell, when it has one (it reads several channels). */
  doorbell?: string;
}

/** An app's replica channels (the default: one channel named after the app). */
export function netAppReplicas(app: {
  name: string;
  replicas?: readonly NetReplicaChannel[];
}): readonly NetReplicaChannel[] {
  return app.replicas ?? [{ channel: app.name }];
}

/** A net tile's (or net-socket tile's) uses of replica channels: the six channel regions
 *  (role = region name; it writes what it produces), then the doorbell when there is one. */
export function channelUses(replicas: readonly NetReplicaChannel[]): RegionUse[] {
  const uses: RegionUse[] = [];
  const use = (name: string, access: RegionUse["access"]): RegionUse => ({ role: name, region: name, access });
  for (const r of replicas) {
    const rx = udpChannelRegionNames("rx", r.channel);
    const tx = udpChannelRegionNames("tx", r.channel);
    uses.push(use(rx.producer, "write"), use(rx.consumer, "read"), use(rx.data, "write"));
    uses.push(use(tx.producer, "read"), use(tx.consumer, "write"), use(tx.data, "read"));
    if (r.doorbell !== undefined) uses.push({ ...use(r.doorbell, "write"), shared: true });
  }
  return uses;
}

/** Replicas: none empty, every channel key once across the tile (shared with the net-socket tile). */
export function validateReplicas(
  apps: readonly { name: string; replicas?: readonly NetReplicaChannel[] }[],
  fail: (what: string) => never,
): void {
  const channels = new Set<string>();
  for (const app of apps) {
    const replicas = netAppReplicas(app);
    if (replicas.length === 0) fail(`app ${app.name}: replicas is empty`);
    for (const r of replicas) {
      if (typeof r.channel !== "string" || r.channel === "") fail(`app ${app.name}: a replica without a channel`);
      if (channels.has(r.channel)) fail(`channel ${r.channel} listed twice`);
      channels.add(r.channel);
    }
  }
}
