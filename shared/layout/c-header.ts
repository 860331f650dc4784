// Renders shared-memory layouts declared in TypeScript as a C header, so C code (the reference
// ring of the benchmark, future C tools) uses the very same constants. Add a layout by adding a
// group to LAYOUT_GROUPS.
import { ringLayoutConstants } from "../ring/layout";

export interface CConstantGroup {
  /** Prefix of every macro in the group, e.g. "TN_RING_". */
  prefix: string;
  /** One line saying what the constants describe. */
  comment: string;
  constants: Readonly<Record<string, number>>;
}

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
