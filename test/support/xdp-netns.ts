// Test helper: two fresh network namespaces joined by a veth pair, addresses from 198.18.0.0/15
// only, and a teardown that removes everything (deleting a namespace deletes its veth end and any
// XDP attachment with it). Built through the netstate library; `ip -d link` stays the oracle for
// XDP attachments.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { parseMac } from "../../shared/netlink/address-text";
import { createNetnsSync, deleteNetnsSync, NetState, netnsExists } from "../../shared/netstate";
import type { XdpSetupOptions } from "../../shared/xdp/attach";

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

async function macOf(ns: string, ifname: string): Promise<Uint8Array> {
  const link = await NetState.in(ns, (s) => s.getLink(ifname));
  const mac = link.address === undefined ? undefined : parseMac(link.address);
  if (mac === undefined) throw new Error(`${ifname} in ${ns} has no hardware address`);
  return mac;
}

export function ip4ToU32(addr: string): number {
  return addr.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** Creates namespaces tn-<tag>a-<pid>-<rand> and ...b with a veth between them (198.18.<subnet>.1/.2/30). */
export async function makeVethPair(tag: string, subnet: number): Promise<VethPair> {
  const suffix = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const nsA = `tn-${tag}a-${suffix}`;
  const nsB = `tn-${tag}b-${suffix}`;
  const ipA = `198.18.${subnet}.1`;
  const ipB = `198.18.${subnet}.2`;
  createNetnsSync(nsA);
  try {
    createNetnsSync(nsB);
    await NetState.in(nsA, (s) => s.addVeth({ name: "xa" }, { name: "xb", netns: nsB }));
    for (const [ns, dev, address] of [
      [nsA, "xa", ipA],
      [nsB, "xb", ipB],
    ] as const) {
      await NetState.in(ns, async (s) => {
        await s.addAddress(dev, `${address}/30`);
        await s.setLink(dev, { up: true });
        await s.setLink("lo", { up: true });
        // veth offloads TX checksums: a kernel sender's UDP checksum would reach AF_XDP unfinished
        // (CHECKSUM_PARTIAL), where a real NIC would have completed it. Make both ends compute it.
        await s.disableTxChecksumOffload(dev);
      });
    }
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
      macA: await macOf(nsA, "xa"),
      macB: await macOf(nsB, "xb"),
    };
  } catch (e) {
    destroyNamespaces([nsA, nsB]);
    throw e;
  }
}

export function destroyNamespaces(names: string[]): void {
  for (const ns of names) {
    try {
      if (netnsExists(ns)) deleteNetnsSync(ns);
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

export { isRoot } from "./root";

/** Set-up options for a small AF_XDP socket on side A of the pair (64 frames, rings of 32). */
export function smallXdpOptions(pair: VethPair | undefined, mode: XdpSetupOptions["mode"]): XdpSetupOptions {
  if (!pair) throw new Error("no namespaces");
  return {
    netnsPath: pair.pathA,
    ifname: pair.ifA,
    ports: [7000],
    mode,
    queueId: 0,
    frameSize: 2048,
    frameCount: 64,
    fillDepth: 32,
    completionDepth: 32,
    rxDepth: 32,
    txDepth: 32,
  };
}

/** How many descriptors this process holds (a failed set-up must leave none behind). */
export function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}
