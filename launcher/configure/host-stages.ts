// The stages that write through the sysfs layer (/sys and /proc/sys): sysctls, IRQ affinity and
// the huge page pool with its hugetlbfs mount.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { checkPciAddress } from "../sysfs";
import { driverOf } from "./nic-stages";
import { hugepagesNeeded } from "./sizing";
import { type ConfigureContext, type Plan, type Setting, type Stage, showValue, type Value } from "./stage";

function sysctlSetting(ctx: ConfigureContext, key: string): Setting | undefined {
  if (key !== "net.core.rmem_max") return undefined;
  return {
    key,
    read: async () => withDir(ctx.proc.sysctls(), (d) => d.read(key)),
    write: async (v: Value) => withDir(ctx.proc.sysctls(), (d) => d.write(key, Number(v))),
  };
}

function withDir<D extends { close(): void }, T>(dir: D, fn: (d: D) => T): T {
  try {
    return fn(dir);
  } finally {
    dir.close();
  }
}

/** The netlink tile's socket asks for [netlink] rcvbuf_bytes with SO_RCVBUFFORCE, which root
 *  gets whatever rmem_max says; without CAP_NET_ADMIN it falls back to SO_RCVBUF, capped at
 *  rmem_max, and a small buffer means ENOBUFS and full resyncs under churn. Busy polling is per
 *  socket ([net] busy_poll_*, set by the launcher), so net.core.busy_poll and busy_read are left alone. */
export const sysctlStage: Stage = {
  name: "sysctl",
  summary: "net.core.rmem_max at least [netlink] rcvbuf_bytes (/proc/sys)",
  async plan(ctx): Promise<Plan> {
    const notes = ["busy polling: the net tile does not use SO_BUSY_POLL; busy_poll and busy_read are left alone"];
    if (!ctx.config.netlink.enabled) return { skipped: "[netlink] enabled = false", wants: [], notes };
    const setting = sysctlSetting(ctx, "net.core.rmem_max");
    if (!setting) return { wants: [], notes };
    const why = "the netlink socket's buffer without SO_RCVBUFFORCE is capped by it";
    return { wants: [{ setting, want: ctx.config.netlink.rcvbufBytes, atLeast: true, why }], notes };
  },
  setting: sysctlSetting,
};

/** Reports where the NIC's IRQs are delivered. Nothing is set: the config does not place tiles on
 *  CPUs yet, so there is no CPU to keep interrupts off or on. */
export const irqAffinityStage: Stage = {
  name: "irq-affinity",
  summary: "report the PCI NIC's IRQs and their CPUs (veth and other virtual devices: skipped)",
  async plan(ctx): Promise<Plan> {
    const info = await driverOf(ctx);
    let address: string;
    try {
      address = checkPciAddress(info.busInfo);
    } catch {
      return {
        skipped: `no PCI device behind ${ctx.ifname} (driver ${info.driver || "none"}): no IRQs of its own`,
        wants: [],
        notes: [],
      };
    }
    const irqs = withDir(ctx.sys.pciDevice(address), (pci) => pci.listNumbers("msi_irqs"));
    const notes = irqs.map((n) => {
      const cpus = withDir(ctx.proc.irq(n), (irq) => irq.read("affinity"));
      return `IRQ ${n}: CPUs ${showValue(cpus)}`;
    });
    notes.push("nothing set: the config does not pin tiles to CPUs yet");
    return { wants: [], notes };
  },
  setting: () => undefined,
};

/** True when dir is a hugetlbfs mount point of this mount namespace. */
export function isHugetlbfsMount(dir: string): boolean {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    // "<id> <parent> <dev> <root> <mount point> <options> [optional...] - <fstype> <source> <super options>"
    const [left, right] = line.split(" - ");
    if (left?.split(" ")[4] === dir && right?.split(" ")[0] === "hugetlbfs") return true;
  }
  return false;
}

function hugetlbfsSetting(ctx: ConfigureContext, key: string): Setting | undefined {
  if (key === "hugepages.nr_hugepages")
    return {
      key,
      read: async () => withDir(ctx.sys.hugepages2MiB(), (d) => d.read("nrHugepages")),
      write: async (v: Value) => withDir(ctx.sys.hugepages2MiB(), (d) => d.write("nrHugepages", Number(v))),
    };
  if (key === "hugetlbfs.mounted")
    return {
      key,
      read: async () => isHugetlbfsMount(ctx.hugetlbfsDir),
      write: async (v: Value) => {
        // util-linux mount(8): the addon stays thin, and this runs once at set-up.
        if (v === true) {
          mkdirSync(ctx.hugetlbfsDir, { recursive: true, mode: 0o700 });
          const options = "pagesize=2M,mode=0711"; // search, no listing: readers_group members reach netbase through its symlink
          execFileSync("mount", ["-t", "hugetlbfs", "-o", options, "tilenet-hugetlbfs", ctx.hugetlbfsDir]);
        } else execFileSync("umount", [ctx.hugetlbfsDir]);
      },
    };
  return undefined;
}

export const hugetlbfsStage: Stage = {
  name: "hugetlbfs",
  summary: "reserve 2 MiB huge pages for the instance's regions, mount hugetlbfs at /run/tilenet/.hugetlbfs",
  async plan(ctx): Promise<Plan> {
    const { pages, estimate } = hugepagesNeeded(ctx.config, ctx.ifname);
    const pool = hugetlbfsSetting(ctx, "hugepages.nr_hugepages");
    const mount = hugetlbfsSetting(ctx, "hugetlbfs.mounted");
    if (!pool || !mount) return { wants: [], notes: [] };
    const notes = [`${pages} pages of 2 MiB (${pages * 2} MiB) for netbase, rings, channels and UMEM${estimate}`];
    return {
      wants: [
        { setting: pool, want: pages, atLeast: true, why: "the instance's regions, each rounded up to 2 MiB" },
        { setting: mount, want: true, why: `the regions' files live at ${ctx.hugetlbfsDir}` },
      ],
      notes,
    };
  },
  setting: hugetlbfsSetting,
};
