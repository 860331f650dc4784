// Loads an app module in two steps, so that none of its code runs before the sandbox:
//   readAppSource (before the sandbox): reads the staged file into a string; nothing is compiled;
//   instantiateAppModule (after enterSandbox, every thread under the filter): compiles the string
//     with vm.compileFunction (the CommonJS wrapper) and runs its top level.
// A module's `require` gives Node's built-in modules only (`node:os`, `node:crypto`, ...): nothing
// else can be read once the filter is on. Every refusal names the app, the file and what was expected.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { builtinModules } from "node:module";
import { isAbsolute } from "node:path";
import { compileFunction } from "node:vm";
import { type AppModule, isAppModule } from "./api";
import { dnsApp } from "./builtin/dns/app";
import type { AppTileConfig } from "./definition";
import { echoApp } from "./echo";

const BUILTINS: Record<string, AppModule> = { "builtin:echo": echoApp, "builtin:dns": dnsApp };

/** Largest app module read (the launcher's staging refuses larger files first). */
export const MAX_APP_SOURCE_BYTES = 8 << 20;

/** An app module read but not yet run: a built-in object, or the source text of a file. */
export type AppSource = { kind: "builtin"; module: AppModule } | { kind: "file"; path: string; text: string };

type LoaderConfig = Pick<AppTileConfig, "name" | "modulePath" | "ports">;

/** Before the sandbox: the module's bytes, read without running any of them. */
export function readAppSource(config: LoaderConfig): AppSource {
  const { name, modulePath } = config;
  if (modulePath.startsWith("builtin:")) {
    const module = BUILTINS[modulePath];
    if (module === undefined)
      throw new Error(
        `app ${name}: unknown built-in module ${modulePath} (known: ${Object.keys(BUILTINS).join(", ")})`,
      );
    return { kind: "builtin", module };
  }
  if (!isAbsolute(modulePath)) throw new Error(`app ${name}: module path ${modulePath} is not absolute`);
  let fd: number;
  try {
    fd = openSync(modulePath, "r");
  } catch (e) {
    throw new Error(`app ${name}: loading ${modulePath} failed: ${(e as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_APP_SOURCE_BYTES)
      throw new Error(`app ${name}: ${modulePath} is ${size} bytes, more than ${MAX_APP_SOURCE_BYTES}`);
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return { kind: "file", path: modulePath, text: buf.subarray(0, got).toString("utf8") };
  } finally {
    closeSync(fd);
  }
}

const NODE_BUILTINS = new Set(builtinModules);

/** The `require` an app module gets: Node's built-in modules, nothing from the filesystem. */
function builtinOnlyRequire(name: string, modulePath: string): (id: string) => unknown {
  return (id: string) => {
    const bare = id.startsWith("node:") ? id.slice(5) : id;
    if (!NODE_BUILTINS.has(bare))
      throw new Error(
        `app ${name}: ${modulePath} requires '${id}': an app module is one file and may require Node built-ins only (bundle its dependencies)`,
      );
    return require(`node:${bare}`);
  };
}

/** After the sandbox: compiles and runs the module's top level, then checks its exports. */
export function instantiateAppModule(source: AppSource, config: LoaderConfig): AppModule {
  const { name } = config;
  if (source.kind === "builtin") return checkExports(source.module, config);
  const { path, text } = source;
  const module = { exports: {} as unknown };
  try {
    const wrapper = compileFunction(text, ["exports", "require", "module", "__filename", "__dirname"], {
      filename: path,
    });
    wrapper.call(module.exports, module.exports, builtinOnlyRequire(name, path), module, path, "/");
  } catch (e) {
    throw new Error(`app ${name}: loading ${path} failed: ${(e as Error)?.message ?? String(e)}`);
  }
  let mod = module.exports;
  // A transpiled ES module keeps its exports under `default`.
  if (
    !isAppModule(mod) &&
    typeof mod === "object" &&
    mod !== null &&
    isAppModule((mod as { default?: unknown }).default)
  )
    mod = (mod as { default: unknown }).default;
  return checkExports(mod, config);
}

function checkExports(mod: unknown, config: LoaderConfig): AppModule {
  const { name, modulePath } = config;
  if (!isAppModule(mod))
    throw new Error(`app ${name}: ${modulePath} does not export onPacket(pkt, app) (see the README, "App tiles")`);
  if (mod.init !== undefined && typeof mod.init !== "function")
    throw new Error(`app ${name}: ${modulePath} exports init, but it is not a function`);
  if (mod.ports !== undefined) {
    const declared = mod.ports;
    const want = [...config.ports].sort((a, b) => a - b);
    const ok =
      Array.isArray(declared) &&
      declared.length === want.length &&
      [...declared].sort((a, b) => a - b).every((p, i) => p === want[i]);
    if (!ok)
      throw new Error(
        `app ${name}: ${modulePath} exports ports ${JSON.stringify(declared)} but the config gives ${JSON.stringify(config.ports)}; they must be equal`,
      );
  }
  return mod;
}

/** Both steps at once (tests, and tools that run outside a sandbox). */
export function loadAppModule(config: LoaderConfig): AppModule {
  return instantiateAppModule(readAppSource(config), config);
}
