// Every command's output survives real pipes: a reader that starts late gets the whole document
// (netbase show --json with 100,000 routes, status --json), a reader that leaves early (`| head`)
// ends the output without a crash, and a launcher whose stdout reader has gone still stops
// cleanly on SIGINT, leaving nothing behind.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLI,
  cli,
  forceCleanup,
  isRoot,
  leftovers,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
  waitFor,
} from "./support/launcher-harness";
import { ipBatch } from "./support/netlink-netns";

const ROUTES = 100_000;

/** Runs `tilenet args | reader` through bash; returns tilenet's exit code, its stderr and what
 *  the reader wrote to a file. */
function piped(args: string[], reader: string): { code: number; stderr: string; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "tn-pipes-"));
  try {
    const quoted = args.map((a) => `'${a}'`).join(" ");
    const script = `'${process.execPath}' '${CLI}' ${quoted} 2>'${dir}/err' | ${reader} >'${dir}/out'; echo \${PIPESTATUS[0]} >'${dir}/code'`;
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8", timeout: 120_000 });
    if (r.status !== 0) throw new Error(`bash failed: ${r.stderr}`);
    return {
      code: Number(readFileSync(join(dir, "code"), "utf8")),
      stderr: readFileSync(join(dir, "err"), "utf8"),
      output: readFileSync(join(dir, "out"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Route lines for `ip -batch`: /32s in 198.19.0.0/16, then from 198.18.64.0 up, via the lab peer. */
function routeLines(count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const [b, c] = i < 65536 ? [19, i] : [18, 16384 + (i - 65536)];
    lines.push(`route add 198.${b}.${c >> 8}.${c & 255}/32 via 198.18.0.2`);
  }
  return lines;
}

describe.skipIf(!isRoot)(`output through pipes (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  let dir = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tn-pipes-cfg-"));
    writeFileSync(join(dir, "big.toml"), "[netbase]\nroutes = 131072\n");
    name = uniqueInstance("pipe");
    inst = await startInstance(name, ["--lab", "--config", join(dir, "big.toml")]);
    ipBatch(`tn-${name}-tile`, routeLines(ROUTES));
    await waitFor(
      () => (status(name).report.tiles.find((t) => t.name === "netlink")?.metrics.routes ?? 0) >= ROUTES,
      60_000,
      `${ROUTES} routes in netbase`,
    );
  }, 120_000);
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
    rmSync(dir, { recursive: true, force: true });
  });

  it("netbase show --json with 100,000 routes reaches a reader that starts late, complete", () => {
    const r = piped(["netbase", "show", "--json", "--instance", name], "(sleep 1; cat)");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.output.length).toBeGreaterThan(1 << 20);
    const doc = JSON.parse(r.output) as { routes: unknown[] };
    expect(doc.routes.length).toBeGreaterThanOrEqual(ROUTES);
  }, 120_000);

  it("status --json reaches a slow reader complete", () => {
    const r = piped(["status", "--json", "--instance", name], "(sleep 0.5; cat)");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.output) as { instance: string }).instance).toBe(name);
  });

  it("a reader that leaves early (| head -c 100) ends the output, not with a crash", () => {
    for (const args of [
      ["netbase", "show", "--json", "--instance", name],
      ["netbase", "show", "--instance", name],
    ]) {
      const r = piped(args, "head -c 100");
      expect(r.output.length).toBe(100);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
  }, 60_000);
});

describe.skipIf(!isRoot)(`a launcher whose stdout reader has gone (${ROOT_REASON})`, () => {
  it("run --lab | head -1: keeps running, then stops cleanly on SIGINT and leaves nothing behind", async () => {
    const name = uniqueInstance("epipe");
    const child = spawn(process.execPath, [CLI, "run", "--lab", "--instance", name], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    try {
      // Read the first line, then close the pipe as `head -1` does: every later line is an EPIPE.
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      child.stdout.destroy();
      await waitFor(() => cli(["status", "--instance", name]).code === 0, 30_000, "a healthy instance");
      const pids = status(name).report.tiles.map((t) => t.pid);
      expect(child.exitCode).toBeNull();
      child.kill("SIGINT");
      const { code, signal } = await exit;
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: "" });
      expect(leftovers(name, [...pids, child.pid ?? 0])).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exit;
      }
      cli(["cleanup"]);
    }
  }, 60_000);
});
