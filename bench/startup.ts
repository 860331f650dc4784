// `npm run bench -- startup`: time from `tilenet run --lab` to every tile running, and resident
// memory per tile, beside a bare `node` process measured in the same run (the baseline).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startInstanceProcess, stopInstanceProcess } from "../launcher/lab-process";
import type { Bench } from "./types";

const CLI = join(__dirname, "cli.js");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** A /proc/PID/status memory line in MB: VmRSS (everything resident, including the node binary's
 *  pages shared by every process and the shared regions' pages) or RssAnon (private memory). */
function statusMb(pid: number, field: "VmRSS" | "RssAnon"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface Sample {
  startupS: number;
  rssMb: Record<string, number>;
  privateMb: Record<string, number>;
}

async function oneRun(): Promise<Sample> {
  const name = `bs-${randomBytes(3).toString("hex")}`;
  const t0 = performance.now();
  const lab = await startInstanceProcess(CLI, name, ["--lab"]);
  try {
    const startupS = (performance.now() - t0) / 1000;
    // Let the tiles settle (JIT, first housekeeping) before reading their memory.
    await new Promise((r) => setTimeout(r, 1000));
    const status = spawnSync(process.execPath, [CLI, "status", "--instance", name, "--json"], { encoding: "utf8" });
    const report = JSON.parse(status.stdout) as { tiles: { name: string; pid: number }[] };
    const rss: Record<string, number> = {};
    const priv: Record<string, number> = {};
    for (const t of report.tiles) {
      rss[t.name] = statusMb(t.pid, "VmRSS");
      priv[t.name] = statusMb(t.pid, "RssAnon");
    }
    return { startupS, rssMb: rss, privateMb: priv };
  } finally {
    await stopInstanceProcess(lab);
  }
}

function bareNode(): { startS: number; rssMb: number } {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      "-e",
      "const fs=require('fs');process.stdout.write(/VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status','utf8'))[1])",
    ],
    { encoding: "utf8" },
  );
  return { startS: (performance.now() - t0) / 1000, rssMb: Number(r.stdout) / 1024 };
}

export const startupBench: Bench = async (args) => {
  const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 5);
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) samples.push(await oneRun());
  const bare = Array.from({ length: runs }, bareNode);
  const startup = median(samples.map((s) => s.startupS));
  const tiles = Object.keys(samples[0]?.rssMb ?? {});
  const rssByTile = Object.fromEntries(tiles.map((t) => [t, median(samples.map((s) => s.rssMb[t] ?? Number.NaN))]));
  const rssMax = Math.max(...Object.values(rssByTile));
  const privateByTile = Object.fromEntries(
    tiles.map((t) => [t, median(samples.map((s) => s.privateMb[t] ?? Number.NaN))]),
  );
  const privateMax = Math.max(...Object.values(privateByTile));
  const bareStart = median(bare.map((b) => b.startS));
  const bareRss = median(bare.map((b) => b.rssMb));
  const figures: Record<string, number> = {
    startup_s: startup,
    rss_mb_max: rssMax,
    private_mb_max: privateMax,
    bare_node_start_s: bareStart,
    bare_node_rss_mb: bareRss,
    startup_vs_bare_node: startup / bareStart,
    rss_max_vs_bare_node: rssMax / bareRss,
    runs,
  };
  for (const [t, v] of Object.entries(rssByTile)) figures[`rss_mb_${t}`] = v;
  for (const [t, v] of Object.entries(privateByTile)) figures[`private_mb_${t}`] = v;
  return {
    figures,
    lines: [
      `startup: ${startup.toFixed(3)} s median of ${runs} (target <= 1.5 s); a bare node process: ${bareStart.toFixed(3)} s (${(startup / bareStart).toFixed(1)}x)`,
      ...Object.entries(rssByTile).map(
        ([t, v]) =>
          `rss ${t}: ${v.toFixed(1)} MB (target <= 60 MB), of which private ${(privateByTile[t] ?? 0).toFixed(1)} MB`,
      ),
      "  (VmRSS counts the node binary's pages, shared by every node process, and the shared regions' pages the tile touched; private = RssAnon)",
      `rss max ${rssMax.toFixed(1)} MB; a bare node process: ${bareRss.toFixed(1)} MB (${(rssMax / bareRss).toFixed(2)}x)`,
    ],
  };
};
