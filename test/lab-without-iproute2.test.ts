// The README's main command on a machine without iproute2 or ethtool: `run --lab` builds its
// namespaces, veth pair, addresses and offload settings through the netstate library, so with a
// PATH that holds only node (no `ip`, no `ethtool`) a client in the peer namespace gets its echo,
// and everything is removed at stop.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  forceCleanup,
  isRoot,
  leftovers,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  uniqueInstance,
} from "./support/launcher-harness";

const ADDON = join(__dirname, "..", "build", "Release", "tilenet.node");

/** A UDP client run inside the namespace through the addon (not `ip netns exec`): resends
 *  every 200 ms until the echo comes back, at most 10 s. Prints the echo. */
const CLIENT = `
const m = { exports: {} };
process.dlopen(m, process.argv[1]);
m.exports.netnsEnter(process.argv[2]);
const s = require("dgram").createSocket("udp4");
const resend = setInterval(() => s.send("no-iproute2", 7000, "198.18.0.1"), 200);
const give = setTimeout(() => { console.log("no echo"); process.exit(1); }, 10000);
s.on("message", (m) => { console.log("echo " + m); clearInterval(resend); clearTimeout(give); s.close(); });
`;

describe.skipIf(!isRoot)(`run --lab needs neither ip nor ethtool (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  const bin = mkdtempSync(join(tmpdir(), "tn-nopath-"));
  afterAll(async () => {
    await forceCleanup(inst);
    rmSync(bin, { recursive: true, force: true });
  });

  it("serves the echo with a PATH holding only node", async () => {
    symlinkSync(process.execPath, join(bin, "node"));
    const probe = spawnSync("/bin/sh", ["-c", "command -v ip || command -v ethtool || echo none"], {
      env: { PATH: `/nonexistent:${bin}` },
      encoding: "utf8",
    });
    expect(probe.stdout.trim()).toBe("none");
    const name = uniqueInstance("noip");
    const savedPath = process.env.PATH;
    process.env.PATH = `/nonexistent:${bin}`;
    try {
      inst = await startInstance(name, ["--lab", "--duration", "30"]);
    } finally {
      process.env.PATH = savedPath;
    }
    const client = spawnSync(process.execPath, ["-e", CLIENT, ADDON, `/run/netns/tn-${name}-peer`], {
      encoding: "utf8",
      timeout: 15_000,
    });
    expect(client.stdout.trim()).toBe("echo no-iproute2");
    inst.child.kill("SIGTERM");
    const { code } = await inst.exit;
    expect(code).toBe(0);
    expect(leftovers(name, [])).toEqual([]);
    expect(inst.logs.join("\n")).not.toMatch(/ethtool|ENOENT/);
  });
});
