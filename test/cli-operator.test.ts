// The CLI behaves like the tools operators know: --version, help for every command (`help CMD`
// and `CMD --help` alike), suggestions for typos, the documented exit codes (2 usage or config,
// 3 not running, 4 permission) with errors as JSON on stdout under --json, TOML errors with file,
// line and column, `list`, --log-level; log lines without duplicate keys, human-readable on a
// terminal (the launcher's own lines too), JSON otherwise; monitor --json streams NDJSON.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseListen, validateConfig } from "../launcher/config";
import { fuzzTargets } from "../launcher/fuzz-targets";
import { version } from "../package.json";
import {
  CLI,
  cli,
  forceCleanup,
  isRoot,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";

const COMMANDS = [
  "run",
  "status",
  "list",
  "monitor",
  "netbase",
  "ip",
  "seccomp",
  "fuzz",
  "configure",
  "cleanup",
  "dump",
];

/** Keys that appear twice in one JSON object anywhere in the text (JSON.parse would hide them). */
function duplicateKeys(text: string): string[] {
  const dups: string[] = [];
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") stack.push(new Set());
    else if (c === "[") stack.push(null);
    else if (c === "}" || c === "]") stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const word = text.slice(i + 1, j);
      let k = j + 1;
      while (text[k] === " ") k++;
      const keys = stack[stack.length - 1];
      if (text[k] === ":" && keys) {
        if (keys.has(word)) dups.push(word);
        keys.add(word);
      }
      i = j;
    }
  }
  return dups;
}

function asNobody(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    "setpriv",
    ["--reuid", "65534", "--regid", "65534", "--clear-groups", process.execPath, CLI, ...args],
    { encoding: "utf8", timeout: 30_000 },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("tilenet's command line", () => {
  it("--version prints the package version", () => {
    expect(cli(["--version"])).toMatchObject({ code: 0, stdout: `tilenet ${version}\n` });
  });

  it.each(COMMANDS.map((c) => [c, c]))("help %s and %s --help print the same usage, exit 0", (command) => {
    const a = cli(["help", command]);
    const b = cli([command, "--help"]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(new RegExp(`^usage: tilenet ${command}\\b`));
    expect(a.stdout).toContain("-h, --help");
    expect(b).toEqual(a);
  });

  it("fuzz --help names every registered fuzz target", () => {
    const r = cli(["fuzz", "--help"]);
    for (const name of fuzzTargets.names()) expect(r.stdout).toContain(name);
  });

  it("lists every command with the exit codes", () => {
    const r = cli(["--help"]);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
    expect(r.stdout).toContain("3 not running, 4 permission");
  });

  it("suggests the command or option meant (exit 2); with --json the error is JSON on stdout", () => {
    const typo = cli(["stauts"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("did you mean status?");
    const option = cli(["status", "--jsno"]);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("did you mean --json?");
    const json = cli(["status", "--json", "--instanse", "x"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({
      error: { code: 2, kind: "usage", message: expect.stringContaining("--instanse") },
    });
  });

  it("exit 3 with a JSON error for an instance that is not running", () => {
    const r = cli(["status", "--json", "--instance", "never-started-x1"]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 3, kind: "not-running" });
    expect(cli(["netbase", "show", "--instance", "never-started-x1"]).code).toBe(3);
  });

  it("--log-level is checked (exit 2, with a suggestion)", () => {
    const r = cli(["run", "--lab", "--log-level", "warning"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("did you mean warn?");
  });

  describe("configuration errors (exit 2) say where", () => {
    let dir = "";
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "tn-cfg-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const run = (text: string) => {
      const file = join(dir, "c.toml");
      writeFileSync(file, text);
      return { file, ...cli(["run", "--lab", "--config", file]) };
    };

    it("a TOML syntax error with line and column", () => {
      const r = run('[net]\nqueue = 0\nxdp_mode = "auto\n');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`${r.file}:3:\\d+: \\(syntax\\): expected valid TOML`));
    });

    it("an unknown key with its line and a did-you-mean", () => {
      const r = run('[instance]\nname = "x1"\n\n[net]\nqueue = 0\n  xdp_mod = "skb"\n');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${r.file}:6:3: net.xdp_mod: expected no such key (did you mean xdp_mode?)`);
    });

    it("a bad value inside the second [[app]] with its line", () => {
      const r = run('[[app]]\nname = "a"\nports = [7000]\n\n[[app]]\nname = "b"\nports = [70000]\n');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${r.file}:7:1: app[1].ports[0]`);
    });

    it("a non-loopback metrics address only with [metrics] allow_non_loopback = true", () => {
      const refused = run('[metrics]\nlisten = "0.0.0.0:9464"\n');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("allow_non_loopback = true");
      const flag = cli(["run", "--lab", "--metrics", "198.18.0.1:9464"]);
      expect(flag.code).toBe(2);
      expect(flag.stderr).toContain("loopback only");
      const optIn = validateConfig(parseToml('[metrics]\nallow_non_loopback = true\nlisten = "0.0.0.0:9464"\n'));
      expect(optIn.metrics.listen).toEqual({ host: "0.0.0.0", port: 9464 });
      expect(parseListen("[::1]:9464", "x")).toEqual({ host: "::1", port: 9464 });
    });
  });
});

describe.skipIf(!isRoot)(`tilenet with an instance running (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  let name = "";
  beforeAll(async () => {
    name = uniqueInstance("op");
    inst = await startInstance(name, ["--lab", "--log-level", "debug"]);
  });
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("list and list --json name it", () => {
    const text = cli(["list"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^${name} +${inst?.child.pid} `, "m"));
    const entries = JSON.parse(cli(["list", "--json"]).stdout) as { instance: string; tiles: unknown[] }[];
    expect(entries.find((e) => e.instance === name)?.tiles).toHaveLength(3);
  });

  it("a user other than root gets exit 4 (permission), not 'no instance'", () => {
    for (const args of [
      ["status"],
      ["status", "--instance", name],
      ["list"],
      ["netbase", "show", "--instance", name],
    ]) {
      const r = asNobody(args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain("root");
    }
    const json = asNobody(["status", "--json", "--instance", name]);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 4, kind: "permission" });
    expect(asNobody(["run", "--lab"]).code).toBe(4);
  });

  it("monitor --json streams one JSON object per refresh (NDJSON); the text view has a legend", () => {
    const r = cli(["monitor", "--json", "--iterations", "2", "--instance", name]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const frame = JSON.parse(line) as { instance: string; tiles: { name: string; heartbeat: string }[] };
      expect(frame.instance).toBe(name);
      expect(frame.tiles.map((t) => [t.name, t.heartbeat])).toEqual([
        ["netlink", "advancing"],
        ["net", "advancing"],
        ["echo", "advancing"],
      ]);
    }
    expect(cli(["monitor", "--iterations", "1", "--instance", name]).stdout).toContain("legend: HEART");
  });

  it("log lines are JSON off a terminal, with no key twice, at the level asked for", async () => {
    expect(status(name).code).toBe(0);
    const lines = inst?.logs ?? [];
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      expect(() => JSON.parse(line), line).not.toThrow();
      expect(duplicateKeys(line), line).toEqual([]);
    }
    expect(lines.some((l) => JSON.parse(l).level === 20)).toBe(true); // --log-level debug
  });
});

describe.skipIf(!isRoot)(`the launcher's logs (${ROOT_REASON})`, () => {
  it("on a terminal every line is human-readable, the launcher's own included", () => {
    const name = uniqueInstance("tty");
    const dir = mkdtempSync(join(tmpdir(), "tn-tty-"));
    try {
      const command = `'${process.execPath}' '${CLI}' run --lab --instance ${name} --duration 1`;
      const r = spawnSync("script", ["-qfec", command, join(dir, "typescript")], {
        encoding: "utf8",
        timeout: 30_000,
        env: { ...process.env, NO_COLOR: "1" },
      });
      expect(r.status).toBe(0);
      const lines = readFileSync(join(dir, "typescript"), "utf8")
        .split(/\r?\n/)
        .filter((l) => l.trim().length > 0);
      expect(lines.length).toBeGreaterThan(5);
      expect(lines.filter((l) => l.includes('{"'))).toEqual([]);
      expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[launcher:\d+\] all tiles running/.test(l))).toBe(true);
      expect(lines.some((l) => /\[echo:\d+\]/.test(l))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      // Only when something was left (a cleanup could race other tests' stopped instances).
      if (existsSync(`/run/tilenet/${name}`)) cli(["cleanup"]);
    }
  });

  it("a supervisor line about a tile names it as child/childPid, never a second tile or pid", async () => {
    const name = uniqueInstance("dup");
    const inst = await startInstance(name);
    try {
      // An app's death is supervised (restarted), the net tile's stops the instance: both say so.
      const tiles = status(name).report.tiles;
      const echo = tiles.find((t) => t.name === "echo");
      const net = tiles.find((t) => t.name === "net");
      process.kill(echo?.pid ?? 0, "SIGKILL");
      const deadline = Date.now() + 10_000;
      while (!inst.logs.some((l) => l.includes("restarting it")) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const restart = inst.logs.find((l) => l.includes("restarting it"));
      expect(JSON.parse(restart ?? "{}")).toMatchObject({ tile: "launcher", child: "echo", childPid: echo?.pid });
      process.kill(net?.pid ?? 0, "SIGKILL");
      expect((await inst.exit).code).toBe(1);
      const line = inst.logs.find((l) => l.includes("killed by SIGKILL; stopping"));
      expect(line).toBeDefined();
      expect(JSON.parse(line ?? "{}")).toMatchObject({ tile: "launcher", child: "net", childPid: net?.pid });
      for (const l of inst.logs) expect(duplicateKeys(l), l).toEqual([]);
    } finally {
      await forceCleanup(inst);
    }
  });
});
