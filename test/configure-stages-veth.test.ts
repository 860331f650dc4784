// `tilenet configure` on a real multi-queue veth in a namespace of its own: check reports what
// differs (exit 1), init makes it so (check then exits 0, a second init changes nothing), fini
// puts back exactly the original values (check then reports the original differences again),
// and a value the operator changed after init is left alone by fini.
import { existsSync } from "node:fs";
import { afterEach, beforeEach, expect, it } from "vitest";
import { statePath } from "../launcher/configure/state";
import { NetState } from "../shared/netstate";
import { type ConfigureWorld, multiQueueVethWorld } from "./support/configure-world";
import { cli } from "./support/launcher-harness";
import { describeAsRoot } from "./support/root";

interface Report {
  stage: string;
  status: string;
  skipped?: string;
  differences: { key: string; have: unknown; want: unknown }[];
  actions: string[];
  notes: string[];
}

let world: ConfigureWorld;

function configure(action: string, stages: string[] = []): { code: number | null; stages: Report[] } {
  const r = cli(["configure", action, ...stages, "--config", world.configFile, "--json"]);
  if (r.code !== 0 && r.code !== 1) throw new Error(`configure ${action}: exit ${r.code}: ${r.stderr}`);
  return { code: r.code, stages: (JSON.parse(r.stdout) as { stages: Report[] }).stages };
}

async function nicState(): Promise<{ rx?: number; tx?: number; features: Record<string, boolean> }> {
  return NetState.in(world.ns, async (s) => {
    const ch = await s.getChannels(world.dev);
    const features = Object.fromEntries((await s.getFeatures(world.dev)).map((f) => [f.name, f.active]));
    return { rx: ch.rxCount, tx: ch.txCount, features };
  });
}

describeAsRoot("configure channels and offloads on a 4-queue veth (needs root: namespaces, ethtool)", () => {
  beforeEach(async () => {
    world = await multiQueueVethWorld("cfg", 4);
  });
  afterEach(() => world.destroy());

  it("check differs, init makes it so, fini restores the originals exactly", async () => {
    const original = await nicState();
    expect(original).toMatchObject({ rx: 4, tx: 4 });
    const first = configure("check", ["channels", "offloads"]);
    expect(first.code).toBe(1);
    const keys = first.stages.flatMap((s) => s.differences.map((d) => d.key));
    expect(keys).toEqual(expect.arrayContaining(["channels.rx", "channels.tx", "feature.tx-checksum-ip-generic"]));

    const init = configure("init", ["channels", "offloads"]);
    expect(init.code).toBe(0);
    const after = await nicState();
    expect(after).toMatchObject({ rx: 1, tx: 1 });
    expect(after.features["tx-checksum-ip-generic"]).toBe(false);
    expect(configure("check", ["channels", "offloads"]).code).toBe(0);
    const again = configure("init", ["channels", "offloads"]);
    expect(again.stages.flatMap((s) => s.actions)).toEqual([]);
    expect(existsSync(statePath(world.dev, world.nsPath))).toBe(true);

    const fini = configure("fini", ["channels", "offloads"]);
    expect(fini.code).toBe(0);
    expect(await nicState()).toEqual(original);
    expect(existsSync(statePath(world.dev, world.nsPath))).toBe(false);
    const last = configure("check", ["channels", "offloads"]);
    expect(last.code).toBe(1);
    expect(last.stages).toEqual(first.stages);
  });

  it("fini leaves a value the operator changed after init, and restores the rest", async () => {
    expect(configure("init", ["channels"]).code).toBe(0);
    await NetState.in(world.ns, (s) => s.setChannels(world.dev, { rxCount: 2 }));
    const fini = configure("fini", ["channels"]);
    expect(fini.stages[0]?.actions.join("\n")).toMatch(/channels\.rx: left at 2 \(changed since init/);
    expect(await nicState()).toMatchObject({ rx: 2, tx: 4 });
  });

  it("check of every stage reads the real /sys and /proc, changes nothing, and skips irq-affinity on veth", async () => {
    const before = await nicState();
    const r = configure("check");
    expect(r.stages.map((s) => s.stage)).toEqual([
      "driver",
      "channels",
      "offloads",
      "sysctl",
      "irq-affinity",
      "busy-poll",
      "hugetlbfs",
    ]);
    expect(r.stages.find((s) => s.stage === "irq-affinity")).toMatchObject({
      status: "skipped",
      skipped: expect.stringMatching(/no PCI device behind cfg0 \(driver veth\)/),
    });
    expect(r.stages.find((s) => s.stage === "hugetlbfs")?.notes.join("\n")).toMatch(/pages of 2 MiB/);
    expect(await nicState()).toEqual(before);
    const text = cli(["configure", "check", "channels", "--config", world.configFile]);
    expect(text.stdout).toMatch(/^channels: differs\n {2}channels\.rx: 4, needs 1 \(/);
  });

  it("driver reports veth without changing anything", () => {
    const r = configure("check", ["driver"]);
    expect(r.code).toBe(0);
    expect(r.stages[0]?.notes.join("\n")).toMatch(/driver veth/);
    expect(r.stages[0]?.notes.join("\n")).toMatch(/not bifurcated/);
  });
});
