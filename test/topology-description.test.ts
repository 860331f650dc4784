// The instance description (launcher/topology.ts) is pure data that wires tiles consistently:
// every region a tile maps is described, every shared region has exactly one writing tile, the
// role -> region rule of each definition is what the description uses, several interfaces give
// several net tiles (N of a kind is data), and describing touches nothing.
import { describe, expect, it } from "vitest";
import { defaultConfig, defaultRestartPolicy, type InstanceConfig } from "../launcher/config";
import { labConfig, labEchoApp } from "../launcher/lab";
import { describeInstance, type InstanceTopology, withTileSettings } from "../launcher/topology";

function config(apps = [labEchoApp()]): InstanceConfig {
  return labConfig(defaultConfig(), apps, "veth0", "/run/netns/none");
}

function describedRegions(t: InstanceTopology): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const g of t.groups) {
    const regions =
      g.kind === "metrics" || g.kind === "netbase" || g.kind === "doorbell"
        ? [g.region]
        : g.kind === "capture"
          ? [g.control, g.ring]
          : [g.producer, g.consumer];
    if (g.kind === "udp-channel") regions.push(g.data);
    for (const r of regions) {
      expect(sizes.has(r.name), `region ${r.name} described twice`).toBe(false);
      expect(r.size).toBeGreaterThan(0);
      sizes.set(r.name, r.size);
    }
  }
  for (const x of t.xsks) sizes.set(x.umem.name, x.umem.size);
  // Each interface's miss counters: the XDP program's map, granted like a region.
  for (const i of t.xdpInterfaces) sizes.set(i.missRegion, 4096);
  return sizes;
}

describe("instance description", () => {
  const apps = [
    labEchoApp(),
    { name: "dns", module: "/srv/dns.js", ports: [53], settings: {}, restart: defaultRestartPolicy() },
  ];
  const topology = describeInstance({
    instance: "t1",
    config: config(apps),
    runtimeDir: "/run/tilenet/t1/runtime",
    interfaces: [{ name: "veth0", ifindex: 7 }],
  });

  it("describes every region a tile maps, and gives each exactly one writing tile", () => {
    const regions = describedRegions(topology);
    const writers = new Map<string, string[]>();
    for (const tile of topology.tiles) {
      for (const use of tile.regions) {
        expect(regions.has(use.region), `${tile.name}: ${use.region} is not described`).toBe(true);
        if (use.access === "write") writers.set(use.region, [...(writers.get(use.region) ?? []), tile.name]);
      }
    }
    // The capture control region is written by the dump CLI only, the miss counters by the XDP
    // program only: no tile may write them.
    const noTileWrites = (name: string) =>
      (name.startsWith("capture.") && name.endsWith(".control")) || name.startsWith("xdp-misses.");
    for (const name of regions.keys())
      expect(writers.get(name) ?? [], `writers of ${name}`).toHaveLength(noTileWrites(name) ? 0 : 1);
    expect(regions.has("capture.net.control")).toBe(true);
    expect(writers.get("netbase")).toEqual(["netlink"]);
    expect(writers.get("solicit.0.producer")).toEqual(["net"]);
    expect(writers.get("rx.dns.producer")).toEqual(["net"]);
    expect(writers.get("capture.net.ring")).toEqual(["net"]);
    expect(writers.get("tx.dns.producer")).toEqual(["dns"]);
  });

  it("names bundles and app modules in the staged runtime and stages only files", () => {
    const byName = new Map(topology.tiles.map((t) => [t.name, t]));
    expect(byName.get("net")?.bundle).toBe("/run/tilenet/t1/runtime/net.js");
    const dns = byName.get("dns");
    expect(dns?.files).toEqual([{ source: "/srv/dns.js", target: "/run/tilenet/t1/runtime/apps/dns-dns.js" }]);
    expect(dns?.kind === "app" && dns.config.modulePath).toBe("/run/tilenet/t1/runtime/apps/dns-dns.js");
    expect(byName.get("echo")?.files).toEqual([]);
    const netlink = byName.get("netlink");
    expect(netlink?.kind === "netlink" && netlink.config.solicit.netIfindexes).toEqual([7]);
    expect(topology.sockets.map((s) => s.name).sort()).toEqual([
      "net.wake",
      "netlink.events",
      "netlink.requests",
      "probe",
      "probe6",
    ]);
    // The net tile and its apps share the wake eventfd (the apps signal it when the net tile sleeps).
    expect(byName.get("net")?.fds.map((f) => f.socket)).toContain("net.wake");
    expect(byName.get("dns")?.fds).toEqual([{ role: "wake", socket: "net.wake" }]);
    expect(topology.xsks.map((x) => x.options.ports)).toEqual([[7000, 53]]);
  });

  it("makes a net tile per served queue of each interface, each with its own solicit ring the netlink tile reads", () => {
    const two = describeInstance({
      instance: "t2",
      config: config(),
      runtimeDir: "/tmp/r",
      interfaces: [
        { name: "veth0", ifindex: 7, queueCount: 4, queues: [0, 1] },
        { name: "veth1", ifindex: 9, queueCount: 1, queues: [0] },
      ],
    });
    const nets = two.tiles.filter((t) => t.kind === "net");
    expect(nets.map((t) => t.name)).toEqual(["net.0", "net.1", "net.2"]);
    expect(nets.map((t) => t.kind === "net" && [t.config.ifindex, t.config.queueId])).toEqual([
      [7, 0],
      [7, 1],
      [9, 0],
    ]);
    expect(two.xsks.map((x) => [x.umem.name, x.options.ifname, x.options.queueId])).toEqual([
      ["umem", "veth0", 0],
      ["umem-1", "veth0", 1],
      ["umem-2", "veth1", 0],
    ]);
    // One program per interface, sized to its queues; the first net tile of each reports the misses.
    expect(two.xdpInterfaces.map((i) => [i.ifname, i.queueCount, i.served])).toEqual([
      ["veth0", 4, [0, 1]],
      ["veth1", 1, [0]],
    ]);
    expect(nets.map((t) => t.kind === "net" && t.config.queueMisses)).toEqual([
      { queueCount: 4, queues: [2, 3] },
      undefined,
      { queueCount: 1, queues: [] },
    ]);
    const netlink = two.tiles.find((t) => t.kind === "netlink");
    expect(netlink?.regions.filter((u) => u.access === "read").map((u) => u.region)).toEqual([
      "solicit.0.producer",
      "solicit.1.producer",
      "solicit.2.producer",
    ]);
    expect(netlink?.kind === "netlink" && netlink.config.solicit.netIfindexes).toEqual([7, 9]);
    describedRegions(two);
  });

  it("joins every replica to every net tile by its own channel pair; a replica of several sleeps on a doorbell", () => {
    const t = describeInstance({
      instance: "t5",
      config: config([{ ...labEchoApp(), replicas: 3 }]),
      runtimeDir: "/tmp/r",
      interfaces: [
        { name: "a", ifindex: 3, queueCount: 2, queues: [0, 1] },
        { name: "b", ifindex: 4, queueCount: 1, queues: [0] },
      ],
    });
    const apps = t.tiles.filter((x) => x.kind === "app");
    expect(apps.map((a) => a.name)).toEqual(["echo.0", "echo.1", "echo.2"]);
    const replica = apps[1];
    if (replica?.kind !== "app") throw new Error("no replica");
    expect(replica.config.channels).toEqual([
      { channel: "echo.1_net.0", netTile: "net.0", ifindex: 3 },
      { channel: "echo.1_net.1", netTile: "net.1", ifindex: 3 },
      { channel: "echo.1_net.2", netTile: "net.2", ifindex: 4 },
    ]);
    expect(replica.config).toMatchObject({ doorbell: "doorbell.echo.1", routeByNetbase: true });
    expect(replica.fds).toEqual([
      { role: "wake", socket: "net.0.wake" },
      { role: "wake.1", socket: "net.1.wake" },
      { role: "wake.2", socket: "net.2.wake" },
    ]);
    const net1 = t.tiles.find((x) => x.name === "net.1");
    expect(net1?.kind === "net" && net1.config.apps[0]?.replicas).toEqual([
      { channel: "echo.0_net.1", doorbell: "doorbell.echo.0" },
      { channel: "echo.1_net.1", doorbell: "doorbell.echo.1" },
      { channel: "echo.2_net.1", doorbell: "doorbell.echo.2" },
    ]);
    // A doorbell is rung by every net tile (an atomic add), read by its replica only.
    const doorbellWriters = t.tiles.filter((x) =>
      x.regions.some((u) => u.region === "doorbell.echo.1" && u.access === "write"),
    );
    expect(doorbellWriters.map((x) => x.name)).toEqual(["net.0", "net.1", "net.2"]);
    expect(replica.regions.find((u) => u.region === "doorbell.echo.1")?.access).toBe("read");
    expect(replica.regions.find((u) => u.region === "netbase")?.access).toBe("read");
  });

  it("gives the net and app tiles their idle mode ([tiles] idle unless their own) and CPU", () => {
    const c = config([{ ...labEchoApp(), placement: { idle: "adaptive", cpu: 0 } }]);
    c.tiles.idle = "spin";
    c.net.placement = { cpu: 1 };
    const t = describeInstance({
      instance: "t4",
      config: c,
      runtimeDir: "/tmp/r",
      interfaces: [{ name: "v", ifindex: 2 }],
    });
    expect(t.tiles.find((x) => x.name === "net")?.config).toMatchObject({ idle: "spin", cpu: 1 });
    expect(t.tiles.find((x) => x.kind === "app")?.config).toMatchObject({ idle: "adaptive", cpu: 0 });
    expect(topology.tiles.find((x) => x.name === "dns")?.config).toMatchObject({ idle: "adaptive" });
    expect(topology.tiles.find((x) => x.name === "dns")?.config).not.toHaveProperty("cpu");
  });

  it("is data: describing twice gives equal descriptions, and tuning returns a new one", () => {
    const input = { instance: "t3", config: config(), runtimeDir: "/tmp/r", interfaces: [{ name: "v", ifindex: 2 }] };
    const a = describeInstance(input);
    expect(describeInstance(input)).toEqual(a);
    const tuned = withTileSettings(a, "net", { spinUs: 5 });
    expect(tuned.tiles.find((t) => t.name === "net")?.config).toMatchObject({ spinUs: 5 });
    expect(a.tiles.find((t) => t.name === "net")?.config).not.toHaveProperty("spinUs");
    expect(() => withTileSettings(a, "nope", {})).toThrow(/no tile named nope/);
  });

  it("refuses a net tile without apps, and describes no net tile without an interface", () => {
    const input = { instance: "t4", config: config([]), runtimeDir: "/tmp/r", interfaces: [{ name: "v", ifindex: 2 }] };
    expect(() => describeInstance(input)).toThrow(/net tile without apps/);
    const none = describeInstance({ ...input, interfaces: [] });
    expect(none.tiles.map((t) => t.name)).toEqual(["netlink"]);
  });
});
