// How every `tilenet` command writes: to process.stdout, which is asynchronous on a pipe, so the
// process must not exit before what it wrote has reached the reader (`| jq` would get a cut
// document), and a reader that leaves early (`| head`) must end the output, not the process.

interface Guarded {
  gone: boolean;
}

const state = new Map<NodeJS.WriteStream, Guarded>();

function guard(stream: NodeJS.WriteStream): Guarded {
  let g = state.get(stream);
  if (!g) {
    const made: Guarded = { gone: false };
    // EPIPE (the reader closed) or any other write error: stop writing there, keep running.
    stream.on("error", () => {
      made.gone = true;
    });
    state.set(stream, made);
    g = made;
  }
  return g;
}

/** Installs the error guards on stdout and stderr (call first thing). */
export function guardStdio(): void {
  guard(process.stdout);
  guard(process.stderr);
}

/** True once stdout's reader has gone away. */
export function stdoutGone(): boolean {
  return guard(process.stdout).gone || process.stdout.destroyed;
}

/** Calls onGone once stdout's reader has gone (a monitor stops then). */
export function onStdoutGone(onGone: () => void): void {
  if (stdoutGone()) {
    onGone();
    return;
  }
  process.stdout.once("error", onGone);
}

export function out(text: string): void {
  if (!stdoutGone()) process.stdout.write(text);
}

export function err(text: string): void {
  if (!(guard(process.stderr).gone || process.stderr.destroyed)) process.stderr.write(text);
}

async function drain(stream: NodeJS.WriteStream): Promise<void> {
  const g = guard(stream);
  while (!g.gone && !stream.destroyed && stream.writableLength > 0) await new Promise((r) => setTimeout(r, 5));
}

/** Resolves once stdout and stderr handed everything to their readers (or the readers left). */
export async function drainStdio(): Promise<void> {
  await drain(process.stdout);
  await drain(process.stderr);
}
