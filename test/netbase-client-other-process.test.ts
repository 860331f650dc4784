// netbase for any process: a separate Node process (not a tile, no netlink socket) opens a running
// lab's netbase by instance name through the package entry point, looks up a route, the
// interface and waits for a change; the change is a route the test adds in the tile namespace.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NetState } from "../shared/netstate";
import {
  forceCleanup,
  isRoot,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  uniqueInstance,
} from "./support/launcher-harness";

const LIBRARY = join(__dirname, "..", "dist", "netstate.js");

const CHILD = `
const { NetbaseClient } = require(process.argv[1]);
const nb = NetbaseClient.open(process.argv[2]);
const route = nb.lookupRoute("198.18.0.2");
const t0 = performance.now();
let n = 0;
for (; n < 200000; n++) nb.lookupRoute("198.18.0.2");
const lookupsPerSecond = Math.round(n / ((performance.now() - t0) / 1000));
console.log(JSON.stringify({ route, iface: nb.lookupInterface(route.ifindex), lookupsPerSecond }));
const since = nb.generation();
nb.waitForChange(since, 15000).then((g) => {
  console.log(JSON.stringify({ changed: g !== undefined, added: nb.lookupRoute("198.18.123.9") }));
});
`;

describe.skipIf(!isRoot)(`netbase from any process (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("opens a running instance's netbase by name, looks up and waits for a change", async () => {
    const name = uniqueInstance("nbc");
    inst = await startInstance(name, ["--lab"]);
    const child = spawn(process.execPath, ["-e", CHILD, LIBRARY, name], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: Record<string, unknown>[] = [];
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const firstLine = new Promise<void>((resolve) => {
      child.stdout.on("data", (c: Buffer) => {
        for (const l of c.toString().split("\n"))
          if (l.startsWith("{")) lines.push(JSON.parse(l) as Record<string, unknown>);
        resolve();
      });
    });
    await Promise.race([firstLine, new Promise((r) => setTimeout(r, 15_000))]);
    expect(stderr).toBe("");
    const first = lines[0] as {
      route: { ifindex: number; nexthop: string };
      iface: { addresses: string[] };
      lookupsPerSecond: number;
    };
    expect(first.route.nexthop).toBe("198.18.0.2");
    expect(first.iface.addresses).toContain("198.18.0.1/24");
    console.log(`[netbase-client] ${first.lookupsPerSecond} route lookups/s from a separate process`);
    await NetState.in(`tn-${name}-tile`, (ns) => ns.addRoute({ dst: "198.18.123.0/24", gateway: "198.18.0.2" }));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, stderr).toBe(0);
    expect(lines[1]).toMatchObject({ changed: true, added: { gateway: "198.18.0.2", ifindex: first.route.ifindex } });
  }, 60_000);
});
