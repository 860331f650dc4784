// Tile output, re-wrapped: a tile writes JSON log lines to its stdout/stderr pipes, and nothing in
// them is trusted. Each line must be one JSON object no longer than MAX_TILE_LINE_BYTES; its `tile`
// and `pid` become the tile's real name and pid (a tile cannot speak as the launcher or as another
// tile), `level` must be a pino level number and `msg` a string; anything else is dropped and
// counted. The result has no duplicate keys (it is re-serialised from one parsed object).

export const MAX_TILE_LINE_BYTES = 16 * 1024;
const LEVELS = new Set([10, 20, 30, 40, 50, 60]);

/** The line as the launcher prints it, or undefined when it must be dropped. */
export function rewrapTileLine(tile: string, pid: number, line: string): string | undefined {
  if (line.length > MAX_TILE_LINE_BYTES || !line.startsWith("{")) return undefined;
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof rec !== "object" || rec === null || Array.isArray(rec)) return undefined;
  const { level, time, msg, tile: _claimedTile, pid: _claimedPid, ...rest } = rec as Record<string, unknown>;
  if (typeof level !== "number" || !LEVELS.has(level)) return undefined;
  if (msg !== undefined && typeof msg !== "string") return undefined;
  return JSON.stringify({ level, ...(typeof time === "string" ? { time } : {}), tile, pid, ...rest, msg: msg ?? "" });
}

/** Counts what was dropped, per tile. */
export class LogRelay {
  readonly dropped = new Map<string, number>();
  constructor(private readonly write: (line: string) => void) {}

  relay(tile: string, pid: number, line: string): void {
    const out = rewrapTileLine(tile, pid, line);
    if (out === undefined) {
      this.dropped.set(tile, (this.dropped.get(tile) ?? 0) + 1);
      return;
    }
    this.write(out);
  }
}
