// `tilenet netbase show --json` speaks ip -j: for the lab's namespace, with routes of several
// types, tables, scopes and metrics, addresses and permanent neighbors, every field netbase keeps
// has the name, shape and value `ip -j` gives, so one filter reads both. The text view names
// devices, scopes and route types as `ip route` does.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cli,
  forceCleanup,
  isRoot,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";

type Json = Record<string, unknown>;

function pick(o: Json, keys: readonly string[]): Json {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

const ROUTE_KEYS = ["type", "dst", "gateway", "dev", "table", "protocol", "scope", "prefsrc", "metric"] as const;
const LINK_KEYS = ["ifindex", "ifname", "flags", "mtu", "link_type", "address"] as const;
const ADDR_KEYS = ["family", "local", "prefixlen", "broadcast", "scope"] as const;
const NEIGH_KEYS = ["dst", "dev", "lladdr", "state"] as const;

const byJson = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

/** The same filter for both sources: what a jq user would write. */
function views(doc: { links: Json[]; addresses: Json[]; routes: Json[]; neighbors: Json[] }) {
  return {
    routes: doc.routes
      .filter((r) => r.table === undefined || r.table === "local")
      .map((r) => pick(r, ROUTE_KEYS))
      .sort(byJson),
    links: doc.links.map((l) => pick(l, LINK_KEYS)).sort(byJson),
    addresses: doc.addresses
      .filter((a) => (a.addr_info as Json[]).some((i) => i.family === "inet"))
      .map((a) => ({
        ifname: a.ifname,
        addr_info: (a.addr_info as Json[]).filter((i) => i.family === "inet").map((i) => pick(i, ADDR_KEYS)),
      }))
      .sort(byJson),
    neighbors: doc.neighbors
      .filter((n) => (n.state as string[]).includes("PERMANENT"))
      .map((n) => pick(n, NEIGH_KEYS))
      .sort(byJson),
  };
}

describe.skipIf(!isRoot)(`netbase show in iproute2's shapes (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  let ns = "";
  const ip = (...args: string[]): string => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
  const ipJson = (...args: string[]): Json[] => JSON.parse(ip("-j", ...args) || "[]") as Json[];

  beforeAll(async () => {
    name = uniqueInstance("ipj");
    inst = await startInstance(name);
    ns = status(name).report.lab?.tileNetns ?? "";
    ip("link", "add", "tnj0", "type", "veth", "peer", "name", "tnj1");
    ip("link", "set", "tnj0", "up");
    ip("link", "set", "tnj1", "up"); // with carrier: ip would add "linkdown", which netbase does not keep
    ip("addr", "add", "198.18.9.1/24", "dev", "tnj0");
    ip("route", "add", "198.19.1.0/24", "via", "198.18.9.2", "metric", "7");
    ip("route", "add", "198.19.1.5", "dev", "tnj0");
    ip("route", "add", "blackhole", "198.19.2.0/24");
    ip("route", "add", "unreachable", "198.19.3.0/24");
    ip("route", "add", "default", "via", "198.18.9.254");
    ip("neigh", "add", "198.18.9.7", "lladdr", "02:00:00:00:09:07", "dev", "tnj0", "nud", "permanent");
  });
  afterAll(async () => {
    if (inst) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("--json: routes, links, addresses and neighbors as ip -j prints them", async () => {
    let ours: ReturnType<typeof views> | undefined;
    let theirs: ReturnType<typeof views> | undefined;
    const same = (): boolean => {
      const r = cli(["netbase", "show", "--json", "--instance", name]);
      ours = views(JSON.parse(r.stdout) as Parameters<typeof views>[0]);
      theirs = views({
        links: ipJson("link"),
        addresses: ipJson("-4", "addr"),
        routes: ipJson("-4", "route", "show", "table", "all"),
        neighbors: ipJson("-4", "neigh"),
      });
      return JSON.stringify(ours) === JSON.stringify(theirs);
    };
    await waitFor(same, 10_000, "netbase to match ip -j").catch(() => undefined);
    expect(ours).toEqual(theirs);
    // Spot checks, so that an empty match cannot pass.
    expect(ours?.routes).toContainEqual({ dst: "198.19.1.0/24", gateway: "198.18.9.2", dev: "tnj0", metric: 7 });
    expect(ours?.routes).toContainEqual({ type: "blackhole", dst: "198.19.2.0/24" });
    expect(ours?.routes).toContainEqual({ dst: "default", gateway: "198.18.9.254", dev: "tnj0" });
    expect(ours?.routes.some((r) => r.table === "local" && r.scope === "host" && r.protocol === "kernel")).toBe(true);
    expect(ours?.neighbors).toContainEqual({
      dst: "198.18.9.7",
      dev: "tnj0",
      lladdr: "02:00:00:00:09:07",
      state: ["PERMANENT"],
    });
    expect(ours?.links.find((l) => l.ifname === "tnj0")?.flags).toEqual(["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]);
  });

  it("text: devices, protocols, scopes and route types by name, as ip route and ip neigh print them", () => {
    const text = cli(["netbase", "show", "--instance", name]).stdout;
    const ipRoutes = ip("-4", "route", "show", "table", "all")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.length > 0);
    expect(ipRoutes.some((l) => l.includes(" proto kernel "))).toBe(true);
    for (const line of ipRoutes) expect(text).toContain(`  ${line}\n`);
    expect(text).toContain("  198.18.9.7 dev tnj0 lladdr 02:00:00:00:09:07 PERMANENT\n");
    expect(text).not.toMatch(/dev \d+|scope \d+/);
  });
});
