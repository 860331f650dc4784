// `xdp_mode = "auto"` on an interface without native XDP (macvlan) falls back to generic (skb)
// mode visibly: a warning in the log with the kernel's answer, and the mode actually attached
// (with why) in the manifest, `status --json`, `status` text and `ip link`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../launcher/manifest";
import {
  cli,
  forceCleanup,
  isRoot,
  ROOT_REASON,
  type RunningInstance,
  startInstance,
  uniqueInstance,
} from "./support/launcher-harness";

describe.skipIf(!isRoot)(`an XDP fallback is visible (${ROOT_REASON})`, () => {
  let inst: RunningInstance | undefined;
  const name = uniqueInstance("fb");
  const ns = `tn-${name}-mv`;
  const dir = mkdtempSync(join(tmpdir(), "tn-fb-"));
  const ip = (...args: string[]): string => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });

  beforeAll(async () => {
    execFileSync("ip", ["netns", "add", ns]);
    ip("link", "add", "va", "type", "veth", "peer", "name", "vb");
    ip("link", "add", "link", "va", "name", "mv0", "type", "macvlan", "mode", "bridge");
    for (const dev of ["va", "vb", "mv0"]) ip("link", "set", dev, "up");
    ip("addr", "add", "198.18.21.1/24", "dev", "mv0");
    const config = join(dir, "c.toml");
    writeFileSync(
      config,
      `[net]\ninterface = "mv0"\nnetns = "/run/netns/${ns}"\nxdp_mode = "auto"\n\n[[app]]\nname = "echo"\nports = [7000]\n`,
    );
    inst = await startInstance(name, ["--config", config]);
  });
  afterAll(async () => {
    if (inst && inst.child.exitCode === null) {
      inst.child.kill("SIGTERM");
      await inst.exit;
    }
    await forceCleanup(inst);
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" }); // deletes va, vb, mv0 with it
    } catch {
      // never created (beforeAll failed first)
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("says skb, auto, and the kernel's refusal of drv everywhere", () => {
    const warn = inst?.logs.map((l) => JSON.parse(l)).find((r) => r.level === 40 && /native XDP/.test(r.msg));
    expect(warn?.reason).toMatch(/ENOTSUP|EOPNOTSUPP|not supported/i);
    const manifest = JSON.parse(readFileSync(`/run/tilenet/${name}/manifest.json`, "utf8")) as Manifest;
    expect(manifest.xdp).toMatchObject({ interface: "mv0", queue: 0, mode: "skb", requestedMode: "auto" });
    expect(manifest.xdp?.fallbackReason).toBe(warn?.reason);
    const json = JSON.parse(cli(["status", "--json", "--instance", name]).stdout) as { xdp?: unknown };
    expect(json.xdp).toEqual(manifest.xdp);
    expect(cli(["status", "--instance", name]).stdout).toContain("xdp: mv0 queue 0, skb mode (auto: drv refused: ");
    expect(ip("link", "show", "mv0")).toMatch(/xdpgeneric/);
  });
});
