// How many 2 MiB huge pages an instance's regions take: the topology's own region sizes (the same
// description the launcher provisions from), each region rounded up to whole pages.
import type { InstanceConfig } from "../config";
import { defaultRestartPolicy } from "../config";
import { describeInstance, type InstanceTopology, type NetInterface, type RegionDesc } from "../topology";

export const HUGEPAGE_BYTES = 2 << 20;

function regionsOf(t: InstanceTopology): RegionDesc[] {
  const regions: RegionDesc[] = [];
  for (const g of t.groups) {
    if (g.kind === "metrics" || g.kind === "netbase") regions.push(g.region);
    else if (g.kind === "ring") regions.push(g.producer, g.consumer);
    else if (g.kind === "capture" || g.kind === "doorbell")
      continue; // never on huge pages (huge-pages.ts HUGE_KINDS; a doorbell is one cache line)
    else regions.push(g.producer, g.consumer, g.data);
  }
  for (const x of t.xsks) regions.push(x.umem);
  return regions;
}

/** Pages for the config's instance; a config without [[app]] is sized with one echo app. */
export function hugepagesNeeded(config: InstanceConfig, ifname: string): { pages: number; estimate: string } {
  const sized = config.apps.length > 0 || !config.net.enabled ? config : withOneApp(config);
  const topology = describeInstance({
    instance: "configure",
    config: sized,
    runtimeDir: "/nonexistent",
    interfaces: config.net.enabled ? sizedInterfaces(config, ifname) : [],
  });
  const pages = regionsOf(topology).reduce((n, r) => n + Math.ceil(r.size / HUGEPAGE_BYTES), 0);
  return { pages, estimate: sized === config ? "" : " (no [[app]] in the config: sized with one app)" };
}

function withOneApp(config: InstanceConfig): InstanceConfig {
  const app = {
    name: "echo",
    module: "builtin:echo",
    ports: [7],
    settings: {},
    restart: defaultRestartPolicy(),
    replicas: 1,
  };
  return { ...config, apps: [app] };
}

/** Every configured interface (else the one prepared) with the queues its net tiles serve;
 *  queues = "all" is sized as one queue per interface (the count is read at launch). */
function sizedInterfaces(config: InstanceConfig, ifname: string): NetInterface[] {
  const names = config.net.interfaces.length > 0 ? config.net.interfaces : [ifname];
  const { queue, queues } = config.net;
  const served = Array.from({ length: queues === "all" ? 1 : queues }, (_, i) => queue + i);
  return names.map((name, i) => ({ name, ifindex: i + 1, queueCount: queue + served.length, queues: served }));
}
