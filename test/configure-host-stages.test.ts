// The configure stages that go through the sysfs layer, on a lookalike /sys and /proc: sysctl
// raises net.core.rmem_max to [netlink] rcvbuf_bytes and fini puts the original back;
// irq-affinity lists a PCI NIC's MSI IRQs with their CPUs (and skips a device without PCI);
// hugetlbfs sizes the pool from the topology, mounts a real hugetlbfs (root) on a temp dir, and
// fini unmounts it and restores the pool.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defaultConfig } from "../launcher/config";
import { hugetlbfsStage, irqAffinityStage, isHugetlbfsMount, sysctlStage } from "../launcher/configure/host-stages";
import { checkStage, finiStage, initStage } from "../launcher/configure/run";
import { hugepagesNeeded } from "../launcher/configure/sizing";
import type { ConfigureContext } from "../launcher/configure/stage";
import type { ConfigureState } from "../launcher/configure/state";
import { ProcRoot, SysfsRoot } from "../launcher/sysfs";
import type { NetState } from "../shared/netstate";
import { type FakeTree, makeFakeTree } from "./support/fake-sysfs";
import { describeAsRoot } from "./support/root";

let tree: FakeTree;
let ctx: ConfigureContext;
let mountDir: string;

/** Only what the host stages ask the netstate session: the driver's bus address. */
function fakeNet(driver: string, busInfo: string): NetState {
  const info = { driver, busInfo, version: "", firmwareVersion: "", expansionRomVersion: "" };
  return { getDriverInfo: async () => info } as unknown as NetState;
}

beforeEach(() => {
  tree = makeFakeTree();
  mountDir = mkdtempSync(join(tmpdir(), "tilenet-hugetlbfs-"));
  const config = defaultConfig();
  config.net.interfaces = ["eth9"];
  const sys = SysfsRoot.open(tree.root, false);
  const proc = ProcRoot.open(tree.root, false);
  ctx = { config, ifname: "eth9", net: fakeNet("ice", "0000:3b:00.0"), sys, proc, hugetlbfsDir: mountDir };
});
afterEach(() => {
  ctx.sys.close();
  ctx.proc.close();
  // A failed test may leave the mount: never leave it behind.
  if (isHugetlbfsMount(mountDir)) execFileSync("umount", [mountDir]);
  rmSync(mountDir, { recursive: true, force: true });
  tree.remove();
});

const emptyState = (): ConfigureState => ({ interface: "eth9", changes: [] });

describe("sysctl and irq-affinity on a lookalike tree", () => {
  it("sysctl: rmem_max raised to rcvbuf_bytes by init, restored by fini", async () => {
    tree.file("sys/net/core/rmem_max", "212992\n");
    const check = await checkStage(ctx, sysctlStage);
    expect(check.differences).toMatchObject([{ key: "net.core.rmem_max", have: 212992, want: 8 << 20 }]);
    const state = emptyState();
    expect((await initStage(ctx, sysctlStage, state)).status).toBe("ok");
    expect(readFileSync(join(tree.root, "sys/net/core/rmem_max"), "utf8")).toBe(String(8 << 20));
    await finiStage(ctx, sysctlStage, state);
    expect(readFileSync(join(tree.root, "sys/net/core/rmem_max"), "utf8")).toBe("212992");
    expect(state.changes).toEqual([]);
  });

  it("sysctl: a larger rmem_max set by the operator is fine as it is", async () => {
    tree.file("sys/net/core/rmem_max", `${64 << 20}\n`);
    expect((await checkStage(ctx, sysctlStage)).status).toBe("ok");
  });

  it("irq-affinity: the PCI device's MSI IRQs and their CPUs", async () => {
    tree.file("devices/pci0000:3a/0000:3b:00.0/msi_irqs/40", "msix\n");
    tree.file("devices/pci0000:3a/0000:3b:00.0/msi_irqs/41", "msix\n");
    tree.link("bus/pci/devices/0000:3b:00.0", "../../../devices/pci0000:3a/0000:3b:00.0");
    tree.file("irq/40/smp_affinity_list", "0-1\n");
    tree.file("irq/41/smp_affinity_list", "1\n");
    const r = await checkStage(ctx, irqAffinityStage);
    expect(r.status).toBe("ok");
    expect(r.notes).toEqual(expect.arrayContaining(["IRQ 40: CPUs 0,1", "IRQ 41: CPUs 1"]));
  });

  it("irq-affinity: skipped, with the reason, for a device without PCI (veth)", async () => {
    ctx.net = fakeNet("veth", "");
    const r = await checkStage(ctx, irqAffinityStage);
    expect(r).toMatchObject({
      status: "skipped",
      skipped: expect.stringMatching(/no PCI device behind eth9 \(driver veth\)/),
    });
  });
});

describeAsRoot("hugetlbfs stage (needs root: mounts a hugetlbfs on a temp dir)", () => {
  it("reserves the topology's pages in the pool, mounts, and fini undoes both", async () => {
    tree.file("kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
    const { pages } = hugepagesNeeded(ctx.config, "eth9");
    expect(pages).toBeGreaterThanOrEqual(4); // UMEM alone is 8 MiB with the defaults
    expect((await checkStage(ctx, hugetlbfsStage)).differences.map((d) => d.key)).toEqual([
      "hugepages.nr_hugepages",
      "hugetlbfs.mounted",
    ]);
    const state = emptyState();
    expect((await initStage(ctx, hugetlbfsStage, state)).status).toBe("ok");
    expect(isHugetlbfsMount(mountDir)).toBe(true);
    expect(readFileSync(join(tree.root, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "utf8")).toBe(
      String(pages),
    );
    expect((await checkStage(ctx, hugetlbfsStage)).status).toBe("ok");
    await finiStage(ctx, hugetlbfsStage, state);
    expect(isHugetlbfsMount(mountDir)).toBe(false);
    expect(readFileSync(join(tree.root, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "utf8")).toBe("0");
  });
});
