// `npm run bench -- ipv6`: echo pps over IPv6 against IPv4 through the same `tilenet run --lab`
// instance (the builtin echo app), in one run: the C load generator (bench/c/echo_load.c) in the
// peer namespace keeps `window` datagrams in flight to 198.18.0.1 and to 2001:2::1 (and to the
// tile's scoped link-local address), the families alternating per run; figures are medians. The
// route lookup figures (IPv6 at 230,000 routes beside IPv4) are `npm run bench -- netbase`'s.
// Everything the run makes is removed at the end, also on failure.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allRunning, findRoot, startLab } from "./lab-instance";
import type { Bench } from "./types";

interface Options {
  seconds: number;
  runs: number;
  window: number;
}

interface LabJson {
  lab?: { peerNetns: string; tileAddr: string; tileLinkLocal?: string };
  tiles: { state: string }[];
}

const ECHO_PORT = 7000;
const TARGETS = ["ipv4", "ipv6", "ipv6_link_local"] as const;
type Target = (typeof TARGETS)[number];

function parseOptions(args: string[]): Options {
  const o: Options = { seconds: 3, runs: 3, window: 256 };
  for (let i = 0; i < args.length; i += 2) {
    const key = (args[i] ?? "").replace(/^--/, "") as keyof Options;
    const v = Number(args[i + 1]);
    if (!(key in o) || !Number.isInteger(v) || v < 1 || v > 4096)
      throw new Error(`ipv6 bench: options --seconds N --runs N --window N (got ${args[i]} ${args[i + 1]})`);
    o[key] = v;
  }
  if (o.seconds > 30 || o.runs > 10) throw new Error("ipv6 bench: at most 30 seconds and 10 runs");
  return o;
}

export const ipv6Bench: Bench = async (args) => {
  const o = parseOptions(args);
  if (process.getuid?.() !== 0) throw new Error("ipv6 bench: must run as root (namespaces, XDP)");
  const root = findRoot("ipv6");
  const cli = join(root, "dist", "cli.js");
  const cleanups: (() => Promise<void>)[] = [];
  const pps = new Map<Target, number[]>(TARGETS.map((t) => [t, []]));
  try {
    const bin = mkdtempSync(join(tmpdir(), "tn-bench-ipv6-"));
    cleanups.push(async () => rmSync(bin, { recursive: true, force: true }));
    const load = join(bin, "echo_load");
    execFileSync("cc", ["-O2", "-o", load, join(root, "bench", "c", "echo_load.c")], { stdio: "inherit" });
    const instance = `benchv6${process.pid}`.slice(0, 24);
    const budgetS = o.runs * TARGETS.length * (o.seconds + 3) + 60;
    const lab = await startLab(cli, instance, [], budgetS, cleanups, (s: LabJson) =>
      s.lab?.tileLinkLocal && allRunning(s)
        ? {
            peerNs: s.lab.peerNetns,
            hosts: {
              ipv4: s.lab.tileAddr.split("/")[0] ?? "",
              ipv6: "2001:2::1",
              ipv6_link_local: s.lab.tileLinkLocal,
            },
          }
        : undefined,
    );
    const run = (target: Target, seconds: number, window: number): number => {
      const argv = ["netns", "exec", lab.peerNs, load, lab.hosts[target], String(ECHO_PORT), String(seconds), "0.5"];
      argv.push("20000000", "64", String(window), "32");
      const out = execFileSync("ip", argv, { encoding: "utf8", timeout: (seconds + 10) * 1000 });
      const r = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { pps: number; bad: number };
      if (r.bad > 0) throw new Error(`ipv6 bench: ${r.bad} echoes over ${target} did not match what was sent`);
      return r.pps;
    };
    for (const t of TARGETS) run(t, 1, 8); // neighbors resolved, JIT warm
    for (let r = 0; r < o.runs; r++)
      for (const t of r % 2 === 0 ? TARGETS : [...TARGETS].reverse()) pps.get(t)?.push(run(t, o.seconds, o.window));
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
  const m = (t: Target) => median(pps.get(t) ?? []);
  const ratio = m("ipv6") / m("ipv4");
  return {
    figures: {
      echo_pps_ipv4: m("ipv4"),
      echo_pps_ipv6: m("ipv6"),
      echo_pps_ipv6_link_local: m("ipv6_link_local"),
      ipv6_over_ipv4: ratio,
    },
    lines: [
      `echo pps through one lab, window ${o.window}, 64-byte payloads, ${o.seconds} s x ${o.runs} runs (medians):`,
      ...TARGETS.map(
        (t) => `  ${t.padEnd(16)} ${Math.round(m(t))} (runs: ${(pps.get(t) ?? []).map(Math.round).join(", ")})`,
      ),
      `  ipv6 / ipv4: ${ratio.toFixed(2)}x (target >= 0.9x)`,
    ],
  };
};
