// Runs `tilenet run` as a child process and waits until every tile runs: what benchmarks, the
// live fuzz and integration tests do to get a real instance, exactly as an operator starts one.
import { type ChildProcess, spawn } from "node:child_process";

export interface InstanceProcess {
  name: string;
  child: ChildProcess;
  /** Every line the launcher printed so far. */
  logs: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node <cli> run --instance <name> <args>`; rejects with the logs if it exits or times out first. */
export async function startInstanceProcess(
  cli: string,
  name: string,
  args: string[],
  timeoutMs = 30_000,
  /** Added to the launcher's environment (e.g. NOTIFY_SOCKET, as systemd sets it). */
  env: Record<string, string> = {},
): Promise<InstanceProcess> {
  const child = spawn(process.execPath, [cli, "run", "--instance", name, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const logs: string[] = [];
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  let partial = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`instance ${name} not ready in ${timeoutMs} ms:\n${logs.join("\n")}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      partial += chunk.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        logs.push(line);
        if (line.includes("all tiles running")) {
          clearTimeout(timer);
          resolve();
        }
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`instance ${name} exited (${code ?? signal}) before every tile ran:\n${logs.join("\n")}`));
    });
  });
  return { name, child, logs, exit };
}

/** SIGTERM, then the launcher's exit code. */
export async function stopInstanceProcess(p: InstanceProcess): Promise<number | null> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
  return (await p.exit).code;
}
