// What the benches that measure through `tilenet run --lab` share: finding the checkout, reading
// `status --json`, and starting an instance that is stopped by the bench's cleanups.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The checkout's root: where bench/c/echo_load.c is (the benches compile it). */
export function findRoot(bench: string): string {
  for (let dir = dirname(process.argv[1] ?? __dirname), i = 0; i < 5; i++, dir = dirname(dir))
    if (existsSync(join(dir, "bench", "c", "echo_load.c"))) return dir;
  throw new Error(`${bench} bench: cannot find bench/c/echo_load.c`);
}

/** `tilenet status --json` of the instance (also when it exits 1: still booting), or undefined. */
export function statusOf<T>(cli: string, instance: string): T | undefined {
  try {
    return JSON.parse(
      execFileSync(process.execPath, [cli, "status", "--instance", instance, "--json"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }),
    ) as T;
  } catch (e) {
    const out = (e as { stdout?: string }).stdout;
    return out?.startsWith("{") ? (JSON.parse(out) as T) : undefined;
  }
}

/** Starts `tilenet run --lab` with `args` for at most budgetS seconds (stopped by the cleanups)
 *  and polls its status until `ready` gives an answer (30 s at most). */
export async function startLab<S, T>(
  cli: string,
  instance: string,
  args: string[],
  budgetS: number,
  cleanups: (() => Promise<void>)[],
  ready: (status: S) => T | undefined,
): Promise<T> {
  const argv = [cli, "run", "--lab", ...args, "--instance", instance, "--duration", String(budgetS)];
  const child = spawn(process.execPath, argv, { stdio: "ignore" });
  const exited = new Promise((r) => child.once("exit", r));
  cleanups.push(async () => {
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    child.kill("SIGKILL");
  });
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(200)) {
    const s = statusOf<S>(cli, instance);
    const answer = s === undefined ? undefined : ready(s);
    if (answer !== undefined) return answer;
  }
  throw new Error(`the lab ${instance} did not come up within 30 s`);
}

/** Every tile reports running. */
export function allRunning(s: { tiles: { state: string }[] }): boolean {
  return s.tiles.length > 0 && s.tiles.every((t) => t.state === "running");
}
