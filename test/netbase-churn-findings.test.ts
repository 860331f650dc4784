// Issue 17's three findings, reproduced as an operator met them (the lab, the sandboxed netlink
// tile, `ip -batch` against its namespace), at counts scaled down for a shared 2-core machine:
// - host routes (/32s in distinct /24 blocks) fit within `routes = N`, and none is dropped silently;
// - after concurrent route and neighbor churn through a 16 KiB event buffer, netbase equals the
//   kernel within a short bound of the last change, with periodic verification switched off;
// - neighbor churn during a resync neither kills the tile nor trips its sandbox.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Manifest } from "../launcher/manifest";
import {
  cli,
  forceCleanup,
  freeMetricsPort,
  isRoot,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";

/** How long after the last kernel change netbase must equal the kernel (the design bound is 1 s,
 *  measured in-process by bench/netbase-churn.ts; here each check is a `netbase verify` child, which
 *  takes seconds on a machine shared by several test runs). */
const CONVERGE_BOUND_MS = 5000;

interface Lab {
  inst: RunningInstance;
  name: string;
  ns: string;
  dev: string;
  dir: string;
}

async function startLab(tag: string, toml: string): Promise<Lab> {
  const name = uniqueInstance(tag);
  const dir = mkdtempSync(join(tmpdir(), `tilenet-${tag}-`));
  writeFileSync(join(dir, "c.toml"), toml);
  const inst = await startInstance(name, ["--lab", "--config", join(dir, "c.toml")]);
  const lab = status(name).report.lab;
  if (!lab) throw new Error("no lab");
  const manifest = JSON.parse(readFileSync(`/run/tilenet/${name}/manifest.json`, "utf8")) as Manifest;
  return { inst, name, ns: lab.tileNetns, dev: manifest.lab?.tileIf ?? "", dir };
}

/** Runs `ip -n ns -batch` on these lines (in a child: several run at once); rejects on failure. */
function ipBatch(lab: Lab, tag: string, lines: string[]): Promise<void> {
  const file = join(lab.dir, tag);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["-n", lab.ns, "-batch", file], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`ip -batch ${tag}: ${code}: ${err}`))));
  });
}

const dotted = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
const hex = (n: number): string => (n & 255).toString(16).padStart(2, "0");

function netlinkMetrics(name: string): Record<string, number> {
  return status(name).report.tiles.find((t) => t.name === "netlink")?.metrics ?? {};
}

/** Polls `netbase verify` until clean; returns ms from `since` to the start of the first clean
 *  verify (netbase was equal to the kernel by then). */
async function convergedAfter(name: string, since: number, boundMs: number): Promise<number> {
  let last = "";
  for (;;) {
    const started = performance.now();
    const r = cli(["netbase", "verify", "--instance", name], 60_000);
    if (r.code === 0) return started - since;
    last = r.stdout + r.stderr;
    if (performance.now() - since > boundMs)
      throw new Error(
        `netbase still differs ${Math.round(performance.now() - since)} ms after the last change:\n${last.slice(0, 1500)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!isRoot)(`issue 17 findings under the launcher (${ROOT_REASON})`, () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    if (lab) {
      lab.inst.child.kill("SIGTERM");
      await lab.inst.exit;
      await forceCleanup(lab.inst);
      rmSync(lab.dir, { recursive: true, force: true });
    }
    lab = undefined;
  });

  it("holds `routes = N` host routes in distinct /24 blocks, none dropped", async () => {
    // The default config (65,536 routes) overflowed at ~2,050 such routes; the test address space
    // (198.18.0.0/15) has 512 /24 blocks, so the same finding is shown at routes = 512.
    const l = await startLab("nbhost", "[netlink]\nverify_interval_s = 0\n[netbase]\nroutes = 512\n");
    lab = l;
    const before = netlinkMetrics(l.name).routes ?? 0;
    const HOSTS = 480 - before;
    const routes: string[] = [];
    for (let i = 0; i < HOSTS; i++) routes.push(`route add ${dotted(0xc6120200 + i * 256 + 77)}/32 dev ${l.dev}`);
    await ipBatch(l, "hosts", routes);
    const t0 = performance.now();
    await convergedAfter(l.name, t0, CONVERGE_BOUND_MS);
    const m = netlinkMetrics(l.name);
    expect(m.routes).toBe(before + HOSTS);
    expect(m.netbase_full_drops ?? 0).toBe(0);
    expect(status(l.name).code).toBe(0);
  }, 60_000);

  it("says so when more routes arrive than `routes = N` holds: status and /healthz unhealthy, drops named", async () => {
    const port = await freeMetricsPort();
    const l = await startLab(
      "nbfull",
      `[netlink]\nverify_interval_s = 0\n[netbase]\nroutes = 512\n[metrics]\nlisten = "127.0.0.1:${port}"\n`,
    );
    lab = l;
    const routes: string[] = [];
    for (let i = 0; i < 600; i++) routes.push(`route add ${dotted(0xc6120200 + i * 256 + 77)}/32 dev ${l.dev}`);
    await ipBatch(l, "over", routes);
    await waitFor(() => (netlinkMetrics(l.name).netbase_full ?? 0) === 1, 10_000, "netbase_full");
    const m = netlinkMetrics(l.name);
    expect(m.netbase_full_drops ?? 0).toBeGreaterThan(0);
    const s = status(l.name);
    expect(s.code).toBe(1);
    const problems = s.report.tiles.find((t) => t.name === "netlink")?.problems ?? [];
    expect(problems.join("\n")).toMatch(/netbase full: \d+ kernel updates did not fit/);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.text()).toMatch(/netlink: netbase full: \d+ kernel updates did not fit/);
  }, 60_000);

  it("equals the kernel shortly after concurrent route and neighbor churn through a 16 KiB buffer", async () => {
    const l = await startLab(
      "nbconv",
      "[netlink]\nrcvbuf_bytes = 16384\nverify_interval_s = 0\n[netbase]\nroutes = 100000\nneighbors = 65536\n",
    );
    lab = l;
    await ipBatch(l, "addr", [`addr add 198.18.255.254/16 dev ${l.dev}`]);
    const route = (op: string, i: number) => `route ${op} ${dotted(0xc6130000 + i)}/32 dev ${l.dev}`;
    const neigh = (i: number, v: number) =>
      `neigh replace ${dotted(0xc6120100 + i)} lladdr 02:00:${hex(v)}:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)} dev ${l.dev} nud permanent`;
    const ROUTES = 20_000;
    const NEIGHS = 8_000;
    await Promise.all([
      ipBatch(
        l,
        "r-add",
        Array.from({ length: ROUTES }, (_, i) => route("add", i)),
      ),
      ipBatch(
        l,
        "n-add",
        Array.from({ length: NEIGHS }, (_, i) => neigh(i, 1)),
      ),
    ]);
    await Promise.all([
      ipBatch(
        l,
        "r-del",
        Array.from({ length: ROUTES / 2 }, (_, i) => route("del", i * 2)),
      ),
      ipBatch(
        l,
        "n-rep",
        Array.from({ length: NEIGHS / 2 }, (_, i) => neigh(i * 2, 2)),
      ),
    ]);
    const t0 = performance.now();
    const ms = await convergedAfter(l.name, t0, 20000);
    console.log(`converged ${Math.round(ms)} ms after the last change (a netbase verify child per check)`);
    const m = netlinkMetrics(l.name);
    expect(m.enobufs ?? 0).toBeGreaterThan(0); // the buffer did overrun: the resync path ran
    expect(m.verifications ?? 0).toBe(0);
    expect(ms).toBeLessThan(CONVERGE_BOUND_MS);
    expect(status(l.name).code).toBe(0);
  }, 120_000);

  it("survives neighbor churn during resyncs: the tile keeps running and converges", async () => {
    const l = await startLab(
      "nbkeep",
      "[netlink]\nrcvbuf_bytes = 16384\nverify_interval_s = 0\n[netbase]\nroutes = 100000\nneighbors = 65536\n",
    );
    lab = l;
    await ipBatch(l, "addr", [`addr add 198.18.255.254/16 dev ${l.dev}`]);
    const netlinkPid = status(l.name).report.tiles.find((t) => t.name === "netlink")?.pid ?? 0;
    const routes = Array.from({ length: 20_000 }, (_, i) => `route add ${dotted(0xc6130000 + i)}/32 dev ${l.dev}`);
    const neighs = Array.from(
      { length: 5_000 },
      (_, i) =>
        `neigh replace ${dotted(0xc6120100 + i)} lladdr 02:00:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)} dev ${l.dev} nud permanent`,
    );
    await Promise.all([ipBatch(l, "routes", routes), ipBatch(l, "neighs", neighs)]);
    const t0 = performance.now();
    const tile = status(l.name).report.tiles.find((t) => t.name === "netlink");
    expect(l.inst.logs.join("\n")).not.toMatch(/SIGSYS|tile failed|kept changing/);
    expect(tile?.state).toBe("running");
    expect(tile?.pid).toBe(netlinkPid);
    await convergedAfter(l.name, t0, CONVERGE_BOUND_MS);
    expect(netlinkMetrics(l.name).resync_pending).toBe(0);
  }, 120_000);
});
