// The netstate library against the kernel, with iproute2 (and ethtool when installed) as the
// independent oracle: named namespaces made the way `ip netns` makes them, a multi-queue veth pair
// across two namespaces, link settings, IPv4 and IPv6 addresses, tx checksum offload off, and
// errors that carry the kernel's errno and extended-ack text or name the refused argument.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetns, deleteNetns, listNetns, NetlinkError, NetState, NetstateArgumentError } from "../shared/netstate";
import { ipJson, ipn, isRoot, uniqueNetnsName } from "./support/netlink-netns";

const hasEthtool = (() => {
  try {
    execFileSync("ethtool", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

interface IpLink {
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  num_tx_queues?: number;
  num_rx_queues?: number;
}
interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
}

describe.skipIf(!isRoot)("netstate: namespaces, veth, addresses, features", () => {
  const a = uniqueNetnsName("nsa");
  const b = uniqueNetnsName("nsb");
  let ns: NetState;

  beforeAll(async () => {
    await createNetns(a);
    await createNetns(b);
    ns = await NetState.open({ netns: a });
  });

  afterAll(async () => {
    ns?.close();
    for (const name of [a, b]) if (existsSync(`/run/netns/${name}`)) await deleteNetns(name);
  });

  it("creates named namespaces that iproute2 sees and can enter", () => {
    expect(listNetns()).toEqual(expect.arrayContaining([a, b]));
    const names = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    expect(names).toContain(a);
    // A real, separate namespace: only lo in it.
    expect(ipJson<IpLink[]>(a, "link", "show").map((l) => l.ifname)).toEqual(["lo"]);
  });

  it("adds a multi-queue veth pair with its peer in another namespace", async () => {
    await ns.addVeth(
      { name: "va0", numTxQueues: 4, numRxQueues: 4 },
      { name: "vb0", netns: b, numTxQueues: 4, numRxQueues: 4 },
    );
    const [mine] = ipJson<IpLink[]>(a, "-d", "link", "show", "va0");
    const [peer] = ipJson<IpLink[]>(b, "-d", "link", "show", "vb0");
    expect(mine?.num_tx_queues).toBe(4);
    expect(peer?.num_rx_queues).toBe(4);
    const link = await ns.getLink("va0");
    expect(link.kind).toBe("veth");
    expect(link.numTxQueues).toBe(4);
    expect(link.address).toBe(mine?.address);
  });

  it("sets up/down, mtu, address and name, and moves a link between namespaces", async () => {
    await ns.setLink("lo", { up: true });
    await ns.setLink("va0", { mtu: 1400, address: "02:00:00:00:00:0a", up: true });
    let [mine] = ipJson<IpLink[]>(a, "link", "show", "va0");
    expect(mine).toMatchObject({ mtu: 1400, address: "02:00:00:00:00:0a" });
    expect(mine?.flags).toContain("UP");
    await ns.setLink("va0", { name: "va1", up: false });
    [mine] = ipJson<IpLink[]>(a, "link", "show", "va1");
    expect(mine?.flags).not.toContain("UP");
    const listed = await ns.listLinks();
    expect(listed.map((l) => l.name).sort()).toEqual(["lo", "va1"]);
    await NetState.in(b, async (other) => {
      await other.setLink("vb0", { netns: a });
    });
    expect((await ns.listLinks()).map((l) => l.name).sort()).toEqual(["lo", "va1", "vb0"]);
    await ns.setLink("vb0", { netns: b });
    await ns.setLink("va1", { name: "va0", up: true });
  });

  it("adds, lists and deletes IPv4 and IPv6 addresses", async () => {
    await ns.addAddress("va0", "198.18.7.1/24");
    await ns.addAddress("va0", "2001:2:0:7::1/64", { flags: 0x02 /* nodad */ });
    const seen = ipJson<{ ifname: string; addr_info: IpAddrInfo[] }[]>(a, "addr", "show", "dev", "va0")[0]?.addr_info;
    expect(seen).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ family: "inet", local: "198.18.7.1", prefixlen: 24 }),
        expect.objectContaining({ family: "inet6", local: "2001:2:0:7::1", prefixlen: 64 }),
      ]),
    );
    const mine = await ns.listAddresses({ link: "va0" });
    expect(mine.map((x) => `${x.local}/${x.prefixLen}`)).toEqual(
      expect.arrayContaining(["198.18.7.1/24", "2001:2:0:7::1/64"]),
    );
    expect((await ns.listAddresses({ family: 4 })).every((x) => x.family === 4)).toBe(true);
    await ns.deleteAddress("va0", "198.18.7.1/24");
    expect(ipn(a, "-4", "addr", "show", "dev", "va0")).not.toContain("198.18.7.1");
  });

  it("turns tx checksum offload off the way `ethtool -K dev tx off` does", async () => {
    const before = await ns.getFeatures("va0");
    expect(before.find((f) => f.name === "tx-checksum-ip-generic")?.active).toBe(true);
    const turnedOff = await ns.disableTxChecksumOffload("va0");
    expect(turnedOff).toContain("tx-checksum-ip-generic");
    const after = await ns.getFeatures("va0");
    for (const f of after.filter((x) => x.name.startsWith("tx-checksum-"))) expect(f.active).toBe(false);
    if (hasEthtool) {
      // The same change made by ethtool itself on a twin veth leaves the same features.
      await ns.addVeth({ name: "vc0" }, { name: "vd0" });
      execFileSync("ip", ["netns", "exec", a, "ethtool", "-K", "vc0", "tx", "off"]);
      const k = (dev: string): string =>
        execFileSync("ip", ["netns", "exec", a, "ethtool", "-k", dev], { encoding: "utf8" })
          .split("\n")
          .slice(1)
          .join("\n");
      expect(k("va0")).toMatch(/tx-checksumming: off/);
      expect(k("va0")).toEqual(k("vc0"));
      await ns.deleteLink("vc0");
    }
  });

  it("reads a veth's channels, rings and driver", async () => {
    const channels = await ns.getChannels("va0");
    expect(channels.txCount).toBe(4);
    expect(channels.txMax).toBeGreaterThanOrEqual(4);
    await ns.setChannels("va0", { txCount: 2 });
    expect((await ns.getChannels("va0")).txCount).toBe(2);
    expect(await ns.getDriverInfo("va0")).toMatchObject({ driver: "veth" });
    if (hasEthtool) {
      const i = execFileSync("ip", ["netns", "exec", a, "ethtool", "-i", "va0"], { encoding: "utf8" });
      expect(i).toMatch(/^driver: veth$/m);
      expect(i).toMatch(new RegExp(`^version: ${(await ns.getDriverInfo("va0")).version}$`, "m"));
      const l = execFileSync("ip", ["netns", "exec", a, "ethtool", "-l", "va0"], { encoding: "utf8" });
      expect(l).toMatch(/Current hardware settings:[\s\S]*TX:\s+2/);
    }
    const rings = await ns.getRings("va0").catch((e: unknown) => e);
    // veth has no ring parameters: the kernel says so with an errno.
    if (rings instanceof NetlinkError)
      expect(rings.errno).toBe(95); // EOPNOTSUPP
    else expect(typeof rings).toBe("object");
  });

  it("adds macvlan, tun and tap links", async () => {
    await ns.addMacvlan({ name: "mv0", parent: "va0", mode: "bridge" });
    await ns.addTuntap({ name: "tun0", mode: "tun" });
    await ns.addTuntap({ name: "tap0", mode: "tap", multiQueue: true });
    const kinds = Object.fromEntries((await ns.listLinks()).map((l) => [l.name, l.kind]));
    expect(kinds).toMatchObject({ mv0: "macvlan", tun0: "tun", tap0: "tun" });
    const [tap] = ipJson<{ linkinfo: { info_data: { type: string; multi_queue?: boolean } } }[]>(
      a,
      "-d",
      "link",
      "show",
      "tap0",
    );
    expect(tap?.linkinfo.info_data.type).toBe("tap");
    for (const dev of ["mv0", "tun0", "tap0"]) await ns.deleteLink(dev);
    expect((await ns.listLinks()).map((l) => l.name)).not.toContain("tap0");
  });

  it("rejects bad arguments by name before sending anything", async () => {
    await expect(ns.addVeth({ name: "x".repeat(16) }, { name: "y" })).rejects.toThrow(
      /addVeth: name '.*' must be 1-15 bytes/,
    );
    await expect(ns.addVeth({ name: "x" }, { name: "y", numTxQueues: 0 })).rejects.toThrow(/peer.numTxQueues/);
    await expect(ns.addAddress("va0", "198.18.7.300/24")).rejects.toBeInstanceOf(NetstateArgumentError);
    await expect(ns.setLink("va0", { address: "zz" })).rejects.toThrow(/setLink: address 'zz'/);
    await expect(ns.setFeatures("va0", { "no-such-feature": false })).rejects.toThrow(/wanted.no-such-feature/);
    await expect(ns.addTuntap({ name: "t1", mode: "tin" as "tun" })).rejects.toThrow(/addTuntap: mode/);
    await expect(ns.addMacvlan({ name: "m1", parent: "va0", mode: "wide" as "vepa" })).rejects.toThrow(
      /addMacvlan: mode/,
    );
  });

  it("reports the kernel's errno and extended-ack text", async () => {
    const missing = await ns.getLink("nosuchdev0").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NetlinkError);
    expect((missing as NetlinkError).code).toBe("ENODEV");
    const dup = await ns.addVeth({ name: "va0" }, { name: "vz0" }).catch((e: unknown) => e);
    expect((dup as NetlinkError).code).toBe("EEXIST");
    const badMtu = (await ns.setLink("va0", { mtu: 70_000 }).catch((e: unknown) => e)) as NetlinkError;
    expect(badMtu.code).toBe("EINVAL");
    expect(badMtu.extAck).toMatch(/mtu/i);
  });

  it("deletes links and namespaces", async () => {
    await ns.deleteLink("va0");
    expect((await ns.listLinks()).map((l) => l.name)).toEqual(["lo"]);
    ns.close();
    await deleteNetns(b);
    expect(existsSync(`/run/netns/${b}`)).toBe(false);
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toContain(b);
    await expect(deleteNetns(b)).rejects.toThrow(/no namespace/);
  });
});
