// Command-line parsing and help: `tilenet <command> [positionals] [--flag] [--option value]`.
// Each command declares its flags and options with one line of help; `tilenet help CMD` and
// `CMD --help` print it. Unknown options are errors (exit 2) with a suggestion, never ignored.
import { UsageError } from "./errors";

export { UsageError } from "./errors";

export interface ParsedArgs {
  command: string;
  positionals: string[];
  flags: Set<string>;
  options: Map<string, string>;
}

export interface ArgSpec {
  /** Flag name -> help. */
  flags: Record<string, string>;
  /** Option name -> [value placeholder, help]. */
  options: Record<string, readonly [string, string]>;
}

export interface CommandHelp extends ArgSpec {
  /** One line for the command list. */
  summary: string;
  /** Positionals as shown in the usage line, e.g. "show|verify". */
  positionals?: string;
  /** More text after the usage line (exit codes, examples). */
  details?: string;
}

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment):
 *  small inputs only (option and key names). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The closest candidate: within about a third of the word's length in edits, or one of the
 *  two a prefix of the other ("warning" -> "warn"); undefined when nothing is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const allowed = Math.max(2, Math.ceil(word.length / 3));
  for (const c of candidates) {
    const d = editDistance(word, c);
    const prefix = Math.min(word.length, c.length) >= 3 && (c.startsWith(word) || word.startsWith(c));
    if ((d <= allowed || prefix) && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

export function suggestion(word: string, candidates: Iterable<string>, prefix = ""): string {
  const s = didYouMean(word, candidates);
  return s === undefined ? "" : ` (did you mean ${prefix}${s}?)`;
}

export function parseArgs(argv: string[], spec: ArgSpec): ParsedArgs {
  const [command = "help", ...rest] = argv;
  const out: ParsedArgs = { command, positionals: [], flags: new Set(), options: new Map() };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] ?? "";
    if (a === "--") {
      out.positionals.push(...rest.slice(i + 1));
      break;
    }
    if (a === "-h") {
      out.flags.add("help");
      continue;
    }
    if (!a.startsWith("--")) {
      out.positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (name === "help" || name in spec.flags) {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      out.flags.add(name);
    } else if (name in spec.options) {
      const value = eq > 0 ? a.slice(eq + 1) : rest[++i];
      if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
      out.options.set(name, value);
    } else {
      const known = [...Object.keys(spec.flags), ...Object.keys(spec.options), "help"];
      throw new UsageError(`unknown option --${name} for \`tilenet ${command}\`${suggestion(name, known, "--")}`);
    }
  }
  return out;
}

export function intOption(args: ParsedArgs, name: string, fallback: number, min: number, max: number): number {
  const v = args.options.get(name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got "${v}")`);
  return Number(v);
}

/** `tilenet CMD [--flag] [--option VALUE] POSITIONALS`, then one line per flag and option. */
export function renderCommandHelp(name: string, help: CommandHelp): string {
  const usage = [`tilenet ${name}`];
  if (help.positionals) usage.push(help.positionals);
  for (const [opt, [value]] of Object.entries(help.options)) usage.push(`[--${opt} ${value}]`);
  for (const flag of Object.keys(help.flags)) usage.push(`[--${flag}]`);
  const rows: [string, string][] = [
    ...Object.entries(help.options).map(([opt, [value, text]]): [string, string] => [`--${opt} ${value}`, text]),
    ...Object.entries(help.flags).map(([flag, text]): [string, string] => [`--${flag}`, text]),
    ["-h, --help", "this help"],
  ];
  const width = Math.max(...rows.map(([left]) => left.length));
  const lines = [`usage: ${usage.join(" ")}`, "", help.summary, "", "options:"];
  for (const [left, text] of rows) lines.push(`  ${left.padEnd(width)}  ${text}`);
  if (help.details) lines.push("", help.details);
  return `${lines.join("\n")}\n`;
}
