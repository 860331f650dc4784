// Test helper: two fresh network namespaces joined by a veth pair, addresses from 198.18.0.0/15
// only, and a teardown that removes everything (deleting a namespace deletes its veth end and any
// XDP attachment with it).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface VethPair {
  nsA: string;
  nsB: string;
  pathA: string;
  pathB: string;
  ifA: string;
  ifB: string;
  ipA: string;
  ipB: string;
  /** Host-order u32 of ipA / ipB. */
  ipA32: number;
  ipB32: number;
  macA: Uint8Array;
  macB: Uint8Array;
}

export function ip(args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function macOf(ns: string, ifname: string): Uint8Array {
  const [link] = JSON.parse(ip(["-n", ns, "-j", "link", "show", ifname])) as Array<{ address: string }>;
  return Uint8Array.from(link.address.split(":").map((h) => Number.parseInt(h, 16)));
}

export function ip4ToU32(addr: string): number {
  return addr.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** Creates namespaces tn-<tag>a-<pid>-<rand> and ...b with a veth between them (198.18.<subnet>.1/.2/30). */
export function makeVethPair(tag: string, subnet: number): VethPair {
  const suffix = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const nsA = `tn-${tag}a-${suffix}`;
  const nsB = `tn-${tag}b-${suffix}`;
  const ipA = `198.18.${subnet}.1`;
  const ipB = `198.18.${subnet}.2`;
  ip(["netns", "add", nsA]);
  try {
    ip(["netns", "add", nsB]);
    ip(["-n", nsA, "link", "add", "xa", "type", "veth", "peer", "name", "xb", "netns", nsB]);
    ip(["-n", nsA, "addr", "add", `${ipA}/30`, "dev", "xa"]);
    ip(["-n", nsB, "addr", "add", `${ipB}/30`, "dev", "xb"]);
    for (const [ns, dev] of [
      [nsA, "xa"],
      [nsB, "xb"],
      [nsA, "lo"],
      [nsB, "lo"],
    ])
      ip(["-n", ns, "link", "set", dev, "up"]);
    // veth offloads TX checksums: a kernel sender's UDP checksum would reach AF_XDP unfinished
    // (CHECKSUM_PARTIAL), where a real NIC would have completed it. Make both ends compute it.
    for (const [ns, dev] of [
      [nsA, "xa"],
      [nsB, "xb"],
    ])
      execFileSync("ip", ["netns", "exec", ns, "ethtool", "-K", dev, "tx", "off"], { stdio: "ignore" });
    return {
      nsA,
      nsB,
      pathA: `/run/netns/${nsA}`,
      pathB: `/run/netns/${nsB}`,
      ifA: "xa",
      ifB: "xb",
      ipA,
      ipB,
      ipA32: ip4ToU32(ipA),
      ipB32: ip4ToU32(ipB),
      macA: macOf(nsA, "xa"),
      macB: macOf(nsB, "xb"),
    };
  } catch (e) {
    destroyNamespaces([nsA, nsB]);
    throw e;
  }
}

export function destroyNamespaces(names: string[]): void {
  for (const ns of names) {
    try {
      ip(["netns", "del", ns]);
    } catch {
      // already gone
    }
  }
}

export function destroyVethPair(pair: VethPair | undefined): void {
  if (pair) destroyNamespaces([pair.nsA, pair.nsB]);
}

/** The XDP attachment line of `ip -d link show` for the interface ("" when none). */
export function xdpAttachment(ns: string, ifname: string): string {
  const out = ip(["-d", "-n", ns, "link", "show", ifname]);
  return out
    .split("\n")
    .filter((l) => /\bxdp/.test(l) || /prog\/xdp/.test(l))
    .join("\n");
}

export const isRoot = process.getuid?.() === 0;
