// Exit codes of every `tilenet` command (documented in the README), and the errors that carry them.

export const ExitCode = {
  ok: 0,
  /** A tile is unhealthy, verification found differences, or the command failed otherwise. */
  unhealthy: 1,
  /** Bad command line or configuration. */
  usage: 2,
  /** No such instance is running. */
  notRunning: 3,
  /** The caller lacks the privilege (most commands read root-only state). */
  permission: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error with the exit code it means and a short kind for `--json` errors. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    readonly kind: string,
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.usage, "usage");
  }
}

export class NotRunningError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.notRunning, "not-running");
  }
}

export class PermissionError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.permission, "permission");
  }
}

/** EACCES/EPERM from the file system or a syscall, as a PermissionError naming what was refused. */
export function asPermissionError(e: unknown, what: string): PermissionError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code !== "EACCES" && code !== "EPERM") return undefined;
  return new PermissionError(`${what}: permission denied (run as root)`);
}
