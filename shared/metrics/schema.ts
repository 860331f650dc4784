// The metrics schema a region carries, so readers need no per-tile code. Stored as UTF-8 text,
// one record per line, fields separated by a tab (trivial to parse from C as well):
//
//   tilenet-metrics-schema 1
//   tile<TAB><tile name><TAB><tile kind>
//   <metric name><TAB><counter|gauge><TAB><help>      (one line per value, in value order)

export type MetricKind = "counter" | "gauge";

export interface MetricDecl<Name extends string = string> {
  /** snake_case, [a-z][a-z0-9_]*, at most 64 characters; unique within a region. */
  name: Name;
  /** counter: only grows (rates make sense); gauge: a level that goes up and down. */
  kind: MetricKind;
  /** One line of text for people (Prometheus HELP). */
  help: string;
}

/** A counter declaration (its name's literal type is kept for typed keys, see metrics/keys.ts). */
export function counter<Name extends string>(name: Name, help: string): MetricDecl<Name> {
  return { name, kind: "counter", help };
}

/** A gauge declaration. */
export function gauge<Name extends string>(name: Name, help: string): MetricDecl<Name> {
  return { name, kind: "gauge", help };
}

export interface MetricsSchema {
  tileName: string;
  tileKind: string;
  metrics: MetricDecl[];
}

const SCHEMA_HEADER = "tilenet-metrics-schema 1";
const METRIC_NAME = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const MAX_METRIC_NAME = 64;
/** Tile names and kinds appear in labels, file names and tables: keep them plain. */
export const MAX_TILE_WORD = 64;
const TILE_WORD = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_HELP = 512;

export function validateMetricName(name: string): void {
  if (name.length > MAX_METRIC_NAME || !METRIC_NAME.test(name)) {
    throw new Error(
      `metric name ${JSON.stringify(name)} is not snake_case (lowercase letters, digits and single underscores, ` +
        `starting with a letter, at most ${MAX_METRIC_NAME} characters)`,
    );
  }
}

function validateTileWord(what: string, value: string): void {
  if (!TILE_WORD.test(value)) {
    throw new Error(
      `${what} ${JSON.stringify(value)} must be 1-64 characters of [A-Za-z0-9_.-], starting alphanumeric`,
    );
  }
}

/** Throws a clear Error on the first invalid or duplicate declaration. */
export function validateMetricDecls(decls: readonly MetricDecl[]): void {
  const seen = new Set<string>();
  for (const decl of decls) {
    validateMetricName(decl.name);
    if (decl.kind !== "counter" && decl.kind !== "gauge") {
      throw new Error(`metric ${decl.name}: kind must be "counter" or "gauge", not ${JSON.stringify(decl.kind)}`);
    }
    if (typeof decl.help !== "string" || decl.help.length === 0 || decl.help.length > MAX_HELP) {
      throw new Error(`metric ${decl.name}: help must be 1-${MAX_HELP} characters`);
    }
    if (CONTROL.test(decl.help)) {
      throw new Error(`metric ${decl.name}: help must be one line without control characters`);
    }
    if (seen.has(decl.name)) throw new Error(`metric ${decl.name} is declared twice`);
    seen.add(decl.name);
  }
}

export function encodeSchema(schema: MetricsSchema): Uint8Array {
  validateTileWord("tile name", schema.tileName);
  validateTileWord("tile kind", schema.tileKind);
  validateMetricDecls(schema.metrics);
  const lines = [SCHEMA_HEADER, `tile\t${schema.tileName}\t${schema.tileKind}`];
  for (const m of schema.metrics) lines.push(`${m.name}\t${m.kind}\t${m.help}`);
  return new TextEncoder().encode(`${lines.join("\n")}\n`);
}

/** Parses and validates schema text; `where` names the region in error messages. */
export function decodeSchema(bytes: Uint8Array, where: string): MetricsSchema {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${where}: metrics schema is not valid UTF-8`);
  }
  if (!text.endsWith("\n")) throw new Error(`${where}: metrics schema is truncated (no final newline)`);
  const lines = text.slice(0, -1).split("\n");
  if (lines[0] !== SCHEMA_HEADER) {
    throw new Error(`${where}: metrics schema starts with ${JSON.stringify(lines[0])}, expected "${SCHEMA_HEADER}"`);
  }
  const tile = (lines[1] ?? "").split("\t");
  if (tile.length !== 3 || tile[0] !== "tile") throw new Error(`${where}: metrics schema line 2 is not a tile record`);
  const metrics: MetricDecl[] = [];
  for (let i = 2; i < lines.length; i++) {
    const fields = lines[i].split("\t");
    if (fields.length !== 3) throw new Error(`${where}: metrics schema line ${i + 1} does not have 3 fields`);
    metrics.push({ name: fields[0], kind: fields[1] as MetricKind, help: fields[2] });
  }
  try {
    validateTileWord("tile name", tile[1]);
    validateTileWord("tile kind", tile[2]);
    validateMetricDecls(metrics);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
  return { tileName: tile[1], tileKind: tile[2], metrics };
}
