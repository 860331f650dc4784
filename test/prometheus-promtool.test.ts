// A live lab's /metrics passes `promtool check metrics` with no finding and follows Prometheus
// conventions (counters end in _total, no `instance`/`job` label, ratios within 0-1, build and
// XDP info metrics); /healthz answers 503 while a tile is stale and 200 again once it is back,
// /readyz 200 once every tile runs. The XDP attachment (interface, queue, mode actually attached,
// copy mode) is the same in the manifest, `status` (JSON and text) and the info metric.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;
// Skipped only where neither applies: as root (CI) a missing promtool is a failure, not a skip.
const SKIP = !isRoot;
if (!hasPromtool && !isRoot)
  console.log("skipping promtool checks: promtool is missing (Debian package prometheus) and not root");

/** One request on its own connection (a reused keep-alive connection may be closed by the server
 *  at the moment it is reused, after its idle timeout). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe.skipIf(SKIP)(`Prometheus on a live lab (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  let port = 0;
  beforeAll(async () => {
    name = uniqueInstance("prom");
    port = await freeMetricsPort();
    inst = await startInstance(name, ["--lab", "--metrics", `127.0.0.1:${port}`]);
  });
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("promtool check metrics finds nothing", async () => {
    expect(hasPromtool, "promtool is missing: apt-get install prometheus (test/support/debian-packages.txt)").toBe(
      true,
    );
    const { status: code, body } = await get(port, "/metrics");
    expect(code).toBe(200);
    const check = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
    expect(`${check.stdout}${check.stderr}`).toBe("");
    expect(check.status).toBe(0);
  });

  it("follows the conventions: _total counters, tilenet_instance label, 0-1 ratios, build and XDP info", async () => {
    const body = (await get(port, "/metrics")).body;
    const types = new Map([...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    const counters = [...types].filter(([, t]) => t === "counter").map(([n]) => n);
    expect(counters.length).toBeGreaterThan(50);
    expect(counters.filter((n) => !n.endsWith("_total"))).toEqual([]);
    expect(types.get("tilenet_xsk_rx_dropped_total")).toBe("counter"); // cumulative kernel statistic
    expect(types.get("tilenet_busy_seconds_total")).toBe("counter");
    expect([...types.keys()].filter((n) => /_ns$|_pct$|_count$/.test(n))).toEqual([]);
    const samples = body.split("\n").filter((l) => l.length > 0 && !l.startsWith("#"));
    expect(samples.filter((l) => /[{,](instance|job)="/.test(l))).toEqual([]);
    for (const l of samples.filter((s) => /_ratio\{/.test(s))) {
      const v = Number(l.split(" ").pop());
      expect(v >= 0 && v <= 1, l).toBe(true);
    }
    expect(body).toMatch(/^tilenet_build_info\{version="\d+\.\d+\.\d+[^"]*",node_version="v\d+[^"]*"\} 1$/m);
    expect(body).toMatch(
      new RegExp(
        `^tilenet_xdp_info\\{tilenet_instance="${name}",tile="net",interface="[^"]+",queue="0",mode="(drv|skb)",requested_mode="auto",zero_copy="false",requested_zero_copy="auto",zero_copy_fallback="[^"]*ENOTSUP[^"]*",need_wakeup="true",busy_poll_prefer="false",busy_poll_usecs="0",busy_poll_budget="0",napi_defer_hard_irqs="\\d*",gro_flush_timeout_ns="\\d*"\\} 1$`,
        "m",
      ),
    );
  });

  it("the XDP attachment is the same in the manifest, status --json, status text and the info metric", async () => {
    const manifest = JSON.parse(readFileSync(`/run/tilenet/${name}/manifest.json`, "utf8")) as Manifest;
    const xdp = manifest.xdp;
    expect(xdp).toBeDefined();
    if (!xdp) return;
    expect(xdp.interface).toBe(manifest.lab?.tileIf);
    expect(xdp.queue).toBe(0);
    expect(["drv", "skb"]).toContain(xdp.mode);
    expect(xdp.zeroCopy).toBe(false); // veth: copy mode only
    // The kernel agrees on the mode: ip link shows xdp (native) or xdpgeneric (skb) on the interface.
    const link = spawnSync("ip", ["-n", manifest.lab?.tileNetns ?? "", "link", "show", xdp.interface], {
      encoding: "utf8",
    }).stdout;
    expect(link).toMatch(xdp.mode === "drv" ? /\bxdp\b(?!generic)/ : /\bxdpgeneric\b/);
    const json = JSON.parse(cli(["status", "--json", "--instance", name]).stdout) as { xdp?: unknown };
    expect(json.xdp).toEqual(xdp);
    const text = cli(["status", "--instance", name]).stdout;
    expect(text).toContain(`xdp: ${xdp.interface} queue 0, ${xdp.mode} mode (auto`);
    expect(text).toContain(", copy (zero-copy auto: bind(AF_XDP");
    const body = (await get(port, "/metrics")).body;
    expect(body).toContain(`interface="${xdp.interface}",queue="0",mode="${xdp.mode}"`);
  });

  it("/healthz is 503 while a tile is stale and 200 once it is back; /readyz is 200 while tiles run", async () => {
    expect((await get(port, "/healthz")).status).toBe(200);
    expect(await get(port, "/readyz")).toEqual({ status: 200, body: "ok\n" });
    const echo = status(name).report.tiles.find((t) => t.name === "echo");
    if (!echo) throw new Error("no echo tile");
    process.kill(echo.pid, "SIGSTOP");
    try {
      let last = await get(port, "/healthz");
      for (let i = 0; i < 50 && last.status !== 503; i++) {
        await new Promise((r) => setTimeout(r, 100));
        last = await get(port, "/healthz");
      }
      expect(last.status).toBe(503);
      expect(last.body).toContain(`${name}/echo: heartbeat stale`);
      expect((await get(port, "/readyz")).status).toBe(200); // stopped, but its state is still running
    } finally {
      process.kill(echo.pid, "SIGCONT");
    }
    await waitFor(() => cli(["status", "--instance", name]).code === 0, 5000, "the tile healthy again");
    expect((await get(port, "/healthz")).status).toBe(200);
  });
});
