// `npm run bench -- <name> [--json] [options]`: runs one benchmark and prints its figures.
import type { Bench } from "./types";

const benches: Record<string, () => Promise<Bench>> = {
  ring: async () => (await import("./ring")).ringBench,
  startup: async () => (await import("./startup")).startupBench,
  solicit: async () => (await import("./solicit")).solicitBench,
  netbase: async () => (await import("./netbase")).netbaseBench,
  echo: async () => (await import("./echo")).echoBench,
  netstate: async () => (await import("./netstate")).netstateBench,
};

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  const json = rest.includes("--json");
  const args = rest.filter((a) => a !== "--json");
  const load = name ? benches[name] : undefined;
  if (!load) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join("|")}> [--json]\n`);
    process.exit(2);
  }
  const result = await (await load())(args);
  if (json) process.stdout.write(`${JSON.stringify(result.figures)}\n`);
  else process.stdout.write(`${result.lines.join("\n")}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
