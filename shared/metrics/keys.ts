// Typed metric keys: a tile looks its declared metrics up once, by names the compiler checks
// against the tile's declaration (definition.ts), instead of strings found wrong only at start-up.
import type { MetricDecl } from "./schema";
import type { MetricsWriter } from "./writer";

/** The names a declaration list declares (template names for families such as `rx_drop_${reason}`). */
export type MetricName<Decls extends readonly MetricDecl[]> = Decls[number]["name"];

/** Index of every declared metric in the writer's region, keyed by its declared name. */
export type MetricIndexes<Decls extends readonly MetricDecl[]> = { readonly [N in MetricName<Decls>]: number };

/** Looks every declared metric up once (throws at start-up if the region lacks one). */
export function metricIndexes<const Decls extends readonly MetricDecl[]>(
  writer: Pick<MetricsWriter, "index">,
  decls: Decls,
): MetricIndexes<Decls> {
  const out: Record<string, number> = {};
  for (const d of decls) out[d.name] = writer.index(d.name);
  return out as MetricIndexes<Decls>;
}
