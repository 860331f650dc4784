// Renders shared-memory layouts declared in TypeScript as a C header, so C code (the reference
// ring of the benchmark, future C tools) uses the very same constants. A layout module declares
// each constant once (`export const RING_HDR_MAGIC = 0`); its group here takes every exported
// integer with the group's prefix, so nothing is restated by hand. Add a layout by adding a group.
import * as ringLayout from "../ring/layout";

export interface CConstantGroup {
  /** Prefix of every macro in the group, e.g. "TN_RING_". */
  prefix: string;
  /** One line saying what the constants describe. */
  comment: string;
  constants: Readonly<Record<string, number>>;
}

/** Every exported integer constant of a layout module named `<prefix><NAME>`, keyed by NAME. */
export function layoutConstants(module: Readonly<Record<string, unknown>>, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(module)) {
    if (name.startsWith(prefix) && typeof value === "number" && Number.isInteger(value))
      out[name.slice(prefix.length)] = value;
  }
  return out;
}

/** The ring layout (shared/ring/layout.ts) as C macros TN_RING_<NAME>. */
export const ringLayoutConstants: Readonly<Record<string, number>> = layoutConstants(ringLayout, "RING_");

export const LAYOUT_GROUPS: readonly CConstantGroup[] = [
  {
    prefix: "TN_RING_",
    comment: "SPSC ring: header, producer and consumer lines, counters (byte offsets; see shared/ring/layout.ts)",
    constants: ringLayoutConstants,
  },
];

function cLiteral(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw new Error(`C header: ${value} is not a u32 constant`);
  return value > 0x7fffffff ? `${value}u` : value >= 0x10000 ? `0x${value.toString(16)}u` : `${value}u`;
}

/** The header text for the given groups. */
export function renderCHeader(groups: readonly CConstantGroup[] = LAYOUT_GROUPS): string {
  const lines = [
    "/* Generated from the TypeScript layout declarations by scripts/emit-c-header.ts. Do not edit. */",
    "#ifndef TILENET_LAYOUT_H",
    "#define TILENET_LAYOUT_H",
  ];
  const seen = new Set<string>();
  for (const group of groups) {
    lines.push("", `/* ${group.comment} */`);
    for (const [key, value] of Object.entries(group.constants)) {
      const name = `${group.prefix}${key}`;
      if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`C header: bad macro name ${name}`);
      if (seen.has(name)) throw new Error(`C header: duplicate macro ${name}`);
      seen.add(name);
      lines.push(`#define ${name} ${cLiteral(value)}`);
    }
  }
  lines.push("", "#endif /* TILENET_LAYOUT_H */", "");
  return lines.join("\n");
}
