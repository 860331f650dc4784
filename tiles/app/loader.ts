// Loads an app module before the sandbox: a built-in by name, or a single CommonJS file by
// absolute path. Every refusal names the app, the file and what was expected.
import { createRequire } from "node:module";
import { isAbsolute } from "node:path";
import { type AppModule, isAppModule } from "./api";
import { dnsApp } from "./builtin/dns/app";
import type { AppTileConfig } from "./definition";
import { echoApp } from "./echo";

const BUILTINS: Record<string, AppModule> = { "builtin:echo": echoApp, "builtin:dns": dnsApp };

export function loadAppModule(config: Pick<AppTileConfig, "name" | "modulePath" | "ports">): AppModule {
  const { name, modulePath } = config;
  let mod: unknown;
  if (modulePath.startsWith("builtin:")) {
    mod = BUILTINS[modulePath];
    if (mod === undefined)
      throw new Error(
        `app ${name}: unknown built-in module ${modulePath} (known: ${Object.keys(BUILTINS).join(", ")})`,
      );
  } else {
    if (!isAbsolute(modulePath)) throw new Error(`app ${name}: module path ${modulePath} is not absolute`);
    try {
      mod = createRequire(modulePath)(modulePath);
    } catch (e) {
      throw new Error(`app ${name}: loading ${modulePath} failed: ${(e as Error).message}`);
    }
    // A transpiled ES module keeps its exports under `default`.
    if (
      !isAppModule(mod) &&
      typeof mod === "object" &&
      mod !== null &&
      isAppModule((mod as { default?: unknown }).default)
    )
      mod = (mod as { default: unknown }).default;
  }
  if (!isAppModule(mod))
    throw new Error(`app ${name}: ${modulePath} does not export onPacket(pkt, app) (see the README, "App tiles")`);
  if (mod.init !== undefined && typeof mod.init !== "function")
    throw new Error(`app ${name}: ${modulePath} exports init, but it is not a function`);
  if (mod.ports !== undefined) {
    const declared = mod.ports;
    const ok =
      Array.isArray(declared) &&
      declared.length === config.ports.length &&
      [...declared].sort((a, b) => a - b).every((p, i) => p === [...config.ports].sort((a, b) => a - b)[i]);
    if (!ok)
      throw new Error(
        `app ${name}: ${modulePath} exports ports ${JSON.stringify(declared)} but the config gives ${JSON.stringify(config.ports)}; they must be equal`,
      );
  }
  return mod;
}
