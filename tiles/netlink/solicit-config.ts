// The [solicit] section, declared once: each setting's file key, default and limits. The config
// loader (launcher/config.ts) reads the file with it and the netlink tile validates its config
// with it, so a value the config accepts is a value the tile accepts (test/solicit-config.test.ts).
// Free of side effects: the launcher imports it.
import { isPowerOfTwo } from "../../shared/bits";

export interface SettingSpec {
  /** The key in the config file's [solicit] section. */
  key: string;
  default: number;
  min: number;
  max: number;
  integer: boolean;
  powerOfTwo?: boolean;
}

const MAX_INTERVAL_MS = 3_600_000;

/** What the netlink tile's SolicitHandler takes (besides the interfaces, which come from the topology). */
export const SOLICIT_HANDLER_SETTINGS = {
  /** Pending-table capacity (entries). */
  capacity: { key: "pending_capacity", default: 4096, min: 1, max: 1 << 20, integer: true },
  /** The same (ifindex, ip) is handled at most once per this interval, whatever the outcome. */
  dedupeIntervalMs: { key: "dedupe_interval_ms", default: 1000, min: 1, max: MAX_INTERVAL_MS, integer: true },
  /** The same (ifindex, ip) is probed at most once per this interval. */
  perHostIntervalMs: { key: "per_host_interval_ms", default: 1000, min: 1, max: MAX_INTERVAL_MS, integer: true },
  /** Global token bucket: probes per second ... */
  ratePerS: { key: "rate_per_s", default: 100, min: 0.001, max: 1e6, integer: false },
  /** ... and bucket depth (a probe takes one token). */
  burst: { key: "burst", default: 100, min: 1, max: 1e6, integer: false },
} as const satisfies Record<string, SettingSpec>;

/** The whole [solicit] section: the handler's settings and the depth of each net tile's solicit ring. */
export const SOLICIT_SECTION = {
  ...SOLICIT_HANDLER_SETTINGS,
  ringDepth: { key: "ring_depth", default: 128, min: 8, max: 1 << 16, integer: true, powerOfTwo: true },
} as const satisfies Record<string, SettingSpec>;

export type SolicitHandlerSettings = { -readonly [K in keyof typeof SOLICIT_HANDLER_SETTINGS]: number };
export type SolicitSectionSettings = { -readonly [K in keyof typeof SOLICIT_SECTION]: number };

/** The expected form of a value, in the words both the config loader and the tile use. */
export function describeSetting(spec: SettingSpec): string {
  const range = `${spec.integer ? "an integer" : "a number"} from ${spec.min} to ${spec.max}`;
  return spec.powerOfTwo ? `${range}, a power of two` : range;
}

/** undefined when the value fits the spec, else the expected form. */
export function checkSetting(spec: SettingSpec, value: unknown): string | undefined {
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    (!spec.integer || Number.isInteger(value)) &&
    value >= spec.min &&
    value <= spec.max &&
    (!spec.powerOfTwo || isPowerOfTwo(value));
  return ok ? undefined : describeSetting(spec);
}

function defaultsOf<T extends Record<string, SettingSpec>>(specs: T): { [K in keyof T]: number } {
  const out: Record<string, number> = {};
  for (const [field, spec] of Object.entries(specs)) out[field] = spec.default;
  return out as { [K in keyof T]: number };
}

export function solicitSectionDefaults(): SolicitSectionSettings {
  return defaultsOf(SOLICIT_SECTION);
}

export function solicitHandlerDefaults(): SolicitHandlerSettings {
  return defaultsOf(SOLICIT_HANDLER_SETTINGS);
}
