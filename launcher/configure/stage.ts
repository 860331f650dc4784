// What a `tilenet configure` stage is: a list of settings the config needs (each one read and
// written through a typed channel: ethtool netlink, the sysfs layer, /proc/sys), or a reason to
// skip, plus facts worth reporting. check/init/fini are generic over that (see run.ts).

import type { NetState } from "../../shared/netstate";
import type { InstanceConfig } from "../config";
import type { ProcRoot, SysfsRoot } from "../sysfs";

export type Value = number | boolean | string | number[];

export interface ConfigureContext {
  config: InstanceConfig;
  /** [net] interface. */
  ifname: string;
  /** [net] netns (path), undefined for the launcher's own namespace. */
  netns?: string;
  /** A netstate session in the interface's namespace. */
  net: NetState;
  sys: SysfsRoot;
  proc: ProcRoot;
  /** Where the hugetlbfs stage mounts (fixed in production; a temp dir in tests). */
  hugetlbfsDir: string;
}

/** One setting a stage manages, named by a stable key (recorded in the state file). */
export interface Setting {
  key: string;
  read(): Promise<Value>;
  write(value: Value): Promise<void>;
}

export interface Want {
  setting: Setting;
  want: Value;
  /** A number that is fine when at least `want` (a limit): init never lowers it. */
  atLeast?: boolean;
  /** Why the config needs it (printed by check). */
  why: string;
}

export interface Plan {
  /** Set when the stage does not apply to this interface or machine, with the reason. */
  skipped?: string;
  wants: Want[];
  /** Facts the stage reports (driver, XDP support, IRQs). */
  notes: string[];
}

export interface Stage {
  name: string;
  summary: string;
  plan(ctx: ConfigureContext): Promise<Plan>;
  /** The setting behind a recorded key, for fini; undefined when the key is not this stage's. */
  setting(ctx: ConfigureContext, key: string): Setting | undefined;
}

export function sameValue(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function satisfied(w: Want, have: Value): boolean {
  if (w.atLeast && typeof have === "number" && typeof w.want === "number") return have >= w.want;
  return sameValue(have, w.want);
}

export function showValue(v: Value): string {
  if (Array.isArray(v)) return v.join(",");
  return typeof v === "boolean" ? (v ? "on" : "off") : String(v);
}
