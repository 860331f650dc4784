// Structured logs: pino JSON lines carrying the tile name and pid. Tiles write synchronously to
// fd 1 (a pipe to the launcher). The launcher's own lines and the tile lines it relays go through
// one LogOutput: human lines on a terminal, JSON lines otherwise, and never a crash or a stall
// because of whoever reads its stdout (a closed pipe, a slow `tee`).
import pino from "pino";

export type Logger = pino.Logger;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A tile's logger: synchronous writes to fd (default 1). */
export function createLogger(tile: string, level: string, fd = 1): Logger {
  const destination = pino.destination({ fd, sync: true });
  // pino's fatal() calls flushSync(), which ends in fsync(fd): a syscall no tile's seccomp filter
  // allows, so a tile's last words killed it with SIGSYS. Writes are synchronous: nothing to flush.
  destination.flushSync = () => {};
  return pino({ level, base: { tile, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const COLORS: Record<number, string> = { 10: "90", 20: "36", 30: "32", 40: "33", 50: "31", 60: "35" };

/** key=value words; nested objects as dotted keys, arrays comma-joined. */
function flatten(rec: Record<string, unknown>, prefix: string): string[] {
  const words: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    const key = `${prefix}${k}`;
    if (typeof v === "object" && v !== null && !Array.isArray(v))
      words.push(...flatten(v as Record<string, unknown>, `${key}.`));
    else if (Array.isArray(v))
      words.push(`${key}=${v.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(",")}`);
    else words.push(`${key}=${typeof v === "string" ? v : String(v)}`);
  }
  return words;
}

/** One JSON log line as a human line (for a TTY); non-JSON input is returned as is. */
export function prettyLine(line: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof rec !== "object" || rec === null || Array.isArray(rec)) return line;
  const { level, time, tile, pid, msg, hostname: _h, ...rest } = rec;
  const lv = typeof level === "number" ? level : 30;
  const name = LEVELS[lv] ?? String(level);
  const t = typeof time === "string" ? time.slice(11, 23) : "";
  const extra = flatten(rest, "").join(" ");
  const lvText = color ? `\x1b[${COLORS[lv] ?? "0"}m${name.padEnd(5)}\x1b[0m` : name.padEnd(5);
  return `${t} ${lvText} [${String(tile ?? "?")}:${String(pid ?? "?")}] ${String(msg ?? "")}${extra ? ` ${extra}` : ""}`;
}

/** Past this many bytes queued for a reader that does not keep up, lines are dropped (and
 *  counted) rather than letting the launcher's memory grow or its supervision wait. */
const MAX_QUEUED_BYTES = 8 << 20;

export interface LogStream {
  write(chunk: string): boolean;
  on(event: "error", listener: (err: Error) => void): unknown;
  readonly writableLength: number;
  readonly isTTY?: boolean;
  readonly destroyed?: boolean;
}

/** The launcher's log output (its stdout). */
export class LogOutput {
  private gone = false;
  private dropped = 0;

  constructor(
    private readonly stream: LogStream,
    /** Human lines (a terminal) rather than JSON. */
    readonly pretty: boolean = stream.isTTY === true,
    private readonly color: boolean = pretty && process.env.NO_COLOR === undefined,
    private readonly maxQueuedBytes: number = MAX_QUEUED_BYTES,
  ) {
    // EPIPE (the reader went away) and every other write error end output, never the launcher.
    stream.on("error", () => {
      this.gone = true;
    });
  }

  /** True once the reader has gone: nothing more is written. */
  get readerGone(): boolean {
    return this.gone || this.stream.destroyed === true;
  }

  get droppedLines(): number {
    return this.dropped;
  }

  /** One JSON record (a pino line, with or without its newline). */
  record(json: string): void {
    const line = json.endsWith("\n") ? json.slice(0, -1) : json;
    this.emit(this.pretty ? prettyLine(line, this.color) : line);
  }

  /** A line a tile printed: its JSON records pass through, anything else becomes one. */
  relay(tile: string, line: string): void {
    if (line.startsWith("{")) {
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
          this.record(line);
          return;
        }
      } catch {
        // not JSON: wrapped below
      }
    }
    this.record(JSON.stringify({ level: 30, time: new Date().toISOString(), tile, msg: line }));
  }

  private emit(line: string): void {
    if (this.readerGone) return;
    if (this.stream.writableLength > this.maxQueuedBytes) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      const note = JSON.stringify({
        level: 40,
        time: new Date().toISOString(),
        tile: "launcher",
        pid: process.pid,
        msg: `${this.dropped} log lines dropped: the reader of stdout did not keep up`,
      });
      this.dropped = 0;
      this.stream.write(`${this.pretty ? prettyLine(note, this.color) : note}\n`);
    }
    this.stream.write(`${line}\n`);
  }

  /** Resolves once everything queued reached the reader (or the reader has gone). */
  async flush(): Promise<void> {
    while (!this.readerGone && this.stream.writableLength > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** A pino destination writing through this output. */
  destination(): { write(s: string): void } {
    return { write: (s: string) => this.record(s) };
  }
}

/** The launcher's logger: base `tile: "launcher"` and its pid, through a LogOutput. Lines about
 *  a tile name it with `child` and `childPid` (never a second `tile` or `pid` key). */
export function createLauncherLogger(level: string, out: LogOutput): Logger {
  return pino(
    { level, base: { tile: "launcher", pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    out.destination(),
  );
}

let stdoutOutput: LogOutput | undefined;

/** The process's stdout as a LogOutput (one per process, made on first use). */
export function stdoutLogOutput(): LogOutput {
  stdoutOutput ??= new LogOutput(process.stdout);
  return stdoutOutput;
}
