// Build: bundles every runnable entry point (CLI, tiles, bench, test child programs) with esbuild
// into dist/, then renders the shared memory layouts as a C header for the C code that needs them.
// One bundle per process keeps tile start-up fast and lets the launcher stage a tile's code in a
// root-owned directory the unprivileged tile uid can read (see README, "Sandbox").
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;

function listTs(dir) {
  if (!existsSync(join(root, dir))) return [];
  const out = [];
  for (const name of readdirSync(join(root, dir))) {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) out.push(...listTs(rel));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

const entryPoints = {};
entryPoints.cli = "launcher/cli.ts";
for (const tile of existsSync(join(root, "tiles")) ? readdirSync(join(root, "tiles")) : []) {
  const main = join("tiles", tile, "main.ts");
  if (existsSync(join(root, main))) entryPoints[`tiles/${tile}`] = main;
}
if (existsSync(join(root, "bench/main.ts"))) entryPoints.bench = "bench/main.ts";
// The netstate library's package entry point (`tilenet/netstate`), with its declarations below.
entryPoints.netstate = "shared/netstate/index.ts";
for (const f of [...listTs("test/fixtures"), ...listTs("bench/children")]) {
  entryPoints[f.replace(/\.ts$/, "")] = f;
}
for (const [name, file] of Object.entries(entryPoints)) {
  if (!existsSync(join(root, file))) delete entryPoints[name];
}

await build({
  absWorkingDir: root,
  entryPoints,
  outdir: "dist",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  sourcemap: "linked",
  logLevel: "warning",
  // msgpackr probes for an optional native accelerator; the pure JS path is what tiles use.
  external: ["msgpackr-extract", "pino-pretty"],
  banner: { js: "" },
});
if (existsSync(join(root, "dist/cli.js"))) chmodSync(join(root, "dist/cli.js"), 0o755);

// C header generated from the TypeScript layout declarations (single source of truth).
const headerEmitter = "scripts/emit-c-header.ts";
if (existsSync(join(root, headerEmitter))) {
  await build({
    absWorkingDir: root,
    entryPoints: { "emit-c-header": headerEmitter },
    outdir: "dist/tools",
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    logLevel: "warning",
  });
  mkdirSync(join(root, "dist/include"), { recursive: true });
  execFileSync(
    process.execPath,
    [join(root, "dist/tools/emit-c-header.js"), join(root, "dist/include/tilenet_layout.h")],
    {
      stdio: "inherit",
    },
  );
}
console.log(
  `built ${Object.keys(entryPoints).length} entry points into ${relative(process.cwd(), join(root, "dist")) || "dist"}`,
);
