#!/usr/bin/env node
// `tilenet`: the one command operators use. Exit codes (see launcher/errors.ts and the README):
// 0 ok, 1 unhealthy or failed, 2 usage or configuration error, 3 not running, 4 permission.
// Output is drained before the process exits, and a reader that leaves early ends the output only.
import { version } from "../package.json";
import {
  type CommandHelp,
  intOption,
  type ParsedArgs,
  parseArgs,
  renderCommandHelp,
  suggestion,
  UsageError,
} from "./args";
import { ConfigError, defaultConfig, loadConfigFile, parseListen } from "./config";
import type { StageReport } from "./configure/run";
import { DUMP_SPEC } from "./dump-cli";
import { CliError, ExitCode } from "./errors";
import { drainStdio, err, guardStdio, out } from "./output";

type Handler = (args: ParsedArgs) => Promise<number>;
interface Command extends CommandHelp {
  run: Handler;
  /** The command parses its own arguments (fuzz). */
  rawArgs?: boolean;
}

const INSTANCE_OPTION = { instance: ["NAME", "the instance (default: the only one running)"] } as const;
const JSON_FLAG = { json: "JSON on stdout (errors too, as {error: {code, kind, message}})" };
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"];

const commands: Record<string, Command> = {
  run: {
    summary: "start an instance (as root); --lab builds its own namespaces and runs the UDP echo app",
    flags: { lab: "build a lab world: two fresh namespaces, a veth pair, the echo app on port 7000" },
    options: {
      config: ["FILE", "TOML configuration (see the README)"],
      ...INSTANCE_OPTION,
      metrics: ["HOST:PORT", "serve Prometheus /metrics, /healthz and /readyz (loopback unless the config opts in)"],
      duration: ["SECONDS", "stop after this long (default: until SIGINT or SIGTERM)"],
      "log-level": ["LEVEL", "trace, debug, info, warn or error (default: the config's, else info)"],
    },
    details:
      "Logs: one line per event, human-readable on a terminal, JSON lines otherwise.\n" +
      "SIGINT/SIGTERM stop every tile and remove what the instance made; exit 0.",
    run: runCommand,
  },
  status: {
    summary: "per-tile health, sandbox facts and the attached XDP socket",
    flags: JSON_FLAG,
    options: INSTANCE_OPTION,
    details: "exit 0 healthy, 1 a tile is stale, stopped or not sandboxed, 3 not running, 4 not root",
    run: async (args) => {
      const { collectStatus, loadManifest, renderStatusTable, statusExitCode } = await import("./health/status");
      const report = collectStatus(loadManifest(args.options.get("instance")));
      out(args.flags.has("json") ? `${JSON.stringify(report, null, 2)}\n` : renderStatusTable(report));
      return statusExitCode(report);
    },
  },
  ready: {
    summary: "wait until the instance runs every tile and all are healthy (for scripts)",
    flags: {},
    options: { ...INSTANCE_OPTION, timeout: ["SECONDS", "give up after this long (default 30)"] },
    details: "exit 0 ready, 1 running but not healthy at the deadline, 3 not running at the deadline",
    run: readyCommand,
  },
  list: {
    summary: "running instances",
    flags: JSON_FLAG,
    options: {},
    run: async (args) => {
      const { listCommand } = await import("./health/list");
      return listCommand(args.flags.has("json"));
    },
  },
  monitor: {
    summary: "live per-tile view, refreshed every second",
    flags: { json: "one JSON object per refresh, one per line (NDJSON)" },
    options: { ...INSTANCE_OPTION, iterations: ["N", "stop after N refreshes"] },
    run: async (args) => {
      const { runMonitor } = await import("./health/monitor");
      const { onStdoutGone } = await import("./output");
      const iterations = args.options.has("iterations") ? intOption(args, "iterations", 1, 1, 1e9) : undefined;
      const stop = new AbortController();
      onStdoutGone(() => stop.abort());
      await runMonitor({
        instance: args.options.get("instance"),
        iterations,
        out: process.stdout,
        tty: process.stdout.isTTY === true,
        json: args.flags.has("json"),
        signal: stop.signal,
      });
      return ExitCode.ok;
    },
  },
  dump: {
    summary: "pcap of what a net tile receives and sends (AF_XDP frames tcpdump cannot see), as root",
    ...DUMP_SPEC,
    details:
      "-w - or no -w writes to stdout (a pipe: tilenet dump -w - | tshark -r -; not a terminal).\n" +
      "Ends at --count, --seconds, SIGINT/SIGTERM or when the pipe's reader leaves; the summary goes to stderr.\n" +
      "One dump per net tile at a time (a second one fails). The socket provider has no capture.\n" +
      "exit 0 done, 1 failed (another dump attached, socket provider), 2 usage, 3 not running, 4 not root",
    rawArgs: true,
    run: async (args) => {
      const { parseDumpArgs, runDump } = await import("./dump-cli");
      return runDump(parseDumpArgs(args.positionals, process.stdout.isTTY === true));
    },
  },
  netbase: {
    summary: "show: interfaces, addresses, routes and neighbors from netbase; verify: against the kernel",
    positionals: "show|verify",
    flags: { json: "show: JSON shaped like `ip -j` (links, addresses, routes, neighbors)" },
    options: INSTANCE_OPTION,
    details: "verify exits 1 when netbase differs from a fresh kernel dump",
    run: async (args) => {
      const { netbaseShow, netbaseVerify } = await import("./netbase-cli");
      const sub = args.positionals[0];
      if (sub === "show") return netbaseShow(args.options.get("instance"), args.flags.has("json"));
      if (sub === "verify") return netbaseVerify(args.options.get("instance"));
      throw new UsageError(
        `netbase needs a subcommand: show or verify${sub ? suggestion(sub, ["show", "verify"]) : ""}`,
      );
    },
  },
  seccomp: {
    summary: "print a tile's compiled seccomp program, disassembled",
    positionals: "netlink|net|app",
    flags: {},
    options: {},
    run: async (args) => {
      const { printSeccomp } = await import("./seccomp-cli");
      const kind = args.positionals[0];
      if (!kind) throw new UsageError("seccomp needs a tile kind (netlink, net, app)");
      out(printSeccomp(kind));
      return ExitCode.ok;
    },
  },
  fuzz: {
    summary: "in-process fuzzing of the parsers and the solicit state machine, or a live netlink tile",
    positionals: "solicit|netlink|packet|dns|solicit-live",
    flags: { coverage: "report V8 coverage of the target (in-process targets)" },
    options: {
      seconds: ["N", "how long (default 10)"],
      seed: ["S", "seed, for replaying a run"],
      corpus: ["DIR", "seed inputs and where failures are written (in-process targets)"],
      replay: ["FILE", "run one saved input (in-process targets)"],
    },
    details: "exit 1 when the fuzzer found a failure (the report prints the replay command)",
    rawArgs: true,
    run: fuzzCommand,
  },
  ip: {
    summary: "iproute2's grammar over the netstate library; with -j the output equals `ip -j`'s",
    positionals: "[-n NETNS] [-j] [-4|-6] link|addr|route|rule|neigh [show|add|del|replace ...]",
    flags: {},
    options: {},
    details: "a subset of iproute2: show takes the dev and table selectors; see the README's netstate section",
    rawArgs: true,
    run: async (args) => (await import("./ip-command")).ipMain(args.positionals),
  },
  configure: {
    summary: "prepare the configured interface and host for the data plane, in idempotent stages",
    positionals: "check|init|fini [STAGE...]",
    flags: JSON_FLAG,
    options: { config: ["FILE", "TOML configuration: [net] interface and netns name what is prepared"] },
    details:
      'stages: driver, channels, offloads (all by default; see the README, "Preparing the NIC").\n' +
      "check says what differs from what the config needs; init makes it so and records what it\n" +
      "changed in /run/tilenet/.configure/; fini undoes exactly that.\n" +
      "exit 0 nothing differs, 1 something differs (init: something could not be set), 2 usage or config, 4 not root",
    run: configureCommand,
  },
  cleanup: {
    summary: "remove what dead instances left behind (run directories, staged runtimes, namespaces)",
    flags: {},
    options: {
      record: [
        "FILE",
        "tear down the one instance this teardown record names, even while its unprivileged launcher runs (what the launcher's keeper runs at the stop)",
      ],
    },
    run: async (args: ParsedArgs) => {
      const { reclaimStale, tearDownFromRecord } = await import("./cleanup");
      const record = args.options.get("record");
      if (record !== undefined) {
        const problems = tearDownFromRecord(record);
        for (const p of problems) err(`problem: ${p}\n`);
        return problems.length > 0 ? ExitCode.unhealthy : ExitCode.ok;
      }
      const { reclaimed, problems } = reclaimStale();
      for (const dir of reclaimed) out(`reclaimed ${dir}\n`);
      for (const p of problems) err(`problem: ${p}\n`);
      if (reclaimed.length === 0) out("nothing to clean up\n");
      return problems.length > 0 ? ExitCode.unhealthy : ExitCode.ok;
    },
  },
};

async function runCommand(args: ParsedArgs): Promise<number> {
  const config = args.options.has("config") ? loadConfigFile(args.options.get("config") ?? "") : defaultConfig();
  const lab = args.flags.has("lab");
  if (!lab && config.net.interfaces.length === 0 && config.net.enabled)
    throw new ConfigError("net.interface", "an interface name (or run with --lab)");
  const instance = args.options.get("instance");
  if (instance !== undefined) {
    if (!/^[a-z0-9][a-z0-9-]{0,23}$/.test(instance))
      throw new UsageError("--instance must be 1-24 characters of a-z, 0-9 and '-'");
    config.instance.name = instance;
  }
  const level = args.options.get("log-level");
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level))
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}${suggestion(level, LOG_LEVELS)}`);
    config.instance.logLevel = level;
  }
  const metricsText = args.options.get("metrics");
  const metricsListen = metricsText
    ? parseListen(metricsText, "--metrics", config.metrics.allowNonLoopback)
    : config.metrics.listen;
  if (process.getuid?.() !== 0) {
    const { PermissionError } = await import("./errors");
    throw new PermissionError(
      "must run as root (it creates namespaces, XDP and sockets, then drops privileges per tile)",
    );
  }
  // Before anything is made: the launcher re-executes itself if libuv opened io_uring rings.
  (await import("./no-io-uring")).restartWithoutIoUring();
  const { runInstance } = await import("./instance");
  const { createLauncherLogger, stdoutLogOutput } = await import("../shared/log");
  const output = stdoutLogOutput();
  const log = createLauncherLogger(config.instance.logLevel, output);
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
  await output.flush();
  return code;
}

async function configureCommand(args: ParsedArgs): Promise<number> {
  const { ACTIONS, renderReports, runConfigure, selectStages } = await import("./configure/run");
  const [action, ...stageNames] = args.positionals;
  const known: readonly string[] = ACTIONS;
  if (action === undefined || !known.includes(action))
    throw new UsageError(
      `configure needs an action: ${ACTIONS.join(", ")}${action ? suggestion(action, ACTIONS) : ""}`,
    );
  const selected = selectStages(stageNames);
  const config = args.options.has("config") ? loadConfigFile(args.options.get("config") ?? "") : defaultConfig();
  // Each interface in turn (host stages repeat: they are idempotent). One interface: one object;
  // several: an array of them.
  const runs: { action: string; interface: string | undefined; stages: StageReport[] }[] = [];
  const interfaces = config.net.interfaces.length > 0 ? config.net.interfaces : [undefined];
  for (const ifname of interfaces) {
    const act = action as (typeof ACTIONS)[number];
    const stages = await runConfigure({ action: act, stages: selected, config, ...(ifname ? { ifname } : {}) });
    runs.push({ action, interface: ifname, stages });
  }
  if (args.flags.has("json")) out(`${JSON.stringify(runs.length === 1 ? runs[0] : runs, null, 2)}\n`);
  else out(runs.map((r) => (runs.length > 1 ? `${r.interface}:\n` : "") + renderReports(r.stages)).join(""));
  return runs.some((r) => r.stages.some((s) => s.status === "differs")) ? ExitCode.unhealthy : ExitCode.ok;
}

async function readyCommand(args: ParsedArgs): Promise<number> {
  const { waitReady } = await import("./health/ready");
  const timeoutS = intOption(args, "timeout", 30, 0, 86400);
  const answer = await waitReady({ instance: args.options.get("instance"), timeoutMs: timeoutS * 1000 });
  if (answer.code === ExitCode.ok) out("ready\n");
  else for (const reason of answer.reasons) err(`not ready: ${reason}\n`);
  return answer.code;
}

async function fuzzCommand(args: ParsedArgs): Promise<number> {
  const argv = args.positionals;
  if (argv[0] === "solicit-live") return fuzzSolicitLive(argv.slice(1));
  // The fuzz harness parses its own options (see shared/fuzz/engine.ts).
  const { fuzzMain } = await import("../shared/fuzz");
  const { fuzzTargets } = await import("./fuzz-targets");
  try {
    return await fuzzMain(argv, fuzzTargets, out);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `tilenet fuzz solicit-live [--seconds N] [--seed S]`: a real sandboxed netlink tile fed
 *  adversarial solicits at full speed, then checked (see launcher/solicit-live.ts). */
async function fuzzSolicitLive(argv: string[]): Promise<number> {
  const args = parseArgs(["fuzz", ...argv], {
    flags: {},
    options: { seconds: ["N", ""], seed: ["S", ""] },
  });
  const { runSolicitLive } = await import("./solicit-live");
  const seconds = intOption(args, "seconds", 10, 1, 3600);
  const seed = intOption(args, "seed", Date.now() % 2 ** 31, 0, 2 ** 31 - 1);
  out(
    `live solicit fuzz: ${seconds} s, seed ${seed} (replay: tilenet fuzz solicit-live --seconds ${seconds} --seed ${seed})\n`,
  );
  const r = await runSolicitLive({ seconds, seed, mode: "mixed", dist: __dirname });
  for (const [k, v] of Object.entries(r.figures)) out(`  ${k}: ${Number.isInteger(v) ? v : v.toFixed(1)}\n`);
  for (const [k, v] of Object.entries(r.rejects)) out(`  rejected ${k}: ${v}\n`);
  for (const p of r.problems) out(`FAILED: ${p}\n`);
  out(r.ok ? "live solicit fuzz passed\n" : "live solicit fuzz FAILED\n");
  return r.ok ? ExitCode.ok : ExitCode.unhealthy;
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = [
    `usage: tilenet <command> [options]      (tilenet help <command>, tilenet <command> --help)`,
    "",
    "commands:",
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    `  ${"help".padEnd(width)}  help on a command`,
    "",
    "options: --version, --help",
    "exit codes: 0 ok, 1 unhealthy or failed, 2 usage or configuration error, 3 not running, 4 permission",
  ];
  return `${lines.join("\n")}\n`;
}

function unknownCommand(name: string): UsageError {
  return new UsageError(
    `unknown command "${name}"${suggestion(name, Object.keys(commands))}; \`tilenet --help\` lists them`,
  );
}

/** Prints an error: a line on stderr, and with --json also {error} on stdout. */
function reportError(command: string, e: unknown, json: boolean): number {
  const known = e instanceof CliError;
  const code = known ? e.exitCode : ExitCode.unhealthy;
  const message = known || e instanceof Error ? (e as Error).message : String(e);
  err(`tilenet${command ? ` ${command}` : ""}: ${message}\n`);
  if (!known && e instanceof Error && process.env.TILENET_DEBUG) err(`${e.stack}\n`);
  if (json) {
    const kind = known ? e.kind : "failed";
    out(`${JSON.stringify({ error: { code, kind, message } })}\n`);
  }
  return code;
}

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (name === undefined) {
    err(usage());
    return ExitCode.usage;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    out(`tilenet ${version}\n`);
    return ExitCode.ok;
  }
  if (name === "--help" || name === "-h") {
    out(usage());
    return ExitCode.ok;
  }
  if (name === "help") {
    const topic = argv[1];
    if (topic === undefined) out(usage());
    else if (commands[topic]) out(renderCommandHelp(topic, commands[topic]));
    else return reportError("help", unknownCommand(topic), false);
    return ExitCode.ok;
  }
  const cmd = commands[name];
  const json = argv.includes("--json");
  if (!cmd) return reportError("", unknownCommand(name), json);
  if (argv.includes("--help") || argv.includes("-h")) {
    out(renderCommandHelp(name, cmd));
    return ExitCode.ok;
  }
  try {
    const args = cmd.rawArgs
      ? { command: name, positionals: argv.slice(1), flags: new Set<string>(), options: new Map() }
      : parseArgs(argv, cmd);
    return await cmd.run(args);
  } catch (e) {
    return reportError(name, e, json);
  }
}

guardStdio();
main(process.argv.slice(2)).then(
  async (code) => {
    process.exitCode = code;
    await drainStdio();
    // Exit now, once the output has drained: leftover handles (log relays of dead tiles) must not
    // keep the launcher alive.
    process.exit(code);
  },
  (e: unknown) => {
    err(`tilenet: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = ExitCode.unhealthy;
  },
);
