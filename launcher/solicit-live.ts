// The solicit path under live load: a real lab instance (its netlink tile sandboxed, no net
// tile, so the solicit ring's producer side is free) fed by a producer process at full speed.
// Used by `tilenet fuzz solicit-live` (adversarial bytes, then health and safety checks) and by
// `npm run bench -- solicit` (offered and absorbed rates).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseIp } from "../shared/netmodel";
import { NetState } from "../shared/netstate";
import { startInstanceProcess, stopInstanceProcess } from "./lab-process";
import type { Manifest } from "./manifest";

const NUD_NOARP = 0x40;

/** The namespace's neighbors with device names, as `ip -j neigh show` lists them (the library;
 *  like ip, without NOARP and NONE entries, which the kernel keeps for itself). */
async function kernelNeighbors(netns: string): Promise<{ dst: string; dev: string; lladdr?: string }[]> {
  return NetState.in(netns, async (ns) => {
    const names = new Map((await ns.listLinks()).map((l) => [l.ifindex, l.name]));
    const shown = (await ns.listNeighbors()).filter((n) => n.state !== 0 && (n.state & NUD_NOARP) === 0);
    return shown.map((n) => ({
      dst: n.dst,
      dev: names.get(n.ifindex) ?? `if${n.ifindex}`,
      ...(n.lladdr === undefined ? {} : { lladdr: n.lladdr }),
    }));
  });
}

export interface LiveOptions {
  seconds: number;
  seed: number;
  mode: "valid" | "mixed" | "garbage";
  ratePerS?: number;
  burst?: number;
  /** Resolve with RTM_NEWNEIGH/NTF_USE: the netlink tile keeps CAP_NET_ADMIN. */
  keepNetAdmin?: boolean;
  /** Directory of dist/ (cli.js and bench/children). */
  dist: string;
}

export interface LiveResult {
  ok: boolean;
  problems: string[];
  figures: Record<string, number>;
  rejects: Record<string, number>;
  /** The kernel's neighbor table of the tile namespace afterwards. */
  neighbors: { dst: string; dev: string; lladdr?: string }[];
  /** CapEff of the netlink tile, as status reported it. */
  netlinkCapEff: string;
}

interface TileMetrics {
  name: string;
  pid: number;
  heartbeatAgeMs: number | null;
  state: string;
  metrics: Record<string, number>;
  sandbox: { capEff: string } | null;
}

function statusOf(dist: string, instance: string): { code: number | null; tiles: TileMetrics[] } {
  const r = spawnSync(process.execPath, [join(dist, "cli.js"), "status", "--instance", instance, "--json"], {
    encoding: "utf8",
  });
  const report = JSON.parse(r.stdout) as { tiles: TileMetrics[] };
  return { code: r.status, tiles: report.tiles };
}

// Longer than 70 lines: one sequential script (a lab instance, the hostile producer, the checks on
// its counters) whose steps share the instance, its namespace and the cleanup.
export async function runSolicitLive(opts: LiveOptions): Promise<LiveResult> {
  const rate = opts.ratePerS ?? 100;
  const burst = opts.burst ?? 100;
  const instance = `fz-${randomBytes(3).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "tilenet-live-"));
  const configPath = join(dir, "live.toml");
  writeFileSync(
    configPath,
    `[net]\nenabled = false\n[solicit]\nrate_per_s = ${rate}\nburst = ${burst}\nring_depth = 4096\n[netlink]\nverify_interval_s = 1\nkeep_net_admin = ${opts.keepNetAdmin === true}\n`,
  );
  const problems: string[] = [];
  const lab = await startInstanceProcess(join(opts.dist, "cli.js"), instance, ["--lab", "--config", configPath]);
  try {
    const manifest = JSON.parse(readFileSync(`/run/tilenet/${instance}/manifest.json`, "utf8")) as Manifest;
    const ringFd = (name: string): number => {
      const r = manifest.regions.find((x) => x.name === name);
      if (!r) throw new Error(`no region ${name}`);
      return r.launcherFd;
    };
    const labInfo = manifest.lab;
    if (!labInfo) throw new Error("no lab in the manifest");
    const ifindex = (await NetState.in(labInfo.tileNetns, (ns) => ns.getLink(labInfo.tileIf))).ifindex;
    const subnet = (parseIp(labInfo.tileAddr.split("/")[0] ?? "") ?? 0) & 0xffffff00;
    const before = statusOf(opts.dist, instance).tiles.find((t) => t.name === "netlink");

    const producer = spawnSync(
      process.execPath,
      [
        join(opts.dist, "bench", "children", "solicit-producer.js"),
        String(manifest.launcherPid),
        String(ringFd("solicit.0.producer")),
        String(ringFd("solicit.0.consumer")),
        String(opts.seconds),
        String(opts.seed),
        opts.mode,
        String(ifindex),
        String(subnet >>> 0),
      ],
      { encoding: "utf8", timeout: (opts.seconds + 30) * 1000 },
    );
    if (producer.status !== 0) throw new Error(`producer failed (${producer.status}): ${producer.stderr}`);
    const offered = JSON.parse(producer.stdout) as { published: number; seconds: number };
    // Let the tile drain the ring and run its periodic verification once: the kernel creates some
    // neighbor entries without announcing them (NOARP entries), which verification repairs.
    await new Promise((r) => setTimeout(r, 1500));
    const after = statusOf(opts.dist, instance);
    const nl = after.tiles.find((t) => t.name === "netlink");
    if (!nl || !before) throw new Error("no netlink tile in status");
    const delta = (k: string): number => (nl.metrics[k] ?? 0) - (before.metrics[k] ?? 0);
    const received = delta("solicit_received");
    const probes = delta("solicit_probes_sent");
    const overruns = delta("solicit_ring_overruns");

    if (after.code !== 0) problems.push(`status exits ${after.code} after the load (tile unhealthy or not sandboxed)`);
    if (nl.state !== "running") problems.push(`netlink tile state ${nl.state}`);
    if ((nl.heartbeatAgeMs ?? 1e9) > 1000) problems.push(`netlink heartbeat ${nl.heartbeatAgeMs} ms old`);
    const allowed = burst + rate * (offered.seconds + 1);
    if (probes > allowed)
      problems.push(`${probes} probes in ${offered.seconds.toFixed(1)} s exceed the limit ${allowed}`);
    const verify = spawnSync(
      process.execPath,
      [join(opts.dist, "cli.js"), "netbase", "verify", "--instance", instance],
      {
        encoding: "utf8",
      },
    );
    if (verify.status !== 0) problems.push(`netbase verify: ${verify.stdout.trim()}`);
    const neighs = await kernelNeighbors(labInfo.tileNetns);
    for (const n of neighs) {
      const ip = parseIp(n.dst);
      const onLink = ip !== undefined && (ip & 0xffffff00) >>> 0 === subnet >>> 0 && n.dev === labInfo.tileIf;
      if (!onLink) problems.push(`kernel neighbor ${n.dst} dev ${n.dev} is not on-link on ${labInfo.tileIf}`);
    }
    const rejects: Record<string, number> = {};
    for (const k of Object.keys(nl.metrics))
      if (k.startsWith("solicit_rejected_") && delta(k) > 0) rejects[k.slice(17)] = delta(k);
    return {
      ok: problems.length === 0,
      problems,
      rejects,
      neighbors: neighs,
      netlinkCapEff: nl.sandbox?.capEff ?? "",
      figures: {
        offered: offered.published,
        offered_per_s: offered.published / offered.seconds,
        absorbed_per_s: received / offered.seconds,
        received,
        ring_overruns_lost: overruns,
        probes_sent: probes,
        probe_errors: delta("solicit_probe_errors"),
        probe_limit: allowed,
        kernel_neighbors: neighs.length,
        divergences_repaired: delta("divergences"),
        seconds: offered.seconds,
      },
    };
  } finally {
    await stopInstanceProcess(lab);
    rmSync(dir, { recursive: true, force: true });
  }
}
