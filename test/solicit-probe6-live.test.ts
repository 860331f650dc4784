// The IPv6 neighbor probe against real namespaces (a veth pair, 2001:2:0:1::/64 and link-local):
// which unprivileged action makes the kernel send a Neighbor Solicitation, measured from a child
// that has dropped to uid 65534 with no capabilities, as a tile runs:
//   an empty UDP datagram to [address]:9 (the probe6 socket)  -> NS sent, the neighbor appears
//   connect() of a UDP socket alone                            -> nothing (no NS, no entry)
//   RTM_NEWNEIGH + NTF_USE                                     -> EPERM (needs CAP_NET_ADMIN)
// The peer's Icmp6InNeighborSolicits counter confirms what went on the wire.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseIp6 } from "../shared/ip6";
import {
  addon,
  createNetns,
  deleteNetns,
  ifindexIn,
  inNamespace,
  ipJson,
  ipn,
  openNetlinkIn,
} from "./support/netlink-netns";
import { describeAsRoot } from "./support/root";

interface IpNeigh {
  dst: string;
  lladdr?: string;
  state: string[];
}

const fixture = join(__dirname, "..", "dist", "test", "fixtures", "solicit-probe6-unprivileged.js");

describeAsRoot("IPv6 neighbor probe (needs root: network namespaces)", () => {
  let ns: string | undefined;
  let peer: string | undefined;
  let probeFd = -1;
  let va = 0;
  let peerMac = "";
  let peerLinkLocal = "";

  function neigh(address: string): IpNeigh | undefined {
    return ipJson<IpNeigh[]>(ns ?? "", "-6", "neigh", "show", address, "dev", "va")[0];
  }

  function waitNeigh(address: string, accept: (n: IpNeigh) => boolean, timeoutMs = 5000): IpNeigh | undefined {
    const deadline = Date.now() + timeoutMs;
    let entry = neigh(address);
    while (Date.now() < deadline && !(entry && accept(entry))) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      entry = neigh(address);
    }
    return entry;
  }

  function peerSolicitsIn(): number {
    const text = ipn(peer ?? "", "netns", "exec", peer ?? "", "cat", "/proc/net/snmp6");
    return Number(/Icmp6InNeighborSolicits\s+(\d+)/.exec(text)?.[1] ?? Number.NaN);
  }

  function unprivileged(mode: string, address: string): { uid: number; capEff: string; result: unknown } {
    if (!existsSync(fixture)) throw new Error(`${fixture} is missing: run \`npm run build\` first`);
    const netlinkFd = openNetlinkIn(ns ?? "", 0, 1 << 18);
    try {
      const r = spawnSync(process.execPath, [fixture, mode, address, String(va)], {
        stdio: ["ignore", "pipe", "pipe", probeFd, netlinkFd],
        encoding: "utf8",
        timeout: 20_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim()) as { uid: number; capEff: string; result: unknown };
      expect(out.uid).toBe(65534);
      expect(out.capEff).toBe("0000000000000000");
      return out;
    } finally {
      addon().closeFd(netlinkFd);
    }
  }

  beforeAll(() => {
    ns = createNetns("v6probe");
    peer = createNetns("v6probeb");
    ipn(ns, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", peer);
    ipn(ns, "addr", "add", "2001:2:0:1::1/64", "dev", "va", "nodad");
    for (const h of ["2", "3", "4", "5"]) ipn(peer, "addr", "add", `2001:2:0:1::${h}/64`, "dev", "vb", "nodad");
    ipn(ns, "link", "set", "va", "up");
    ipn(peer, "link", "set", "vb", "up");
    va = ifindexIn(ns, "va");
    peerMac = ipJson<{ address: string }[]>(peer, "link", "show", "vb")[0].address;
    // Link-local addresses need DAD (about a second) before they answer.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const info = ipJson<{ addr_info: { local: string; scope: string; tentative?: boolean }[] }[]>(
        peer,
        "-6",
        "addr",
        "show",
        "dev",
        "vb",
      )[0]?.addr_info.find((a) => a.scope === "link" && !a.tentative);
      if (info) {
        peerLinkLocal = info.local;
        break;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
    probeFd = inNamespace(ns, () => addon().probeSocketOpen6(va));
  }, 30_000);

  afterAll(() => {
    if (probeFd >= 0) addon().closeFd(probeFd);
    deleteNetns(ns, peer);
  });

  it("connect() of a UDP socket alone sends no Neighbor Solicitation", () => {
    const before = peerSolicitsIn();
    expect(unprivileged("connect", "2001:2:0:1::2").result).toBe("connected");
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    expect(neigh("2001:2:0:1::2")).toBeUndefined();
    expect(peerSolicitsIn()).toBe(before);
  });

  it("RTM_NEWNEIGH + NTF_USE is refused without CAP_NET_ADMIN", () => {
    expect(unprivileged("ntf-use", "2001:2:0:1::4").result).toBe("EPERM");
    expect(neigh("2001:2:0:1::4")).toBeUndefined();
  });

  it("an empty datagram from the probe6 socket, with no capabilities, resolves the peer (NS on the wire)", () => {
    expect(neigh("2001:2:0:1::3")).toBeUndefined();
    const before = peerSolicitsIn();
    expect(unprivileged("probe", "2001:2:0:1::3").result).toBe(0);
    const entry = waitNeigh("2001:2:0:1::3", (n) => n.lladdr !== undefined);
    expect(entry?.lladdr).toBe(peerMac);
    expect(entry?.state.some((s) => ["REACHABLE", "STALE", "DELAY", "PROBE"].includes(s))).toBe(true);
    expect(peerSolicitsIn()).toBeGreaterThan(before);
  });

  it("the handler's probe6 path (udpProbe6 on the granted socket) resolves the peer, unprivileged", () => {
    expect(unprivileged("handler", "2001:2:0:1::5").result).toBe("probe_sent");
    expect(waitNeigh("2001:2:0:1::5", (n) => n.lladdr !== undefined)?.lladdr).toBe(peerMac);
  });

  it("resolves a link-local neighbor through the interface as its scope", () => {
    expect(peerLinkLocal).toMatch(/^fe80:/);
    expect(unprivileged("probe", peerLinkLocal).result).toBe(0);
    expect(waitNeigh(peerLinkLocal, (n) => n.lladdr !== undefined)?.lladdr).toBe(peerMac);
  });

  it("starts resolution for an absent host (INCOMPLETE, later FAILED) and refuses another interface", () => {
    const a = parseIp6("2001:2:0:1::77") ?? new Uint32Array(4);
    expect(addon().probeSend6(probeFd, va, a[0], a[1], a[2], a[3], 9)).toBe(0);
    const entry = waitNeigh("2001:2:0:1::77", () => true);
    expect(entry?.lladdr).toBeUndefined();
    expect(entry?.state.some((s) => s === "INCOMPLETE" || s === "FAILED")).toBe(true);
    expect(addon().probeSend6(probeFd, 999_999, a[0], a[1], a[2], a[3], 9)).toBe(-19); // ENODEV
    expect(() => addon().probeSend6(probeFd, va, a[0], a[1], a[2], a[3], 0)).toThrow(/port/);
    expect(() => addon().probeSend6(probeFd, va, -1, 0, 0, 1, 9)).toThrow(/u32/);
    expect(addon().pollIn(probeFd, 10)).toBe(false);
  });
});
