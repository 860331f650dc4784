// The netlink tile, sandboxed under the launcher, mirrors every kernel change into netbase:
// links (down/up/delete), addresses, routes (add, gateway change, replace, delete), neighbors;
// 100,000 routes and 50,000 neighbors; an event overrun (tiny receive buffer plus a burst) is
// followed by a full resync that `netbase verify` finds clean.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { IpRoute } from "../launcher/iproute2-shape";
import type { Manifest } from "../launcher/manifest";
import type { NetbaseShowJson } from "../launcher/netbase-cli";
import {
  cli,
  forceCleanup,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

interface Show {
  interfaces: { ifindex: number; name: string; mac: string; mtu: number; up: boolean; addrs: string[] }[];
  routes: {
    local: { dst: string; type: string; gateway?: string; ifindex: number }[];
    main: { dst: string; type: string; gateway?: string; ifindex: number; metric: number }[];
  };
  neighbors: { ifindex: number; ip: string; mac: string; state: string }[];
}

/** `netbase show --json` (ip -j shapes, see launcher/iproute2-shape.ts) as this test's view. */
function show(name: string): Show {
  const r = cli(["netbase", "show", "--instance", name, "--json"]);
  if (r.code !== 0) throw new Error(`netbase show failed: ${r.stderr}`);
  const doc = JSON.parse(r.stdout) as NetbaseShowJson;
  const ifindex = new Map(doc.links.map((l) => [l.ifname, l.ifindex]));
  const route = (x: IpRoute) => ({
    dst: x.dst === "default" ? "0.0.0.0/0" : x.dst.includes("/") ? x.dst : `${x.dst}/32`,
    type: x.type ?? "unicast",
    ...(x.gateway ? { gateway: x.gateway } : {}),
    ifindex: x.dev ? (ifindex.get(x.dev) ?? 0) : 0,
    metric: x.metric ?? 0,
  });
  return {
    interfaces: doc.addresses.map((a) => ({
      ifindex: a.ifindex,
      name: a.ifname,
      mac: a.address ?? "",
      mtu: a.mtu,
      up: a.flags.includes("UP"),
      addrs: a.addr_info.filter((i) => i.family === "inet").map((i) => `${i.local}/${i.prefixlen}`),
    })),
    routes: {
      local: doc.routes.filter((x) => x.table === "local").map(route),
      main: doc.routes.filter((x) => x.table === undefined).map(route),
    },
    neighbors: doc.neighbors.map((n) => ({
      ifindex: ifindex.get(n.dev) ?? 0,
      ip: n.dst,
      mac: n.lladdr ?? "",
      state: n.state.join("|"),
    })),
  };
}

async function eventually(name: string, what: string, pred: (s: Show) => boolean, timeoutMs = 5000): Promise<void> {
  let last: Show | undefined;
  await waitFor(
    () => {
      last = show(name);
      return pred(last);
    },
    timeoutMs,
    `${what} in netbase`,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last seen: ${JSON.stringify(last).slice(0, 2000)}`);
  });
}

describeAsRoot(`netlink tile under the launcher (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  let ns = "";
  let dev = "";
  const ip = (...args: string[]): string => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });

  beforeAll(async () => {
    name = uniqueInstance("nl");
    const dir = mkdtempSync(join(tmpdir(), "tilenet-nl-"));
    const config = join(dir, "c.toml");
    // A small event buffer, so that a burst overruns it (ENOBUFS) and forces a resync.
    writeFileSync(config, "[netlink]\nrcvbuf_bytes = 16384\n[netbase]\nroutes = 200000\nneighbors = 65536\n");
    inst = await startInstance(name, ["--lab", "--config", config]);
    const lab = status(name).report.lab;
    if (!lab) throw new Error("no lab");
    ns = lab.tileNetns;
    const manifest = JSON.parse(readFileSync(`/run/tilenet/${name}/manifest.json`, "utf8")) as Manifest;
    dev = manifest.lab?.tileIf ?? "";
  });
  afterAll(async () => {
    if (inst) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("mirrors link, address, route and neighbor changes", async () => {
    await eventually(name, "the lab interface", (s) =>
      s.interfaces.some((i) => i.name === dev && i.addrs.includes("198.18.0.1/24")),
    );
    ip("link", "add", "tnd0", "type", "veth", "peer", "name", "tnd1");
    ip("link", "set", "tnd1", "up");
    ip("link", "set", "tnd0", "up");
    ip("addr", "add", "198.18.7.1/24", "dev", "tnd0");
    await eventually(name, "veth link with its address", (s) =>
      s.interfaces.some((i) => i.name === "tnd0" && i.up && i.addrs.includes("198.18.7.1/24")),
    );
    ip("route", "add", "198.19.1.0/24", "via", "198.18.7.2");
    await eventually(name, "route via 198.18.7.2", (s) =>
      s.routes.main.some((r) => r.dst === "198.19.1.0/24" && r.gateway === "198.18.7.2"),
    );
    ip("route", "replace", "198.19.1.0/24", "via", "198.18.7.3");
    await eventually(name, "gateway change", (s) =>
      s.routes.main.some((r) => r.dst === "198.19.1.0/24" && r.gateway === "198.18.7.3"),
    );
    ip("route", "replace", "198.19.1.0/24", "dev", "tnd0");
    await eventually(
      name,
      "route replaced by an on-link one",
      (s) =>
        s.routes.main.some((r) => r.dst === "198.19.1.0/24" && r.gateway === undefined && r.metric === 0) &&
        !s.routes.main.some((r) => r.dst === "198.19.1.0/24" && r.gateway !== undefined),
    );
    ip("route", "add", "198.19.1.0/24", "via", "198.18.7.2", "metric", "7");
    await eventually(name, "a second route with another metric", (s) =>
      s.routes.main.some((r) => r.dst === "198.19.1.0/24" && r.metric === 7 && r.gateway === "198.18.7.2"),
    );
    ip("route", "del", "198.19.1.0/24", "dev", "tnd0", "metric", "0");
    ip("route", "del", "198.19.1.0/24", "metric", "7");
    await eventually(name, "routes deleted", (s) => !s.routes.main.some((r) => r.dst === "198.19.1.0/24"));
    ip("neigh", "add", "198.18.7.9", "lladdr", "02:00:00:00:07:09", "dev", "tnd0", "nud", "permanent");
    await eventually(name, "neighbor", (s) =>
      s.neighbors.some((n) => n.ip === "198.18.7.9" && n.mac === "02:00:00:00:07:09" && n.state === "PERMANENT"),
    );
    ip("neigh", "replace", "198.18.7.9", "lladdr", "02:00:00:00:07:0a", "dev", "tnd0", "nud", "permanent");
    await eventually(name, "neighbor replaced", (s) =>
      s.neighbors.some((n) => n.ip === "198.18.7.9" && n.mac === "02:00:00:00:07:0a"),
    );
    ip("neigh", "del", "198.18.7.9", "dev", "tnd0");
    await eventually(name, "neighbor deleted", (s) => !s.neighbors.some((n) => n.ip === "198.18.7.9"));
    // Link down: the kernel drops its routes without telling; the tile resyncs.
    ip("route", "add", "198.19.2.0/24", "dev", "tnd0");
    await eventually(name, "route on the veth", (s) => s.routes.main.some((r) => r.dst === "198.19.2.0/24"));
    ip("link", "set", "tnd0", "down");
    await eventually(
      name,
      "link down and its routes gone",
      (s) =>
        s.interfaces.some((i) => i.name === "tnd0" && !i.up) && !s.routes.main.some((r) => r.dst === "198.19.2.0/24"),
    );
    ip("link", "set", "tnd0", "up");
    await eventually(name, "link up", (s) => s.interfaces.some((i) => i.name === "tnd0" && i.up));
    ip("link", "del", "tnd0");
    await eventually(name, "link deleted", (s) => !s.interfaces.some((i) => i.name === "tnd0"));
    expect(cli(["netbase", "verify", "--instance", name]).code).toBe(0);
  });

  it("absorbs 100,000 routes and 50,000 neighbors, resyncing after overruns, and verifies clean", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tilenet-nl-batch-"));
    const routes: string[] = [];
    // /32s inside 198.18.0.0/15: all of 198.19.0.0/16, then 198.18.64.0 and up.
    for (let i = 0; i < 100_000; i++) {
      const addr = i < 65536 ? 0xc6130000 + i : 0xc6124000 + (i - 65536);
      routes.push(`route add 198.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}/32 dev ${dev}`);
    }
    writeFileSync(join(dir, "routes"), `${routes.join("\n")}\n`);
    const hex = (n: number): string => (n & 255).toString(16).padStart(2, "0");
    const neighs: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      const host = 0x100 + i; // 198.18.1.0 and up, inside an on-link /16 added below
      neighs.push(
        `neigh add 198.18.${(host >> 8) & 255}.${host & 255} lladdr 02:00:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)} dev ${dev} nud permanent`,
      );
    }
    writeFileSync(join(dir, "neighs"), `${neighs.join("\n")}\n`);
    ip("addr", "add", "198.18.255.254/16", "dev", dev);
    const before = status(name).report.tiles.find((t) => t.name === "netlink")?.metrics ?? {};
    ip("-batch", join(dir, "routes"));
    ip("-batch", join(dir, "neighs"));
    await waitFor(
      () => {
        const m = status(name).report.tiles.find((t) => t.name === "netlink")?.metrics ?? {};
        return (m.routes ?? 0) >= 100_000 && (m.neighbors ?? 0) >= 50_000;
      },
      60_000,
      "100k routes and 50k neighbors in netbase",
    );
    const after = status(name).report.tiles.find((t) => t.name === "netlink")?.metrics ?? {};
    // The 16 KiB event buffer cannot hold such bursts: overruns happened and were resynced.
    expect((after.enobufs ?? 0) - (before.enobufs ?? 0)).toBeGreaterThan(0);
    expect((after.full_syncs ?? 0) - (before.full_syncs ?? 0)).toBeGreaterThan(0);
    let verify = cli(["netbase", "verify", "--instance", name], 60_000);
    for (let i = 0; i < 5 && verify.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 500));
      verify = cli(["netbase", "verify", "--instance", name], 60_000);
    }
    expect(verify.stdout).toContain("netbase matches the kernel");
    expect(verify.code).toBe(0);
    expect(status(name).code).toBe(0);
  }, 120_000);
});
