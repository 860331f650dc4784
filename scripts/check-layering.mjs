// Lint step: nothing in shared/ imports from tiles/ or launcher/ (shared code is what tiles and the
// launcher have in common; an upward import would tie a tile to the launcher or to another tile).
// Exits 1 listing each offending import.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(new URL("..", import.meta.url).pathname);
const FORBIDDEN = ["tiles", "launcher"];
// Static imports and re-exports, dynamic import() and require() with a relative specifier.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["'](\.{1,2}\/[^"']*)["']/g;

function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|cts|js|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

const problems = [];
for (const file of sourceFiles(join(root, "shared"))) {
  const text = readFileSync(file, "utf8");
  for (const match of text.matchAll(IMPORT)) {
    const target = relative(root, resolve(dirname(file), match[1]));
    const top = target.split("/")[0];
    if (FORBIDDEN.includes(top)) {
      const line = text.slice(0, match.index).split("\n").length;
      problems.push(`${relative(root, file)}:${line}: imports ${match[1]} (${top}/): shared/ must not import ${top}/`);
    }
  }
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join("\n")}\n`);
  process.exit(1);
}
