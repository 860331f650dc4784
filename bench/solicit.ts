// `npm run bench -- solicit`: solicits offered per second to a real sandboxed netlink tile (the
// producer never waits; the unreliable ring overruns and counts), what the tile absorbs, and
// the in-process fuzzer's executions per second.
import { runSolicitLive } from "../launcher/solicit-live";
import { solicitFuzzFigures } from "./fuzz-figures";
import type { Bench } from "./types";

export const solicitBench: Bench = async (args) => {
  const seconds = Number(args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 5);
  const live = await runSolicitLive({ seconds, seed: 7, mode: "mixed", dist: __dirname });
  const fuzz = await solicitFuzzFigures(Math.min(seconds, 5));
  const f = live.figures;
  const figures: Record<string, number> = {
    offered_per_s: f.offered_per_s ?? 0,
    absorbed_per_s: f.absorbed_per_s ?? 0,
    absorbed_fraction: (f.absorbed_per_s ?? 0) / (f.offered_per_s || 1),
    ring_overruns_lost: f.ring_overruns_lost ?? 0,
    probes_sent: f.probes_sent ?? 0,
    tile_healthy: live.ok ? 1 : 0,
    ...fuzz,
  };
  return {
    figures,
    lines: [
      `offered: ${((f.offered_per_s ?? 0) / 1e6).toFixed(2)}M solicits/s for ${(f.seconds ?? 0).toFixed(1)} s (target >= 10M/s), producer never waited`,
      `absorbed by the netlink tile: ${((f.absorbed_per_s ?? 0) / 1e6).toFixed(2)}M/s (${(figures.absorbed_fraction * 100).toFixed(1)}% of offered); lost to ring overruns: ${f.ring_overruns_lost}`,
      `probes sent: ${f.probes_sent} (limit ${f.probe_limit}); tile healthy afterwards: ${live.ok ? "yes" : `NO: ${live.problems.join("; ")}`}`,
      `fuzz: ${Object.entries(fuzz)
        .map(([k, v]) => `${k}=${Math.round(v)}`)
        .join(" ")}`,
    ],
  };
};
