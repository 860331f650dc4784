// `npm run bench -- capture`: what an attached capture that matches nothing costs the echo path.
// One `tilenet run --lab` instance; the C load generator (bench/c/echo_load.c) in the peer
// namespace keeps `window` datagrams in flight for `seconds`, alternately with no dump attached
// and with `tilenet dump --port 1` attached (a filter no frame matches: the net tile reads the
// filter once per batch and tests every frame against it, copying none). The order rotates per
// run; figures are medians. Detached, the tile's cost is one load per batch (not measured apart:
// it is the baseline). Everything the run makes is removed at the end, also on failure.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allRunning, findRoot, sleep, startLab } from "./lab-instance";
import type { Bench } from "./types";

interface Options {
  seconds: number;
  runs: number;
  window: number;
}

const ECHO_PORT = 7000;

function parseOptions(args: string[]): Options {
  const o: Options = { seconds: 3, runs: 3, window: 256 };
  for (let i = 0; i < args.length; i += 2) {
    const key = (args[i] ?? "").replace(/^--/, "") as keyof Options;
    const v = Number(args[i + 1]);
    if (!(key in o) || !Number.isInteger(v) || v < 1 || v > 4096)
      throw new Error(`capture bench: options --seconds N --runs N --window N (got ${args[i]} ${args[i + 1]})`);
    o[key] = v;
  }
  if (o.seconds > 30 || o.runs > 10) throw new Error("capture bench: at most 30 seconds and 10 runs");
  return o;
}

/** Starts the lab; resolves with its peer namespace and the tile's address once all tiles run. */
function startCaptureLab(cli: string, instance: string, budgetS: number, cleanups: (() => Promise<void>)[]) {
  type S = { lab?: { peerNetns: string; tileAddr: string }; tiles: { state: string }[] };
  return startLab(cli, instance, [], budgetS, cleanups, (s: S) =>
    s.lab && allRunning(s) ? { peerNs: s.lab.peerNetns, tileIp: s.lab.tileAddr.split("/")[0] ?? "" } : undefined,
  );
}

/** A dump that matches nothing, attached until stopped; resolves once it is capturing. */
async function attachIdleDump(cli: string, instance: string, seconds: number): Promise<ChildProcess> {
  const dump = spawn(
    process.execPath,
    [cli, "dump", "--instance", instance, "--port", "1", "--seconds", String(seconds), "-w", "/dev/null"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let text = "";
  dump.stderr?.on("data", (d: Buffer) => {
    text += d.toString();
  });
  for (const deadline = Date.now() + 10_000; !text.includes("capturing on"); await sleep(20))
    if (Date.now() > deadline || dump.exitCode !== null) throw new Error(`capture bench: dump did not attach: ${text}`);
  return dump;
}

export const captureBench: Bench = async (args) => {
  const o = parseOptions(args);
  if (process.getuid?.() !== 0) throw new Error("capture bench: must run as root (namespaces, XDP)");
  const root = findRoot("capture");
  const cli = join(root, "dist", "cli.js");
  const cleanups: (() => Promise<void>)[] = [];
  const pps: Record<"detached" | "attached", number[]> = { detached: [], attached: [] };
  try {
    const bin = mkdtempSync(join(tmpdir(), "tn-bench-capture-"));
    cleanups.push(async () => rmSync(bin, { recursive: true, force: true }));
    const load = join(bin, "echo_load");
    execFileSync("cc", ["-O2", "-o", load, join(root, "bench", "c", "echo_load.c")], { stdio: "inherit" });
    const instance = `benchcap${process.pid}`.slice(0, 24);
    const lab = await startCaptureLab(cli, instance, o.runs * 2 * (o.seconds + 3) + 60, cleanups);
    const run = (seconds: number, window: number): number => {
      const argv = [
        "netns",
        "exec",
        lab.peerNs,
        load,
        lab.tileIp,
        String(ECHO_PORT),
        String(seconds),
        "0.5",
        "20000000",
        "64",
        String(window),
        "32",
      ];
      const out = execFileSync("ip", argv, { encoding: "utf8", timeout: (seconds + 10) * 1000 });
      return (JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as { pps: number }).pps;
    };
    run(1, 8); // neighbors resolved, JIT warm
    for (let r = 0; r < o.runs; r++) {
      for (const which of r % 2 === 0 ? (["detached", "attached"] as const) : (["attached", "detached"] as const)) {
        const dump = which === "attached" ? await attachIdleDump(cli, instance, o.seconds + 10) : undefined;
        try {
          pps[which].push(run(o.seconds, o.window));
        } finally {
          dump?.kill("SIGINT");
          if (dump) await new Promise((res) => dump.once("exit", res));
        }
      }
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
  const detached = median(pps.detached);
  const attached = median(pps.attached);
  return {
    figures: {
      echo_pps_detached: detached,
      echo_pps_attached_no_match: attached,
      attached_over_detached: attached / detached,
    },
    lines: [
      `echo pps, window ${o.window}, ${o.seconds} s x ${o.runs} runs (medians):`,
      `  no dump attached:                 ${Math.round(detached)} (runs: ${pps.detached.map(Math.round).join(", ")})`,
      `  dump --port 1 attached (no match): ${Math.round(attached)} (runs: ${pps.attached.map(Math.round).join(", ")})`,
      `  attached / detached: ${(attached / detached).toFixed(3)}`,
    ],
  };
};
