// `tilenet run --lab`: a self-contained world with no configuration. Two fresh network namespaces
// with unique names (the tiles' side and a peer), one veth pair between them, addresses from
// 198.18.0.0/15 (benchmarking space, never routed), torn down at stop.
import { writeFileSync } from "node:fs";
import { inNetns } from "../shared/native";
import { createNetnsSync, deleteNetnsSync, NetState, netnsExists as namedNetnsExists } from "../shared/netstate";
import { type AppConfig, defaultRestartPolicy, type InstanceConfig } from "./config";
import type { LabInfo } from "./manifest";

export const LAB_TILE_ADDR = "198.18.0.1";
export const LAB_PEER_ADDR = "198.18.0.2";
export const LAB_PREFIX = 24;
/** IPv6 from the benchmarking range 2001:2::/48 (RFC 5180), beside the link-local ones. */
export const LAB_TILE_ADDR6 = "2001:2::1";
export const LAB_PEER_ADDR6 = "2001:2::2";
export const LAB_PREFIX6 = 64;
/** IFA_F_NODAD: the lab's addresses are usable at once (no duplicate address detection wait). */
const IFA_F_NODAD = 0x02;
export const LAB_ECHO_PORT = 7000;

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export function netnsExists(name: string): boolean {
  return namedNetnsExists(name);
}

/** Deletes a named namespace if it exists (like `ip netns del`), through netstate. Another
 *  `tilenet cleanup` may remove it at the same moment: gone is gone. */
export function deleteNetns(name: string): void {
  if (!netnsExists(name)) return;
  try {
    deleteNetnsSync(name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/** Creates the lab namespaces and veth pair through netstate (no `ip`, no `ethtool` needed), with
 *  `queues` receive and transmit queues on each end (the peer's transmit queue, chosen by flow
 *  hash, is the tile end's receive queue: flows spread over the net tiles); on any failure
 *  removes what it made and rethrows. */
export async function createLab(instance: string, ports: number[], queues = 1): Promise<LabInfo> {
  const tag = instance.slice(-8);
  const lab: LabInfo = {
    tileNetns: `tn-${instance}-tile`,
    peerNetns: `tn-${instance}-peer`,
    tileAddr: `${LAB_TILE_ADDR}/${LAB_PREFIX}`,
    peerAddr: `${LAB_PEER_ADDR}/${LAB_PREFIX}`,
    tileAddr6: `${LAB_TILE_ADDR6}/${LAB_PREFIX6}`,
    peerAddr6: `${LAB_PEER_ADDR6}/${LAB_PREFIX6}`,
    tileIf: `tnt${tag}`.slice(0, 15),
    peerIf: `tnp${tag}`.slice(0, 15),
    ports,
    ...(queues > 1 ? { queues } : {}),
  };
  const made: string[] = [];
  try {
    for (const ns of [lab.tileNetns, lab.peerNetns]) {
      if (netnsExists(ns)) throw new Error(`network namespace ${ns} already exists (run \`tilenet cleanup\`)`);
      createNetnsSync(ns);
      made.push(ns);
      noDuplicateAddressDetection(ns);
    }
    await NetState.in(lab.tileNetns, async (tile) => {
      const q = { numRxQueues: queues, numTxQueues: queues };
      await tile.addVeth({ name: lab.tileIf, ...q }, { name: lab.peerIf, netns: lab.peerNetns, ...q });
      await configureEnd(tile, lab.tileIf, lab.tileAddr, lab.tileAddr6 ?? "");
    });
    await NetState.in(lab.peerNetns, async (peer) => {
      await configureEnd(peer, lab.peerIf, lab.peerAddr, lab.peerAddr6 ?? "");
      lab.peerLinkLocal = await linkLocalOf(peer, lab.peerIf);
    });
    // Made by the kernel once the link has a carrier, i.e. once both ends are up.
    lab.tileLinkLocal = await NetState.in(lab.tileNetns, (tile) => linkLocalOf(tile, lab.tileIf));
    return lab;
  } catch (e) {
    for (const ns of made.reverse()) {
      try {
        deleteNetns(ns);
      } catch {
        // best effort: the original error is the one to report
      }
    }
    throw e;
  }
}

/** lo and the veth end up, its address, and tx checksum offload off: veth hands locally
 *  generated UDP to its peer with the checksum left to "hardware" (CHECKSUM_PARTIAL); an AF_XDP
 *  receiver sees the raw frame, so both ends must compute it (`ethtool -K DEV tx off`). */
async function configureEnd(ns: NetState, ifname: string, address: string, address6: string): Promise<void> {
  await ns.setLink("lo", { up: true });
  await ns.addAddress(ifname, address);
  await ns.addAddress(ifname, address6, { flags: IFA_F_NODAD });
  await ns.setLink(ifname, { up: true });
  await ns.disableTxChecksumOffload(ifname);
}

/** No duplicate address detection in a lab namespace (set before its veth exists, so the
 *  link-local address the kernel makes at link-up is usable at once, not "tentative" for ~1 s). */
function noDuplicateAddressDetection(ns: string): void {
  inNetns(netnsPath(ns), () => {
    for (const conf of ["all", "default"]) writeFileSync(`/proc/sys/net/ipv6/conf/${conf}/accept_dad`, "0");
  });
}

/** The interface's link-local address (made by the kernel at link-up), with its scope: fe80::x%if. */
async function linkLocalOf(ns: NetState, ifname: string): Promise<string | undefined> {
  for (let tries = 0; tries < 50; tries++) {
    const found = (await ns.listAddresses({ family: 6, link: ifname })).find((a) => a.scope === 253);
    if (found) return found.local;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

export function destroyLab(lab: LabInfo): string[] {
  const problems: string[] = [];
  for (const ns of [lab.peerNetns, lab.tileNetns]) {
    try {
      deleteNetns(ns);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return problems;
}

/** Most queues a lab veth end gets (each costs the kernel a ring and memory). */
export const LAB_MAX_QUEUES = 64;

/** Queues of the lab's veth for [net] queue + queues ("all": one per CPU, as NICs usually have),
 *  at most LAB_MAX_QUEUES: a queue beyond them is refused by the kernel's bind, as on a NIC. */
export function labQueueCount(queue: number, queues: number | "all", cpus: number): number {
  return Math.min(LAB_MAX_QUEUES, queues === "all" ? Math.max(1, cpus) : queue + queues);
}

/** The app `--lab` runs when the config has none. */
export function labEchoApp(): AppConfig {
  return {
    name: "echo",
    module: "builtin:echo",
    ports: [LAB_ECHO_PORT],
    settings: {},
    restart: defaultRestartPolicy(),
    replicas: 1,
  };
}

/** The config as `--lab` runs it: its apps, the net tile on the lab's interface and namespace. */
export function labConfig(config: InstanceConfig, apps: AppConfig[], ifname: string, netns: string): InstanceConfig {
  return { ...config, apps, net: { ...config.net, interfaces: [ifname], netns } };
}
