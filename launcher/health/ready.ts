// `tilenet ready`: for scripts (ExecStartPost=, CI, a deploy step), waits until the instance has
// run every tile (the manifest's readyAt, written where systemd gets READY=1) and `status` finds
// every tile healthy. Exit 0 then; at the deadline 1 when the instance runs but is not healthy,
// 3 when no such instance runs.
import { type CliError, ExitCode, NotRunningError } from "../errors";
import { RUN_ROOT } from "../manifest";
import { collectStatus, loadManifest, problemLines, statusExitCode } from "./status";

export interface ReadyOptions {
  instance?: string;
  timeoutMs: number;
  runRoot?: string;
  /** Between two looks (default 100 ms). */
  pollMs?: number;
}

export interface ReadyAnswer {
  code: number;
  /** Why it is not ready (the last look's problems); empty when ready. */
  reasons: string[];
}

/** One look: ready (0), running but not ready (1), or not running (3). */
export function readyOnce(instance: string | undefined, runRoot: string): ReadyAnswer {
  let manifest: ReturnType<typeof loadManifest>;
  try {
    manifest = loadManifest(instance, runRoot);
  } catch (e) {
    if (e instanceof NotRunningError) return { code: ExitCode.notRunning, reasons: [e.message] };
    throw e;
  }
  if (!manifest.readyAt)
    return { code: ExitCode.unhealthy, reasons: [`instance ${manifest.instance} is starting its tiles`] };
  const report = collectStatus(manifest);
  if (statusExitCode(report) === 0) return { code: ExitCode.ok, reasons: [] };
  return {
    code: ExitCode.unhealthy,
    reasons: problemLines(report),
  };
}

/** Looks until ready or the deadline; usage and permission errors are thrown at once. */
export async function waitReady(opts: ReadyOptions): Promise<ReadyAnswer> {
  const deadline = Date.now() + opts.timeoutMs;
  const runRoot = opts.runRoot ?? RUN_ROOT;
  for (;;) {
    let answer: ReadyAnswer;
    try {
      answer = readyOnce(opts.instance, runRoot);
    } catch (e) {
      // A manifest being renamed over, or a launcher that just exited: look again.
      if ((e as CliError).exitCode !== undefined) throw e;
      answer = { code: ExitCode.unhealthy, reasons: [(e as Error).message] };
    }
    if (answer.code === ExitCode.ok || Date.now() >= deadline) return answer;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
  }
}
