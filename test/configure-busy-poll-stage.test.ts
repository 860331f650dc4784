// `tilenet configure` busy-poll stage on a veth in a namespace of its own: with [net]
// busy_poll_prefer = true, check reports napi_defer_hard_irqs and gro_flush_timeout (read through
// that namespace's sysfs), init sets them, fini restores the originals; without it the stage is
// skipped with the reason.
import { appendFileSync } from "node:fs";
import { afterEach, beforeEach, expect, it } from "vitest";
import { readNapiAttr } from "../launcher/napi-settings";
import { type ConfigureWorld, multiQueueVethWorld } from "./support/configure-world";
import { cli } from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

interface Report {
  stage: string;
  status: string;
  skipped?: string;
  differences: { key: string; have: unknown; want: unknown }[];
  actions: string[];
}

let world: ConfigureWorld;

function configure(action: string): { code: number | null; stage: Report | undefined } {
  const r = cli(["configure", action, "busy-poll", "--config", world.configFile, "--json"]);
  if (r.code !== 0 && r.code !== 1) throw new Error(`configure ${action}: exit ${r.code}: ${r.stderr}`);
  return { code: r.code, stage: (JSON.parse(r.stdout) as { stages: Report[] }).stages[0] };
}

function napi(): { defer: number; gro: number } {
  return {
    defer: readNapiAttr(world.dev, world.nsPath, "napiDeferHardIrqs"),
    gro: readNapiAttr(world.dev, world.nsPath, "groFlushTimeoutNs"),
  };
}

describeAsRoot("configure busy-poll on a veth (needs root: namespaces, sysfs)", () => {
  beforeEach(async () => {
    world = await multiQueueVethWorld("bp", 1);
  });
  afterEach(() => world.destroy());

  it("is skipped, with the reason, without busy_poll_prefer", () => {
    const r = configure("check");
    expect(r.code).toBe(0);
    expect(r.stage).toMatchObject({ status: "skipped", skipped: "[net] busy_poll_prefer is not set" });
  });

  it("with busy_poll_prefer: check differs, init sets 2 and 200000, fini restores the originals", () => {
    appendFileSync(world.configFile, "busy_poll_prefer = true\n");
    const original = napi();
    expect(original).toEqual({ defer: 0, gro: 0 });
    const check = configure("check");
    expect(check.code).toBe(1);
    expect(check.stage?.differences.map((d) => [d.key, d.have, d.want])).toEqual([
      ["napi.defer_hard_irqs", 0, 2],
      ["napi.gro_flush_timeout", 0, 200000],
    ]);
    const init = configure("init");
    expect(init.code).toBe(0);
    expect(init.stage?.actions).toEqual(["napi.defer_hard_irqs: 0 -> 2", "napi.gro_flush_timeout: 0 -> 200000"]);
    expect(napi()).toEqual({ defer: 2, gro: 200000 });
    expect(configure("check").code).toBe(0);
    const fini = configure("fini");
    expect(fini.code).toBe(0);
    expect(napi()).toEqual(original);
  });
});
