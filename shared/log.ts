// Structured logs: pino JSON lines carrying the tile name and pid. Tiles write synchronously to
// fd 1 (a pipe to the launcher, which prettifies on a TTY); nothing here needs a worker thread.
import pino from "pino";

export type Logger = pino.Logger;

export function createLogger(tile: string, level: string, fd = 1): Logger {
  const destination = pino.destination({ fd, sync: true });
  // pino's fatal() calls flushSync(), which ends in fsync(fd): a syscall no tile's seccomp filter
  // allows, so a tile's last words killed it with SIGSYS. Writes are synchronous: nothing to flush.
  destination.flushSync = () => {};
  return pino({ level, base: { tile, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const COLORS: Record<number, string> = { 10: "90", 20: "36", 30: "32", 40: "33", 50: "31", 60: "35" };

/** One JSON log line as a human line (for a TTY); non-JSON input is returned as is. */
export function prettyLine(line: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof rec !== "object" || rec === null) return line;
  const { level, time, tile, pid, msg, hostname: _h, ...rest } = rec;
  const lv = typeof level === "number" ? level : 30;
  const name = LEVELS[lv] ?? String(level);
  const t = typeof time === "string" ? time.slice(11, 23) : "";
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  const lvText = color ? `\x1b[${COLORS[lv] ?? "0"}m${name.padEnd(5)}\x1b[0m` : name.padEnd(5);
  return `${t} ${lvText} [${String(tile ?? "?")}:${String(pid ?? "?")}] ${String(msg ?? "")}${extra ? ` ${extra}` : ""}`;
}
