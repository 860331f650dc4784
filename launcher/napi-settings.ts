// The interface's napi_defer_hard_irqs and gro_flush_timeout: SO_PREFER_BUSY_POLL relies on them
// (deferred interrupts leave the NAPI context to the busy poller). The launcher reads them at
// set-up for the manifest and never writes them; `tilenet configure`'s busy-poll stage does.
import { execFileSync } from "node:child_process";
import { checkInterfaceName, NET_DEVICE_ATTRS, SysfsRoot } from "./sysfs";

export interface NapiSettings {
  deferHardIrqs: number | null;
  groFlushTimeoutNs: number | null;
}

export type NapiAttr = "napiDeferHardIrqs" | "groFlushTimeoutNs";

/** The namespace name of /run/netns/NAME (what `ip netns exec` takes), else undefined. */
function netnsName(netnsPath: string): string | undefined {
  return /^\/run\/netns\/([A-Za-z0-9_.-]+)$/.exec(netnsPath)?.[1];
}

/** Sysfs shows the namespace it was mounted in: the launcher's /sys for its own interfaces; for a
 *  named namespace `ip netns exec`, which mounts that namespace's sysfs for the command it runs. */
function viaNetns(netnsPath: string, ifname: string, attr: NapiAttr, argv: string[], input?: string): string {
  const name = netnsName(netnsPath);
  if (name === undefined) throw new Error(`${netnsPath}: not a named namespace (/run/netns/NAME)`);
  const file = `/sys/class/net/${checkInterfaceName(ifname)}/${NET_DEVICE_ATTRS[attr].file}`;
  return execFileSync("ip", ["netns", "exec", name, ...argv, file], {
    encoding: "utf8",
    timeout: 5000,
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
}

export function readNapiAttr(ifname: string, netnsPath: string | undefined, attr: NapiAttr): number {
  if (netnsPath !== undefined) {
    const n = Number(viaNetns(netnsPath, ifname, attr, ["cat"]).trim());
    if (!Number.isInteger(n) || n < 0) throw new Error(`${ifname} ${attr}: not a count`);
    return n;
  }
  return withNetDevice(ifname, (dev) => dev.read(attr));
}

export function writeNapiAttr(ifname: string, netnsPath: string | undefined, attr: NapiAttr, value: number): void {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${attr}: ${value} is not a count`);
  if (netnsPath !== undefined) viaNetns(netnsPath, ifname, attr, ["tee"], `${value}\n`);
  else withNetDevice(ifname, (dev) => dev.write(attr, value));
}

function withNetDevice<T>(ifname: string, fn: (dev: ReturnType<SysfsRoot["netDevice"]>) => T): T {
  const sys = SysfsRoot.open();
  try {
    const dev = sys.netDevice(ifname);
    try {
      return fn(dev);
    } finally {
      dev.close();
    }
  } finally {
    sys.close();
  }
}

/** Both, for the manifest; null for what cannot be read (status says unknown). */
export function readNapiSettings(ifname: string, netnsPath: string | undefined): NapiSettings {
  const read = (attr: NapiAttr): number | null => {
    try {
      return readNapiAttr(ifname, netnsPath, attr);
    } catch {
      return null;
    }
  };
  return { deferHardIrqs: read("napiDeferHardIrqs"), groFlushTimeoutNs: read("groFlushTimeoutNs") };
}
