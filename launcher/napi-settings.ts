// The interface's napi_defer_hard_irqs and gro_flush_timeout, read at set-up for the manifest:
// SO_PREFER_BUSY_POLL relies on them (deferred interrupts leave the NAPI context to the busy
// poller). Read only, never written here: that is `tilenet configure`'s job.
import { execFileSync } from "node:child_process";
import { SysfsRoot } from "./sysfs";

export interface NapiSettings {
  deferHardIrqs: number | null;
  groFlushTimeoutNs: number | null;
}

const UNKNOWN: NapiSettings = { deferHardIrqs: null, groFlushTimeoutNs: null };

/** From the launcher's /sys when the interface is in its namespace; from a named namespace
 *  (/run/netns/NAME) through `ip netns exec`, which mounts that namespace's sysfs. Unreadable:
 *  nulls (status says unknown). */
export function readNapiSettings(ifname: string, netnsPath: string | undefined): NapiSettings {
  try {
    if (netnsPath === undefined) return fromSysfs(ifname);
    const name = /^\/run\/netns\/([A-Za-z0-9_.-]+)$/.exec(netnsPath)?.[1];
    if (name === undefined || !/^[A-Za-z0-9_.:-]{1,15}$/.test(ifname)) return UNKNOWN;
    const dir = `/sys/class/net/${ifname}`;
    const text = execFileSync(
      "ip",
      ["netns", "exec", name, "cat", `${dir}/napi_defer_hard_irqs`, `${dir}/gro_flush_timeout`],
      { encoding: "utf8", timeout: 2000, stdio: ["ignore", "pipe", "ignore"] },
    );
    const [defer, gro] = text.trim().split("\n").map(Number);
    return { deferHardIrqs: intOrNull(defer), groFlushTimeoutNs: intOrNull(gro) };
  } catch {
    return UNKNOWN;
  }
}

function fromSysfs(ifname: string): NapiSettings {
  const sys = SysfsRoot.open();
  try {
    const dev = sys.netDevice(ifname);
    try {
      return { deferHardIrqs: dev.read("napiDeferHardIrqs"), groFlushTimeoutNs: dev.read("groFlushTimeoutNs") };
    } finally {
      dev.close();
    }
  } finally {
    sys.close();
  }
}

function intOrNull(n: number | undefined): number | null {
  return n !== undefined && Number.isInteger(n) && n >= 0 ? n : null;
}
