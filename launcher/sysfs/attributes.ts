// The attributes the layer knows: each has a file name fixed here, a kind that says how its text
// is parsed and rendered, and whether it may be written. Callers name an attribute by key; they
// never hand the layer a path.
import { SysfsError } from "./names";

export type AttrKind =
  | { kind: "int"; min: number; max: number }
  | { kind: "enum"; values: readonly string[] }
  /** A CPU list such as "0-3,6" (the *_list files). */
  | { kind: "cpulist" }
  /** Free text, read-only (driver or device ids). */
  | { kind: "string" };

export interface AttrSpec {
  /** File name beneath the handle's directory (fixed here; may contain '/' for /proc/sys keys). */
  file: string;
  type: AttrKind;
  writable: boolean;
}

export type AttrValue<S extends AttrSpec> = S["type"] extends { kind: "int" }
  ? number
  : S["type"] extends { kind: "cpulist" }
    ? number[]
    : string;

const int = (min: number, max: number) => ({ kind: "int", min, max }) as const;
const ro = <T extends AttrKind>(file: string, type: T) => ({ file, type, writable: false }) as const;
const rw = <T extends AttrKind>(file: string, type: T) => ({ file, type, writable: true }) as const;
const U32 = 0xffff_ffff;
const INT_MAX = 0x7fff_ffff;

/** /sys/class/net/<interface>/ */
export const NET_DEVICE_ATTRS = {
  mtu: ro("mtu", int(0, U32)),
  ifindex: ro("ifindex", int(1, INT_MAX)),
  operstate: ro("operstate", {
    kind: "enum",
    values: ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"],
  }),
  // Busy polling of AF_XDP sockets relies on these two (defer the device's interrupts).
  napiDeferHardIrqs: rw("napi_defer_hard_irqs", int(0, INT_MAX)),
  groFlushTimeoutNs: rw("gro_flush_timeout", int(0, U32)),
} as const;

/** /sys/bus/pci/devices/<address>/ */
export const PCI_DEVICE_ATTRS = {
  vendor: ro("vendor", { kind: "string" }),
  device: ro("device", { kind: "string" }),
  numaNode: ro("numa_node", int(-1, INT_MAX)),
  localCpus: ro("local_cpulist", { kind: "cpulist" }),
} as const;

/** /sys/kernel/mm/hugepages/hugepages-2048kB/ */
export const HUGEPAGES_ATTRS = {
  nrHugepages: rw("nr_hugepages", int(0, INT_MAX)),
  freeHugepages: ro("free_hugepages", int(0, INT_MAX)),
  resvHugepages: ro("resv_hugepages", int(0, INT_MAX)),
} as const;

/** /proc/irq/<n>/ */
export const IRQ_ATTRS = {
  affinity: rw("smp_affinity_list", { kind: "cpulist" }),
  effectiveAffinity: ro("effective_affinity_list", { kind: "cpulist" }),
} as const;

/** /proc/sys/ (the keys sysctl(8) names with dots). */
export const SYSCTL_ATTRS = {
  "net.core.rmem_max": rw("net/core/rmem_max", int(0, INT_MAX)),
  "net.core.busy_poll": rw("net/core/busy_poll", int(0, INT_MAX)),
  "net.core.busy_read": rw("net/core/busy_read", int(0, INT_MAX)),
} as const;

/** "0-3,6" -> [0, 1, 2, 3, 6]; an empty file is the empty set. */
export function parseCpuList(what: string, text: string): number[] {
  const cpus = new Set<number>();
  if (text === "") return [];
  for (const part of text.split(",")) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!m) throw new SysfsError(what, `${JSON.stringify(text)} is not a CPU list`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new SysfsError(what, `${JSON.stringify(text)} has a descending range`);
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** [0, 1, 2, 3, 6] -> "0-3,6". */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** Parses an attribute's text (trailing newline removed) by its kind. */
export function parseValue(what: string, type: AttrKind, text: string): number | number[] | string {
  switch (type.kind) {
    case "int": {
      if (!/^-?\d{1,19}$/.test(text)) throw new SysfsError(what, `${JSON.stringify(text)} is not an integer`);
      return checkInt(what, type, Number(text));
    }
    case "enum":
      if (!type.values.includes(text)) throw new SysfsError(what, `${JSON.stringify(text)} is not a known value`);
      return text;
    case "cpulist":
      return parseCpuList(what, text);
    case "string":
      return text;
  }
}

/** The text written for a value, after checking it against the attribute's kind. */
export function renderValue(what: string, type: AttrKind, value: unknown): string {
  switch (type.kind) {
    case "int":
      if (typeof value !== "number") throw new SysfsError(what, "needs an integer");
      return String(checkInt(what, type, value));
    case "enum":
      if (typeof value !== "string" || !type.values.includes(value))
        throw new SysfsError(what, `must be one of ${type.values.join(", ")}`);
      return value;
    case "cpulist":
      if (!Array.isArray(value) || value.length === 0 || !value.every((c) => Number.isSafeInteger(c) && c >= 0))
        throw new SysfsError(what, "needs a non-empty list of CPU numbers");
      return formatCpuList(value as number[]);
    case "string":
      throw new SysfsError(what, "is free text: the layer never writes it");
  }
}

function checkInt(what: string, type: { min: number; max: number }, n: number): number {
  if (!Number.isSafeInteger(n) || n < type.min || n > type.max)
    throw new SysfsError(what, `${n} is outside ${type.min}..${type.max}`);
  return n;
}
