// What every benchmark returns: figures for --json, and lines for people.
export interface BenchResult {
  /** Flat figures, printed as one JSON object with --json. */
  figures: Record<string, number>;
  /** Human-readable report (medians, ratios against the in-run baseline, targets). */
  lines: string[];
}

export type Bench = (args: string[]) => Promise<BenchResult>;
