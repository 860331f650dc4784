// Command-line parsing: `tilenet <command> [positionals] [--flag] [--option value]`.
// Unknown options are errors (exit 2), never silently ignored.

export class UsageError extends Error {}

export interface ParsedArgs {
  command: string;
  positionals: string[];
  flags: Set<string>;
  options: Map<string, string>;
}

export function parseArgs(argv: string[], spec: { flags: string[]; options: string[] }): ParsedArgs {
  const [command = "help", ...rest] = argv;
  const out: ParsedArgs = { command, positionals: [], flags: new Set(), options: new Map() };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] ?? "";
    if (!a.startsWith("--")) {
      out.positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (spec.flags.includes(name)) {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      out.flags.add(name);
    } else if (spec.options.includes(name)) {
      const value = eq > 0 ? a.slice(eq + 1) : rest[++i];
      if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
      out.options.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name} for \`tilenet ${command}\``);
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
