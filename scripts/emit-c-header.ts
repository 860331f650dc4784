// Build step (scripts/build.mjs): writes the C layout header to the path given as argv[2].
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { renderCHeader } from "../shared/layout/c-header";

const out = process.argv[2];
if (!out) {
  process.stderr.write("usage: emit-c-header <output.h>\n");
  process.exit(2);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, renderCHeader());
