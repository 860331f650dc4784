// Reading a parsed TOML document: typed values out of one table with the key path in every error,
// unknown keys refused (with the closest known one suggested). The schema itself is config.ts's.
import { checkSetting, type SettingSpec } from "../tiles/netlink/solicit-config";
import { didYouMean } from "./args";
import { CliError, ExitCode } from "./errors";

export class ConfigError extends CliError {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly got?: unknown,
    /** Where in the file, when known (1-based). */
    readonly at?: { file: string; line: number; column: number },
  ) {
    super(
      `${at ? `${at.file}:${at.line}:${at.column}: ` : "config: "}${key}: expected ${expected}${got === undefined ? "" : `, got ${describe(got)}`}`,
      ExitCode.usage,
      "config",
    );
  }
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "object") return "a table";
  return String(v);
}

export type Table = Record<string, unknown>;

export function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Reads typed values out of one TOML table and reports unknown keys. */
export class TableReader {
  private readonly seen = new Set<string>();
  constructor(
    private readonly table: Table,
    private readonly path: string,
  ) {}

  private key(k: string): string {
    return this.path ? `${this.path}.${k}` : k;
  }

  has(k: string): boolean {
    return this.table[k] !== undefined;
  }

  str(k: string, fallback: string, pattern?: RegExp, what?: string): string {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    if (typeof v !== "string") throw new ConfigError(this.key(k), what ?? "a string", v);
    if (pattern && !pattern.test(v)) throw new ConfigError(this.key(k), what ?? `a string matching ${pattern}`, v);
    return v;
  }

  optStr(k: string, pattern?: RegExp, what?: string): string | undefined {
    if (this.has(k)) return this.str(k, "", pattern, what);
    this.seen.add(k);
    return undefined;
  }

  int(k: string, fallback: number, min: number, max: number, extra?: (n: number) => string | undefined): number {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max)
      throw new ConfigError(this.key(k), `an integer from ${min} to ${max}`, v);
    const problem = extra?.(n);
    if (problem) throw new ConfigError(this.key(k), problem, v);
    return n;
  }

  num(k: string, fallback: number, min: number, max: number): number {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max)
      throw new ConfigError(this.key(k), `a number from ${min} to ${max}`, v);
    return n;
  }

  /** A value declared by a SettingSpec (its key, default and limits). */
  setting(spec: SettingSpec): number {
    this.seen.add(spec.key);
    const v = this.table[spec.key];
    if (v === undefined) return spec.default;
    const expected = checkSetting(spec, typeof v === "bigint" ? Number(v) : v);
    if (expected !== undefined) throw new ConfigError(this.key(spec.key), expected, v);
    return typeof v === "bigint" ? Number(v) : (v as number);
  }

  bool(k: string, fallback: boolean): boolean {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") throw new ConfigError(this.key(k), "true or false", v);
    return v;
  }

  oneOf<T extends string>(k: string, fallback: T, options: readonly T[]): T {
    const v = this.str(k, fallback);
    if (!options.includes(v as T)) throw new ConfigError(this.key(k), `one of ${options.join(", ")}`, v);
    return v as T;
  }

  list<T>(k: string, fallback: T[], item: (v: unknown, key: string) => T): T[] {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    if (!Array.isArray(v)) throw new ConfigError(this.key(k), "an array", v);
    return v.map((x, i) => item(x, `${this.key(k)}[${i}]`));
  }

  sub(k: string): TableReader {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return new TableReader({}, this.key(k));
    if (!isTable(v)) throw new ConfigError(this.key(k), "a table", v);
    return new TableReader(v, this.key(k));
  }

  raw(k: string): unknown {
    this.seen.add(k);
    return this.table[k];
  }

  /** Every key must have been read: a typo is an error, not a silently ignored setting. */
  done(): void {
    for (const k of Object.keys(this.table)) {
      if (this.seen.has(k)) continue;
      const close = didYouMean(k, this.seen);
      throw new ConfigError(
        this.key(k),
        close === undefined ? "no such key (see the README's configuration)" : `no such key (did you mean ${close}?)`,
      );
    }
  }
}
