// The C layout header is rendered from the TypeScript declarations: a C program compiled
// against it sees exactly the TypeScript values.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LAYOUT_GROUPS, renderCHeader, ringLayoutConstants } from "../shared/layout/c-header";

describe("C layout header", () => {
  it("compiles cleanly and carries every ring constant with its TypeScript value", () => {
    const dir = mkdtempSync(join(tmpdir(), "tn-ring-h-"));
    try {
      writeFileSync(join(dir, "tilenet_layout.h"), renderCHeader());
      const names = Object.keys(ringLayoutConstants);
      const prints = names.map((k) => `  printf("%s %lu\\n", "${k}", (unsigned long)TN_RING_${k});`).join("\n");
      writeFileSync(
        join(dir, "probe.c"),
        `#include <stdio.h>\n#include "tilenet_layout.h"\nint main(void) {\n${prints}\n  return 0;\n}\n`,
      );
      execFileSync("cc", [
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-I",
        dir,
        "-o",
        join(dir, "probe"),
        join(dir, "probe.c"),
      ]);
      const seen = Object.fromEntries(
        execFileSync(join(dir, "probe"), { encoding: "utf8" })
          .trim()
          .split("\n")
          .map((l) => {
            const [k, v] = l.split(" ");
            return [k, Number(v)];
          }),
      );
      expect(seen).toEqual(ringLayoutConstants);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("has room for more layouts and refuses clashing or invalid constants", () => {
    expect(LAYOUT_GROUPS.map((g) => g.prefix)).toContain("TN_RING_");
    const extra = { prefix: "TN_NETBASE_", comment: "x", constants: { MAGIC: 1 } };
    expect(renderCHeader([...LAYOUT_GROUPS, extra])).toContain("#define TN_NETBASE_MAGIC 1u");
    expect(() => renderCHeader([extra, extra])).toThrow("C header: duplicate macro TN_NETBASE_MAGIC");
    expect(() => renderCHeader([{ prefix: "TN_X_", comment: "x", constants: { A: -1 } }])).toThrow(/not a u32/);
    expect(() => renderCHeader([{ prefix: "tn_", comment: "x", constants: { a: 1 } }])).toThrow(/bad macro name/);
  });
});
