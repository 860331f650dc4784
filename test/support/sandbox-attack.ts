// Real processes for the isolation attack tests: a victim started exactly as the launcher starts
// a tile (tilenet-exec, a uid of its own, optionally its own PID namespace) that waits, and an
// attacker that runs a Node script as another unprivileged process.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { execHelperArgs, type Namespace } from "../../launcher/exec-args";
import { EXEC_HELPER } from "./seccomp-helpers";

export interface Victim {
  /** tilenet-exec (the tile itself, or its PID namespace's waiter). */
  child: ChildProcess;
  /** The Node process as the host numbers it. */
  hostPid: number;
  /** process.pid as the victim saw it at its first instruction. */
  ownPid: number;
}

/** Starts `program -e` as uid/gid through tilenet-exec; its first statement reports its pids. */
export async function startVictim(program: string, id: number, unshare: Namespace[] = []): Promise<Victim> {
  const script =
    'const st = require("node:fs").readFileSync("/proc/self/status", "utf8");' +
    'process.stdout.write(JSON.stringify({ ownPid: process.pid, nsPid: st.match(/^NSpid:\\s+(\\d+)/m)[1] }) + "\\n");' +
    "setInterval(() => {}, 1000);";
  const args = execHelperArgs({
    uid: id,
    gid: id,
    keepFds: [0, 1, 2],
    unshare,
    program,
    programArgs: ["-e", script],
  });
  const child = spawn(EXEC_HELPER, args, { stdio: ["ignore", "pipe", "pipe"], env: {}, cwd: "/" });
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(out.split("\n")[0] ?? "");
    });
    child.once("exit", (code) => reject(new Error(`victim exited with ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`victim silent for 10 s: ${err}`)), 10_000);
  });
  const { ownPid, nsPid } = JSON.parse(line) as { ownPid: number; nsPid: string };
  return { child, hostPid: Number(nsPid), ownPid };
}

export async function stopVictim(v: Victim | undefined): Promise<void> {
  if (!v || v.child.exitCode !== null || v.child.signalCode !== null) return;
  const exited = new Promise((r) => v.child.once("exit", r));
  v.child.kill("SIGKILL");
  await exited;
}

/** Runs a Node script as uid/gid (through tilenet-exec, no namespaces); its stdout, trimmed. */
export function runAttacker(id: number, script: string): string {
  const args = execHelperArgs({
    uid: id,
    gid: id,
    keepFds: [0, 1, 2],
    unshare: [],
    program: process.execPath,
    programArgs: ["-e", script],
  });
  const r = spawnSync(EXEC_HELPER, args, { encoding: "utf8", env: {}, cwd: "/", timeout: 20_000 });
  if (r.status !== 0) throw new Error(`attacker exited with ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}
