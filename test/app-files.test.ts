// Read-only data files for apps (`[[app]] files = { key = "/path" }`): the config validates them
// naming the key, the launcher reads them with O_NOFOLLOW, refuses anything but a regular file and
// bounds the size; a real sandboxed app tile gets the bytes as app.files.KEY (never a path), and
// randomness (node:crypto, Web Crypto) and timers work inside its sandbox.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { APP_FILE_MAX_BYTES, readAppFile, readAppFiles } from "../launcher/app-files";
import { ConfigError, validateConfig } from "../launcher/config";
import {
  cli,
  forceCleanup,
  isRoot,
  leftovers,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  status,
  uniqueInstance,
} from "./support/launcher-harness";

const dir = mkdtempSync(join(tmpdir(), "tilenet-app-files-"));
const regular = join(dir, "zone");
writeFileSync(regular, "hello zone\n");

function configError(app: Record<string, unknown>): ConfigError {
  try {
    validateConfig({ app: [{ name: "a", ports: [53], ...app }] });
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("config accepted");
}

describe("[[app]] files: config validation", () => {
  it("accepts a table of absolute paths", () => {
    const c = validateConfig({ app: [{ name: "a", ports: [53], files: { zone: "/etc/z", keys_2: "/k" } }] });
    expect(c.apps[0]?.files).toEqual({ zone: "/etc/z", keys_2: "/k" });
  });

  it.each([
    [{ files: "/etc/z" }, "app[0].files", /a table of files/],
    [{ files: { zone: "relative/z" } }, "app[0].files.zone", /an absolute path/],
    [{ files: { zone: 7 } }, "app[0].files.zone", /an absolute path/],
    [{ files: { "Bad-Key": "/z" } }, "app[0].files.Bad-Key", /a-z, 0-9 and '_'/],
  ])("refuses %j naming %s", (app, key, expected) => {
    const e = configError(app);
    expect(e.key).toBe(key);
    expect(e.message).toMatch(expected);
  });
});

describe("[[app]] files: the launcher's read", () => {
  it("reads a regular file's bytes", () => {
    expect(Buffer.from(readAppFile(regular, "k")).toString()).toBe("hello zone\n");
    expect(Object.keys(readAppFiles({ zone: regular }, "app[0].files"))).toEqual(["zone"]);
  });

  it.each([
    [
      "a symbolic link",
      () => {
        const link = join(dir, "link");
        symlinkSync(regular, link);
        return link;
      },
      /symbolic link/,
    ],
    [
      "a FIFO (without blocking)",
      () => {
        const fifo = join(dir, "fifo");
        execFileSync("mkfifo", [fifo]);
        return fifo;
      },
      /got "a FIFO"/,
    ],
    ["a device", () => "/dev/zero", /got "a device"/],
    ["a directory", () => dir, /got "a directory"/],
    ["a missing file", () => join(dir, "missing"), /ENOENT/],
    [
      "a file over the size limit",
      () => {
        const big = join(dir, "big");
        writeFileSync(big, "");
        truncateSync(big, APP_FILE_MAX_BYTES + 1);
        return big;
      },
      /at most 16777216 bytes/,
    ],
  ])("refuses %s, naming the key", (_what, make, expected) => {
    const path = make();
    let err: unknown;
    try {
      readAppFile(path, "app[0].files.zone");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^config: app\[0\]\.files\.zone: /);
    expect((err as ConfigError).message).toMatch(expected);
  });
});

describe.skipIf(!isRoot)(`files, randomness and timers in a real app tile (${ROOT_REASON})`, () => {
  it("the tile gets the file's bytes; crypto and timers work under its filter", async () => {
    const data = join(dir, "data.bin");
    const bytes = Buffer.alloc(300_000, 0);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    writeFileSync(data, bytes, { mode: 0o600 }); // readable by root only: the tile never opens it
    const module = join(__dirname, "fixtures", "apps", "files-random-timers.js");
    const config = join(dir, "files.toml");
    writeFileSync(config, `[[app]]\nname = "f"\nmodule = "${module}"\nports = [7000]\nfiles = { data = "${data}" }\n`);
    const name = uniqueInstance("fi");
    let inst: RunningInstance | undefined;
    try {
      inst = await startInstance(name, ["--lab", "--config", config]);
      const { report } = status(name);
      const peerNs = report.lab?.peerNetns ?? "";
      // Resend until answered (the first reply may meet an unknown MAC); the second report is asked
      // for 200 ms after the first arrived, so the timers have run in between.
      const script =
        "const d=require('dgram').createSocket('udp4');const got=[];let t;let second=false;" +
        "const ask=()=>{clearInterval(t);d.send('report',7000,'198.18.0.1');t=setInterval(()=>d.send('report',7000,'198.18.0.1'),300)};" +
        "d.on('message',(m)=>{if(got.length===1&&!second)return;clearInterval(t);got.push(JSON.parse(''+m));" +
        "if(got.length===2){console.log(JSON.stringify(got));process.exit(0)}setTimeout(()=>{second=true;ask()},200)});" +
        "d.bind(0,ask);" +
        "setTimeout(()=>{console.log(JSON.stringify(got));process.exit(1)},8000);";
      const r = spawnSync("ip", ["netns", "exec", peerNs, process.execPath, "-e", script], { encoding: "utf8" });
      const [first, second] = JSON.parse(r.stdout) as Record<string, unknown>[];
      const sum = bytes.reduce((s, b) => (s + b) % 65521, 0);
      expect(first).toMatchObject({ fileKeys: ["data"], fileBytes: 300_000, fileSum: sum, isUint8Array: true });
      expect(first?.timeoutFired).toBe(true);
      expect(second?.ticks as number).toBeGreaterThan(first?.ticks as number);
      for (const key of ["randomBytes", "getRandomValues"]) {
        expect(first?.[key]).toMatch(/^[0-9a-f]{32}$/);
        expect(first?.[key]).not.toBe(second?.[key]);
      }
      expect(first?.randomUUID).toMatch(/^[0-9a-f-]{36}$/);
      const app = status(name).report.tiles.find((t) => t.name === "f");
      expect(app?.state).toBe("running");
      expect(app?.sandbox?.seccomp).toBe(2);
    } finally {
      if (inst && inst.child.exitCode === null) {
        inst.child.kill("SIGTERM");
        await inst.exit;
      }
      await forceCleanup(inst);
    }
  }, 60_000);

  it("a FIFO named as an app file stops `tilenet run` with exit 2 naming the key, leaving nothing behind", () => {
    const fifo = join(dir, "run-fifo");
    execFileSync("mkfifo", [fifo]);
    const config = join(dir, "fifo.toml");
    writeFileSync(
      config,
      `[[app]]\nname = "dns"\nmodule = "builtin:dns"\nports = [53]\nfiles = { zone = "${fifo}" }\n`,
    );
    const name = uniqueInstance("ff");
    const r = cli(["run", "--lab", "--instance", name, "--config", config], 30_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/app\[0\]\.files\.zone: expected a regular file at .*, got .*a FIFO/);
    expect(leftovers(name, [])).toEqual([]);
  }, 40_000);
});
