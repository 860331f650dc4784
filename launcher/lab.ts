// `tilenet run --lab`: a self-contained world with no configuration. Two fresh network namespaces
// with unique names (the tiles' side and a peer), one veth pair between them, addresses from
// 198.18.0.0/15 (benchmarking space, never routed), torn down at stop.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { LabInfo } from "./manifest";

export const LAB_TILE_ADDR = "198.18.0.1";
export const LAB_PEER_ADDR = "198.18.0.2";
export const LAB_PREFIX = 24;
export const LAB_ECHO_PORT = 7000;

function ip(args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")}: ${(err.stderr ?? err.message).trim()}`);
  }
}

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

export function deleteNetns(name: string): void {
  if (netnsExists(name)) ip(["netns", "del", name]);
}

/** Creates the lab namespaces and veth pair; on any failure removes what it made and rethrows. */
export function createLab(instance: string, ports: number[]): LabInfo {
  const tag = instance.slice(-8);
  const lab: LabInfo = {
    tileNetns: `tn-${instance}-tile`,
    peerNetns: `tn-${instance}-peer`,
    tileAddr: `${LAB_TILE_ADDR}/${LAB_PREFIX}`,
    peerAddr: `${LAB_PEER_ADDR}/${LAB_PREFIX}`,
    tileIf: `tnt${tag}`.slice(0, 15),
    peerIf: `tnp${tag}`.slice(0, 15),
    ports,
  };
  const made: string[] = [];
  try {
    for (const ns of [lab.tileNetns, lab.peerNetns]) {
      if (netnsExists(ns)) throw new Error(`network namespace ${ns} already exists (run \`tilenet cleanup\`)`);
      ip(["netns", "add", ns]);
      made.push(ns);
      ip(["-n", ns, "link", "set", "lo", "up"]);
    }
    ip([
      "-n",
      lab.tileNetns,
      "link",
      "add",
      lab.tileIf,
      "type",
      "veth",
      "peer",
      "name",
      lab.peerIf,
      "netns",
      lab.peerNetns,
    ]);
    ip(["-n", lab.tileNetns, "addr", "add", lab.tileAddr, "dev", lab.tileIf]);
    ip(["-n", lab.peerNetns, "addr", "add", lab.peerAddr, "dev", lab.peerIf]);
    ip(["-n", lab.tileNetns, "link", "set", lab.tileIf, "up"]);
    ip(["-n", lab.peerNetns, "link", "set", lab.peerIf, "up"]);
    // veth hands locally generated UDP to its peer with the checksum left to "hardware"
    // (CHECKSUM_PARTIAL); an AF_XDP receiver sees the raw frame, so make the peer compute it.
    disableTxChecksumOffload(lab.peerNetns, lab.peerIf);
    disableTxChecksumOffload(lab.tileNetns, lab.tileIf);
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

function disableTxChecksumOffload(ns: string, ifname: string): void {
  try {
    execFileSync("ip", ["netns", "exec", ns, "ethtool", "-K", ifname, "tx", "off"], { stdio: "ignore" });
  } catch {
    throw new Error(`ethtool -K ${ifname} tx off failed in ${ns}: is ethtool installed? (apt-get install ethtool)`);
  }
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
