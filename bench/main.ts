// `npm run bench -- <name> [--json] [options]`: runs one benchmark and prints its figures.
import { availableParallelism, release } from "node:os";
import type { Bench } from "./types";

const benches: Record<string, () => Promise<Bench>> = {
  ring: async () => (await import("./ring")).ringBench,
  startup: async () => (await import("./startup")).startupBench,
  solicit: async () => (await import("./solicit")).solicitBench,
  netbase: async () => (await import("./netbase")).netbaseBench,
  echo: async () => (await import("./echo")).echoBench,
  capture: async () => (await import("./capture")).captureBench,
  scale: async () => (await import("./scale")).scaleBench,
  ipv6: async () => (await import("./ipv6")).ipv6Bench,
  dns: async () => (await import("./dns")).dnsBench,
  churn: async () => (await import("./netbase-churn")).churnBench,
  "netbase-capacity": async () => (await import("./netbase-capacity")).netbaseCapacityBench,
  netstate: async () => (await import("./netstate")).netstateBench,
  "netbase-client": async () => (await import("./netbase-client")).netbaseClientBench,
  "netbase-hugepages": async () => (await import("./netbase-hugepages")).netbaseHugePagesBench,
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
  // Every figure depends on the runtime: say which Node, kernel and core count measured it.
  const measuredOn = { node_version: process.version, kernel: release(), cpus: availableParallelism() };
  if (json) process.stdout.write(`${JSON.stringify({ ...measuredOn, ...result.figures })}\n`);
  else {
    const header = `measured with Node ${measuredOn.node_version}, kernel ${measuredOn.kernel}, ${measuredOn.cpus} cpus`;
    process.stdout.write(`${[header, ...result.lines].join("\n")}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
