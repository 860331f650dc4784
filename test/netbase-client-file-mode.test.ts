// netbase for any process, permission by file mode: a lab instance whose config names
// [netbase] readers_group = "nogroup" publishes netbase as a file of mode 0640 root:nogroup; a
// NON-root process (uid 65534, gid nogroup, as a tile-like account) opens it by instance name,
// looks up a route, waits for a change the test makes with the library and sees it promptly
// (the netlink tile wakes the futex). The same uid with another gid gets EACCES, clearly said.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { groupIdOf, RegionSet } from "../launcher/regions";
import { NetState } from "../shared/netstate";
import {
  forceCleanup,
  isRoot,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  uniqueInstance,
} from "./support/launcher-harness";

const LIBRARY = join(__dirname, "..", "dist", "netstate.js");
const NOBODY = 65534;
const NOGROUP = 65534;
const USERS_GID = 100;

const READER = `
const { NetbaseClient } = require(process.argv[1]);
const out = (o) => console.log(JSON.stringify(o));
let nb;
try {
  nb = NetbaseClient.open(process.argv[2]);
} catch (e) {
  out({ error: e.message, code: e.code });
  process.exit(0);
}
const since = nb.generation();
out({ uid: process.getuid(), route: nb.lookupRoute("198.18.0.2") });
// The event loop stays live while waiting: a timer fires during the wait.
let ticks = 0;
const tick = setInterval(() => {
  if (++ticks === 5) out({ waiting: true, generationUnchanged: nb.generation() === since });
}, 10);
nb.waitForChange(since, 15000).then((g) => {
  clearInterval(tick);
  out({ changed: g !== undefined, atMs: Date.now(), ticks, added: nb.lookupRoute("198.18.77.1") });
});
`;

function runReader(instance: string, gid: number): { child: ChildProcess; lines: Record<string, unknown>[] } {
  const child = spawn(process.execPath, ["-e", READER, LIBRARY, instance], {
    uid: NOBODY,
    gid,
    cwd: "/",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  let partial = "";
  child.stdout?.on("data", (c: Buffer) => {
    partial += c.toString();
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const l of parts) if (l.startsWith("{")) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  return { child, lines };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!isRoot)(`netbase by file mode for a non-root process (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
  });

  it("publishes root-only (0600) by default, 0640 to the readers group, and never over an existing file", () => {
    const dir = mkdtempSync(join(tmpdir(), "tn-nbpub-"));
    const regions = new RegionSet(
      "t",
      new Map([
        ["private", { path: join(dir, "private") }],
        ["shared", { path: join(dir, "shared"), readersGid: groupIdOf("nogroup") }],
      ]),
    );
    try {
      regions.create("private", "netbase", 8192);
      regions.create("shared", "netbase", 8192);
      const mode = (f: string): [number, number, number] => {
        const st = statSync(join(dir, f));
        return [st.mode & 0o777, st.gid, st.size];
      };
      expect(mode("private")).toEqual([0o600, 0, 8192]);
      expect(mode("shared")).toEqual([0o640, NOGROUP, 8192]);
      const again = new RegionSet("t", new Map([["private", { path: join(dir, "private") }]]));
      expect(() => again.create("private", "netbase", 8192)).toThrow(/EEXIST/);
      expect(() => groupIdOf("no-such-group-here")).toThrow(/readers_group/);
    } finally {
      regions.closeAll();
    }
  });

  it("lets the readers group open, look up and wait; refuses anyone else with EACCES", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tn-nbmode-"));
    const config = join(dir, "tilenet.toml");
    writeFileSync(config, `[netbase]\nreaders_group = "nogroup"\n`);
    const name = uniqueInstance("nbm");
    inst = await startInstance(name, ["--lab", "--config", config]);
    const runDir = join(process.env.TILENET_RUN_ROOT || "/run/tilenet", name);
    const file = statSync(join(runDir, "netbase"));
    expect({ mode: file.mode & 0o777, uid: file.uid, gid: file.gid }).toEqual({ mode: 0o640, uid: 0, gid: NOGROUP });
    expect(statSync(runDir).mode & 0o777).toBe(0o710);

    const denied = runReader(name, USERS_GID);
    await until(() => denied.lines.length > 0, 10_000, "the refused reader");
    expect(denied.lines[0]).toMatchObject({ code: "EACCES" });
    expect(String(denied.lines[0]?.error)).toMatch(/permission denied .*readers_group/);

    const reader = runReader(name, NOGROUP);
    const exit = new Promise<number | null>((resolve) => reader.child.once("exit", resolve));
    await until(() => reader.lines.length > 0, 10_000, "the reader's first lookup");
    expect(reader.lines[0]).toMatchObject({ uid: NOBODY, route: { nexthop: "198.18.0.2" } });
    // Timers run while the reader waits: its event loop is not blocked by the futex sleep.
    await until(() => reader.lines.length > 1, 10_000, "the waiting reader's timer");
    expect(reader.lines[1]).toEqual({ waiting: true, generationUnchanged: true });
    await NetState.in(`tn-${name}-tile`, (ns) => ns.addRoute({ dst: "198.18.77.0/24", gateway: "198.18.0.2" }));
    const changedAt = Date.now();
    expect(await exit).toBe(0);
    const woke = reader.lines[2] as { changed: boolean; atMs: number; ticks: number; added: { gateway: string } };
    expect(woke.changed).toBe(true);
    expect(woke.added.gateway).toBe("198.18.0.2");
    console.log(`[netbase-file-mode] change seen by the non-root reader ${woke.atMs - changedAt} ms after the ack`);
    expect(woke.atMs - changedAt).toBeLessThan(300);
  }, 60_000);
});
