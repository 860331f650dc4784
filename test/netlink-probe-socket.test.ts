// The neighbor probe socket: an empty UDP datagram (TTL 1, SO_DONTROUTE, bound interface) sent
// to an on-link address makes the kernel ARP for it, so the neighbor appears in `ip neigh`; this
// works from a child that has dropped to uid 65534 with no capabilities, where RTM_NEWNEIGH +
// NTF_USE is refused (EPERM). Traffic stays on a veth pair between two fresh namespaces.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { NeighState, parseIp } from "../shared/netmodel";
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
  dev: string;
  lladdr?: string;
  state: string[];
}

const ip4 = (text: string) => parseIp(text) ?? Number.NaN;
const fixture = join(__dirname, "..", "dist", "test", "fixtures", "netlink-probe-unprivileged.js");

describeAsRoot("neighbor probe socket (needs root: network namespaces)", () => {
  let ns: string | undefined;
  let peer: string | undefined;
  let probeFd = -1;
  let va = 0;
  let peerMac = "";

  function waitNeigh(ip: string, accept: (n: IpNeigh) => boolean, timeoutMs = 5000): IpNeigh | undefined {
    const deadline = Date.now() + timeoutMs;
    let entry: IpNeigh | undefined;
    while (Date.now() < deadline) {
      entry = ipJson<IpNeigh[]>(ns ?? "", "-4", "neigh", "show", ip, "dev", "va")[0];
      if (entry && accept(entry)) return entry;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    return entry;
  }

  beforeAll(() => {
    ns = createNetns("nlprobe");
    peer = createNetns("nlprobeb");
    ipn(ns, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", peer);
    ipn(ns, "link", "set", "va", "up");
    ipn(peer, "link", "set", "vb", "up");
    ipn(ns, "addr", "add", "198.18.1.1/24", "dev", "va");
    for (const a of ["198.18.1.2/24", "198.18.1.3/24"]) ipn(peer, "addr", "add", a, "dev", "vb");
    va = ifindexIn(ns, "va");
    peerMac = ipJson<{ address: string }[]>(peer, "link", "show", "vb")[0].address;
    probeFd = inNamespace(ns, () => addon().probeSocketOpen(va));
  });

  afterAll(() => {
    if (probeFd >= 0) addon().closeFd(probeFd);
    deleteNetns(ns, peer);
  });

  it("resolves the peer: the neighbor appears with the peer's MAC", () => {
    expect(waitNeigh("198.18.1.2", () => true, 0)).toBeUndefined();
    expect(addon().probeSend(probeFd, ip4("198.18.1.2"), va, 9)).toBe(0);
    const entry = waitNeigh("198.18.1.2", (n) => n.lladdr !== undefined);
    expect(entry?.lladdr).toBe(peerMac);
    expect(entry?.state.some((s) => ["REACHABLE", "STALE", "DELAY", "PROBE"].includes(s))).toBe(true);
  });

  it("starts resolution for an absent host (INCOMPLETE, later FAILED), without throwing", () => {
    expect(addon().probeSend(probeFd, ip4("198.18.1.77"), va, 9)).toBe(0);
    const entry = waitNeigh("198.18.1.77", () => true);
    expect(entry?.lladdr).toBeUndefined();
    expect(entry?.state.some((s) => s === "INCOMPLETE" || s === "FAILED")).toBe(true);
  });

  it("returns -ENODEV for an interface other than the one it is bound to and never becomes readable", () => {
    const r = addon().probeSend(probeFd, ip4("198.18.1.2"), 999_999, 9);
    expect(r).toBe(-19); // ENODEV: the socket is bound to va, a probe cannot leave elsewhere
    expect(addon().pollIn(probeFd, 10)).toBe(false);
    expect(() => addon().probeSend(probeFd, ip4("198.18.1.2"), va, 0)).toThrow(/port/);
  });

  it("works from a child with uid 65534 and no capabilities, where RTM_NEWNEIGH + NTF_USE gets EPERM", () => {
    if (!existsSync(fixture)) throw new Error(`${fixture} is missing: run \`npm run build\` first`);
    const netlinkFd = openNetlinkIn(ns ?? "", 0, 1 << 18);
    try {
      const r = spawnSync(process.execPath, [fixture, "198.18.1.3", String(va), "9"], {
        stdio: ["ignore", "pipe", "pipe", probeFd, netlinkFd],
        encoding: "utf8",
        timeout: 20_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim()) as {
        uid: number;
        capEff: string;
        probe: number;
        neighUse: string;
        mac: string;
        state: number;
      };
      expect(out.uid).toBe(65534);
      expect(out.capEff).toBe("0000000000000000");
      expect(out.neighUse).toBe("EPERM");
      expect(out.probe).toBe(0);
      expect(out.mac).toBe(peerMac);
      expect(out.state & (NeighState.reachable | NeighState.stale | NeighState.delay | NeighState.probe)).not.toBe(0);
      expect(waitNeigh("198.18.1.3", (n) => n.lladdr !== undefined)?.lladdr).toBe(peerMac);
    } finally {
      addon().closeFd(netlinkFd);
    }
  });
});
