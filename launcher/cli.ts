#!/usr/bin/env node
// `tilenet`: the one command operators use. Exit codes: 0 ok, 1 failure (or unhealthy status),
// 2 usage or configuration error.
import { intOption, type ParsedArgs, parseArgs, UsageError } from "./args";
import { ConfigError, defaultConfig, loadConfigFile, parseListen } from "./config";

const USAGE = `usage: tilenet <command> [options]

  run [--lab] [--config FILE] [--instance NAME] [--metrics 127.0.0.1:PORT] [--duration SECONDS]
        start an instance (as root); --lab builds its own namespaces and runs the UDP echo app
  status [--instance NAME] [--json]      per-tile health and sandbox facts (exit 1 if unhealthy)
  monitor [--instance NAME] [--iterations N]  live per-tile view, refreshed every second
  netbase show [--instance NAME] [--json]     interfaces, routes and neighbors from netbase
  netbase verify [--instance NAME]      compare netbase with a fresh kernel dump (exit 1 on differences)
  seccomp <tile-kind>                   print a tile's compiled seccomp program
  fuzz <target> [--seconds N] [--seed S] [--corpus DIR] [--replay FILE]   targets: solicit, netlink, packet
  fuzz solicit-live [--seconds N] [--seed S]   a real sandboxed netlink tile under adversarial solicits
  cleanup                               remove what dead instances left behind
  ip [-n NETNS] [-j] [-4|-6] link|addr|route|rule|neigh [show|add|del|replace ...]   (tilenet ip -h)
`;

type Handler = (args: ParsedArgs) => Promise<number>;

const commands: Record<string, { flags: string[]; options: string[]; run: Handler }> = {
  run: {
    flags: ["lab"],
    options: ["config", "instance", "metrics", "duration"],
    run: async (args) => {
      const { runInstance } = await import("./instance");
      const { createLogger } = await import("../shared/log");
      const config = args.options.has("config") ? loadConfigFile(args.options.get("config") ?? "") : defaultConfig();
      const lab = args.flags.has("lab");
      if (!lab && !config.net.interface && config.net.enabled)
        throw new ConfigError("net.interface", "an interface name (or run with --lab)");
      const instance = args.options.get("instance");
      if (instance !== undefined) {
        if (!/^[a-z0-9][a-z0-9-]{0,23}$/.test(instance))
          throw new UsageError("--instance must be 1-24 characters of a-z, 0-9 and '-'");
        config.instance.name = instance;
      }
      const metricsText = args.options.get("metrics");
      const metricsListen = metricsText ? parseListen(metricsText, "--metrics") : config.metrics.listen;
      if (process.getuid?.() !== 0) {
        process.stderr.write(
          "tilenet run: must run as root (it creates namespaces, XDP and sockets, then drops privileges per tile)\n",
        );
        return 2;
      }
      const log = createLogger("launcher", config.instance.logLevel);
      const duration = intOption(args, "duration", 0, 0, 86400 * 365);
      let timer: NodeJS.Timeout | undefined;
      const code = await runInstance({
        config,
        lab,
        log,
        metricsListen,
        onReady: () => {
          if (duration > 0) timer = setTimeout(() => process.kill(process.pid, "SIGTERM"), duration * 1000);
        },
      });
      if (timer) clearTimeout(timer);
      return code;
    },
  },
  status: {
    flags: ["json"],
    options: ["instance"],
    run: async (args) => {
      const { collectStatus, loadManifest, renderStatusTable, statusExitCode } = await import("./health/status");
      const report = collectStatus(loadManifest(args.options.get("instance")));
      process.stdout.write(
        args.flags.has("json") ? `${JSON.stringify(report, null, 2)}\n` : `${renderStatusTable(report)}\n`,
      );
      return statusExitCode(report);
    },
  },
  monitor: {
    flags: [],
    options: ["instance", "iterations"],
    run: async (args) => {
      const { runMonitor } = await import("./health/monitor");
      const iterations = args.options.has("iterations") ? intOption(args, "iterations", 1, 1, 1e9) : undefined;
      await runMonitor({
        instance: args.options.get("instance"),
        iterations,
        out: process.stdout,
        tty: process.stdout.isTTY === true,
      });
      return 0;
    },
  },
  netbase: {
    flags: ["json"],
    options: ["instance"],
    run: async (args) => {
      const { netbaseShow, netbaseVerify } = await import("./netbase-cli");
      const sub = args.positionals[0];
      if (sub === "show") return netbaseShow(args.options.get("instance"), args.flags.has("json"));
      if (sub === "verify") return netbaseVerify(args.options.get("instance"));
      throw new UsageError("netbase needs a subcommand: show or verify");
    },
  },
  seccomp: {
    flags: [],
    options: [],
    run: async (args) => {
      const { printSeccomp } = await import("./seccomp-cli");
      const kind = args.positionals[0];
      if (!kind) throw new UsageError("seccomp needs a tile kind (netlink, net, app)");
      process.stdout.write(printSeccomp(kind));
      return 0;
    },
  },
  cleanup: {
    flags: [],
    options: [],
    run: async () => {
      const { reclaimStale } = await import("./cleanup");
      const { reclaimed, problems } = reclaimStale();
      for (const dir of reclaimed) process.stdout.write(`reclaimed ${dir}\n`);
      for (const p of problems) process.stderr.write(`problem: ${p}\n`);
      if (reclaimed.length === 0) process.stdout.write("nothing to clean up\n");
      return problems.length > 0 ? 1 : 0;
    },
  },
};

/** `tilenet fuzz solicit-live [--seconds N] [--seed S]`: a real sandboxed netlink tile fed
 *  adversarial solicits at full speed, then checked (see launcher/solicit-live.ts). */
async function fuzzSolicitLive(argv: string[]): Promise<number> {
  const args = parseArgs(["fuzz", ...argv], { flags: [], options: ["seconds", "seed"] });
  const { runSolicitLive } = await import("./solicit-live");
  const seconds = intOption(args, "seconds", 10, 1, 3600);
  const seed = intOption(args, "seed", Date.now() % 2 ** 31, 0, 2 ** 31 - 1);
  process.stdout.write(
    `live solicit fuzz: ${seconds} s, seed ${seed} (replay: tilenet fuzz solicit-live --seconds ${seconds} --seed ${seed})\n`,
  );
  const r = await runSolicitLive({ seconds, seed, mode: "mixed", dist: __dirname });
  for (const [k, v] of Object.entries(r.figures))
    process.stdout.write(`  ${k}: ${Number.isInteger(v) ? v : v.toFixed(1)}\n`);
  for (const [k, v] of Object.entries(r.rejects)) process.stdout.write(`  rejected ${k}: ${v}\n`);
  for (const p of r.problems) process.stdout.write(`FAILED: ${p}\n`);
  process.stdout.write(r.ok ? "live solicit fuzz passed\n" : "live solicit fuzz FAILED\n");
  return r.ok ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === "ip") return (await import("./ip-command")).ipMain(argv.slice(1));
  if (name === "fuzz" && argv[1] === "solicit-live") return fuzzSolicitLive(argv.slice(2));
  if (name === "fuzz") {
    // The fuzz harness parses its own options (see shared/fuzz/engine.ts).
    const { fuzzMain } = await import("../shared/fuzz");
    try {
      return await fuzzMain(argv.slice(1));
    } catch (e) {
      process.stderr.write(`tilenet fuzz: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`tilenet: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  try {
    return await cmd.run(parseArgs(argv, cmd));
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`tilenet ${name}: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`tilenet ${name}: ${(e as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit now: leftover handles (log relays of dead tiles) must not keep the launcher alive.
    process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`tilenet: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
