// How an instance names its parts, declared once: net tiles (one per served queue of each
// interface), app replicas, the channel between each replica and each net tile, doorbells, solicit
// rings, wake eventfds and each interface's miss counters. Pure functions of the description's input.
import type { RingSpec } from "../shared/ring/layout";
import { SOLICIT_BYTES } from "../shared/solicit/message";
import type { AppConfig, InstanceConfig } from "./config";

/** An interface net tiles serve, as found in the instance's namespace. */
export interface NetInterface {
  name: string;
  ifindex: number;
  /** Its receive queues (the XDP program's socket map and miss counters are this long). Default 1. */
  queueCount?: number;
  /** The queues served, one net tile each. Default [config.net.queue]. */
  queues?: number[];
  /** Where queueCount came from (ethtool channels, the link's queue count). */
  queueCountSource?: string;
}

/** One net tile of the instance: interface `iface`, receive queue `queue`, `index` in tile order. */
export interface NetTileSlot {
  index: number;
  name: string;
  iface: NetInterface;
  queue: number;
  /** The first net tile of its interface reports the interface's queue misses. */
  firstOfInterface: boolean;
}

/** Net tiles in order: per interface, per served queue. Names: "net" alone, else net.<index>
 *  (a '.' no app name has, so tile names never collide). */
export function netTileSlots(interfaces: readonly NetInterface[], defaultQueue: number): NetTileSlot[] {
  const slots: Omit<NetTileSlot, "name">[] = [];
  for (const iface of interfaces) {
    const queues = iface.queues ?? [defaultQueue];
    queues.forEach((queue, q) => {
      slots.push({ index: slots.length, iface, queue, firstOfInterface: q === 0 });
    });
  }
  return slots.map((s) => ({ ...s, name: slots.length === 1 ? "net" : `net.${s.index}` }));
}

/** The tiles of one [[app]]: its name alone, else <name>.<replica>. */
export function replicaNames(app: Pick<AppConfig, "name" | "replicas">): string[] {
  const n = app.replicas ?? 1;
  return n === 1 ? [app.name] : Array.from({ length: n }, (_, r) => `${app.name}.${r}`);
}

/** The channel between replica tile `replica` and net tile `net`: named after the replica when
 *  the instance has one net tile (as it always was), else <replica>_<net>. */
export function channelKey(replica: string, net: string, netTiles: number): string {
  return netTiles === 1 ? replica : `${replica}_${net}`;
}

/** The doorbell a replica served by several net tiles sleeps on (one futex for all its rx rings). */
export function doorbellName(replica: string): string {
  return `doorbell.${replica}`;
}

/** The solicit ring of net tile `index` (producer: that net tile; consumer: the netlink tile). */
export function solicitRingName(index: number): string {
  return `solicit.${index}`;
}

export function solicitRingSpec(config: InstanceConfig): RingSpec {
  return { kind: "unreliable", depth: config.solicit.ringDepth, slotSize: SOLICIT_BYTES };
}

/** The wake eventfd of net tile `name` (granted to it and to every replica it serves). */
export function netWakeName(name: string): string {
  return `${name}.wake`;
}

/** The miss counters of interface `ifname`'s XDP program (a BPF map granted like a region). */
export function queueMissRegionName(ifname: string): string {
  return `xdp-misses.${ifname}`;
}
