// Runs the real `tilenet` CLI (dist/cli.js) as a child, the way an operator does, and inspects
// what it leaves on the machine. Integration tests need root (namespaces, XDP, uid switches).
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { type InstanceProcess, startInstanceProcess } from "../../launcher/lab-process";

export const CLI = join(__dirname, "..", "..", "dist", "cli.js");
export { isRoot, ROOT_REASON } from "./root";

export function uniqueInstance(tag: string): string {
  return `t${tag}-${randomBytes(3).toString("hex")}`;
}

export type RunningInstance = InstanceProcess;

/** Starts `tilenet run` and resolves once it logs that every tile runs (or rejects with its logs). */
export function startInstance(
  name: string,
  extra: string[] = ["--lab"],
  timeoutMs = 30_000,
  env: Record<string, string> = {},
): Promise<RunningInstance> {
  return startInstanceProcess(CLI, name, extra, timeoutMs, env);
}

export function cli(args: string[], timeoutMs = 30_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface StatusJson {
  instance: string;
  launcherPid: number;
  tiles: {
    name: string;
    kind: string;
    pid: number;
    state: string;
    heartbeatAgeMs: number | null;
    sandbox: {
      seccomp: number;
      noNewPrivs: number;
      uid: { real: number; effective: number };
      gid: { real: number; effective: number };
      capEff: string;
      capPrm: string;
      capBnd: string;
      capInh: string;
      capAmb: string;
      threads: number;
      fds: { fd: number; target: string }[];
    } | null;
    pidNamespace: { id: string; own: boolean; nsPid: number } | null;
    metrics: Record<string, number>;
    restarts: number;
    logLinesDropped: number;
    lastExit?: string;
    down?: boolean;
    problems: string[];
  }[];
  lab?: { tileNetns: string; peerNetns: string; tileAddr: string; peerAddr: string; ports: number[] };
  /** The net tile's data plane and why ([net] provider). */
  netProvider?: { provider: string; configured: string; reason: string };
  xdp?: { interface: string; mode: string };
  launcher: {
    pid: number;
    keeperPid: number | null;
    dropped: { uid: number; gid: number; seccompPolicy: string; syscallsDenied: number } | null;
    sandbox: { seccomp: number; noNewPrivs: number; capEff: string; capPrm: string; uid: { effective: number } } | null;
    sandboxed: boolean;
    problems: string[];
  };
}

export function status(name: string): { code: number | null; report: StatusJson } {
  const r = cli(["status", "--instance", name, "--json"]);
  if (!r.stdout.trim().startsWith("{")) throw new Error(`status printed no JSON (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout) as StatusJson };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return (
      existsSync(`/proc/${pid}`) &&
      !/^State:\s+Z/m.test(execFileSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" }))
    );
  } catch {
    return false;
  }
}

/** Everything an instance may leave behind; empty means clean. */
export function leftovers(name: string, pids: number[]): string[] {
  const out: string[] = [];
  const root = process.env.TILENET_RUN_ROOT || "/run/tilenet";
  if (existsSync(`${root}/${name}`)) out.push(`run dir ${root}/${name}`);
  if (existsSync(`${root}/.rt-${name}`)) out.push(`runtime dir ${root}/.rt-${name}`);
  for (const ns of existsSync("/run/netns") ? readdirSync("/run/netns") : [])
    if (ns.startsWith(`tn-${name}-`)) out.push(`netns ${ns}`);
  if (existsSync(`${root}/.teardown/${name}.json`)) out.push(`teardown record ${root}/.teardown/${name}.json`);
  for (const lock of existsSync(`${root}/.ids`) ? readdirSync(`${root}/.ids`) : []) {
    const holder = readFileSync(`${root}/.ids/${lock}`, "utf8");
    if (holder.includes(`"instance":"${name}"`)) out.push(`id lock ${root}/.ids/${lock}`);
  }
  for (const pid of pids) if (pidAlive(pid)) out.push(`process ${pid}`);
  for (const f of existsSync("/dev/shm") ? readdirSync("/dev/shm") : [])
    if (f.includes(name)) out.push(`/dev/shm/${f}`);
  return out;
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Last resort for a failed test: kill the launcher and reclaim what it left. */
export async function forceCleanup(inst: RunningInstance | undefined): Promise<void> {
  if (!inst) return;
  if (inst.child.exitCode === null && inst.child.signalCode === null) {
    inst.child.kill("SIGKILL");
    await inst.exit;
  }
  // Only when this instance left something: `cleanup` reclaims every dead instance, and one run
  // from here would race a concurrent test that checks what `cleanup` reclaims for its own.
  if (leftovers(inst.name, []).length > 0) cli(["cleanup"]);
}

/** A loopback TCP port for a test's metrics listener: below the kernel's ephemeral range
 *  (32768-60999), so no outgoing connection holds it, and free when this returns. */
export async function freeMetricsPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free loopback port in 20000-31999 after 20 tries");
}
