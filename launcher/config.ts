// The instance configuration: TOML on disk, validated against a declared schema. Every error
// names the key and what was expected; the CLI exits 2 on any of them.
import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly got?: unknown,
  ) {
    super(`config: ${key}: expected ${expected}${got === undefined ? "" : `, got ${describe(got)}`}`);
  }
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "object") return "a table";
  return String(v);
}

export interface AppConfig {
  name: string;
  /** "builtin:echo" or a path to a single-file CommonJS module (see README, "App tiles"). */
  module: string;
  ports: number[];
  /** Free-form settings handed to the module's init. */
  settings: Record<string, unknown>;
  /** When the app tile dies (or its heartbeat stops for heartbeatTimeoutMs), it is restarted with
   *  backoff, at most `limit` times within `windowS` seconds; then it stays down (the instance and
   *  the other apps keep running; status reports it). */
  restart: AppRestartPolicy;
}

export interface AppRestartPolicy {
  limit: number;
  windowS: number;
  heartbeatTimeoutMs: number;
}

export const defaultRestartPolicy = (): AppRestartPolicy => ({ limit: 5, windowS: 60, heartbeatTimeoutMs: 5000 });

export interface InstanceConfig {
  instance: { name: string; logLevel: string };
  /** ids: the range tile uids/gids are allocated from (launcher/users.ts). */
  sandbox: { unshare: ("mount" | "ipc" | "uts" | "net")[]; landlock: boolean; ids: { first: number; count: number } };
  net: {
    enabled: boolean;
    /** Interface the net tile serves (the lab fills it in). */
    interface: string;
    /** Network namespace path of the interface (undefined = the launcher's). */
    netns?: string;
    xdpMode: "auto" | "drv" | "skb";
    queue: number;
    frameSize: number;
    frameCount: number;
    ringDepth: number;
    /** Optional destination address filter for the XDP program. */
    dstIp?: string;
  };
  netbase: { routes: number; neighbors: number; interfaces: number; addrsPerInterface: number };
  netlink: { enabled: boolean; rcvbufBytes: number; verifyIntervalS: number; keepNetAdmin: boolean };
  solicit: {
    ratePerS: number;
    burst: number;
    perHostIntervalMs: number;
    dedupeIntervalMs: number;
    pendingCapacity: number;
    ringDepth: number;
  };
  rings: { depth: number; spinUs: number };
  apps: AppConfig[];
  metrics: { listen?: { host: string; port: number } };
}

export const defaultConfig = (): InstanceConfig => ({
  instance: { name: "", logLevel: "info" },
  sandbox: { unshare: ["mount", "ipc", "uts", "net"], landlock: true, ids: { first: 2_130_706_432, count: 65_536 } },
  net: {
    enabled: true,
    interface: "",
    xdpMode: "auto",
    queue: 0,
    frameSize: 2048,
    frameCount: 4096,
    ringDepth: 2048,
  },
  netbase: { routes: 65536, neighbors: 65536, interfaces: 256, addrsPerInterface: 16 },
  netlink: { enabled: true, rcvbufBytes: 8 << 20, verifyIntervalS: 60, keepNetAdmin: false },
  solicit: {
    ratePerS: 100,
    burst: 100,
    perHostIntervalMs: 1000,
    dedupeIntervalMs: 1000,
    pendingCapacity: 4096,
    ringDepth: 128,
  },
  rings: { depth: 4096, spinUs: 200 },
  apps: [],
  metrics: {},
});

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Reads typed values out of one TOML table and reports unknown keys. */
class TableReader {
  private readonly seen = new Set<string>();
  constructor(
    private readonly table: Table,
    private readonly path: string,
  ) {}

  private key(k: string): string {
    return this.path ? `${this.path}.${k}` : k;
  }

  has(k: string): boolean {
    return this.table[k] !== undefined;
  }

  str(k: string, fallback: string, pattern?: RegExp, what?: string): string {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    if (typeof v !== "string") throw new ConfigError(this.key(k), what ?? "a string", v);
    if (pattern && !pattern.test(v)) throw new ConfigError(this.key(k), what ?? `a string matching ${pattern}`, v);
    return v;
  }

  optStr(k: string, pattern?: RegExp, what?: string): string | undefined {
    return this.has(k) ? this.str(k, "", pattern, what) : (this.seen.add(k), undefined);
  }

  int(k: string, fallback: number, min: number, max: number, extra?: (n: number) => string | undefined): number {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max)
      throw new ConfigError(this.key(k), `an integer from ${min} to ${max}`, v);
    const problem = extra?.(n);
    if (problem) throw new ConfigError(this.key(k), problem, v);
    return n;
  }

  num(k: string, fallback: number, min: number, max: number): number {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n) || n < min || n > max)
      throw new ConfigError(this.key(k), `a number from ${min} to ${max}`, v);
    return n;
  }

  bool(k: string, fallback: boolean): boolean {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") throw new ConfigError(this.key(k), "true or false", v);
    return v;
  }

  oneOf<T extends string>(k: string, fallback: T, options: readonly T[]): T {
    const v = this.str(k, fallback);
    if (!options.includes(v as T)) throw new ConfigError(this.key(k), `one of ${options.join(", ")}`, v);
    return v as T;
  }

  list<T>(k: string, fallback: T[], item: (v: unknown, key: string) => T): T[] {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return fallback;
    if (!Array.isArray(v)) throw new ConfigError(this.key(k), "an array", v);
    return v.map((x, i) => item(x, `${this.key(k)}[${i}]`));
  }

  sub(k: string): TableReader {
    this.seen.add(k);
    const v = this.table[k];
    if (v === undefined) return new TableReader({}, this.key(k));
    if (!isTable(v)) throw new ConfigError(this.key(k), "a table", v);
    return new TableReader(v, this.key(k));
  }

  raw(k: string): unknown {
    this.seen.add(k);
    return this.table[k];
  }

  /** Every key must have been read: a typo is an error, not a silently ignored setting. */
  done(): void {
    for (const k of Object.keys(this.table)) {
      if (!this.seen.has(k)) throw new ConfigError(this.key(k), "no such key (check the spelling; see README)");
    }
  }
}

const powerOfTwo = (n: number): string | undefined => ((n & (n - 1)) === 0 ? undefined : "a power of two");
const NAME = /^[a-z][a-z0-9-]{0,30}$/;

function port(v: unknown, key: string): number {
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535)
    throw new ConfigError(key, "a UDP port from 1 to 65535", v);
  return n;
}

function ipv4(v: string, key: string): string {
  const parts = v.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new ConfigError(key, "a dotted-quad IPv4 address", v);
  return v;
}

/** Validates a parsed TOML document (or any plain object) into an InstanceConfig. */
export function validateConfig(doc: unknown): InstanceConfig {
  if (!isTable(doc)) throw new ConfigError("(top level)", "a table");
  const d = defaultConfig();
  const top = new TableReader(doc, "");

  const inst = top.sub("instance");
  d.instance.name = inst.str("name", "", /^[a-z0-9][a-z0-9-]{0,23}$/, "1-24 characters of a-z, 0-9 and '-'");
  d.instance.logLevel = inst.oneOf("log_level", "info", ["trace", "debug", "info", "warn", "error"]);
  inst.done();

  const sb = top.sub("sandbox");
  d.sandbox.unshare = sb.list("unshare", d.sandbox.unshare, (v, key) => {
    if (v !== "mount" && v !== "ipc" && v !== "uts" && v !== "net")
      throw new ConfigError(key, 'one of "mount", "ipc", "uts", "net"', v);
    return v;
  });
  d.sandbox.landlock = sb.bool("landlock", d.sandbox.landlock);
  const ids = sb.sub("ids");
  d.sandbox.ids.first = ids.int("first", d.sandbox.ids.first, 1000, 4_000_000_000);
  d.sandbox.ids.count = ids.int("count", d.sandbox.ids.count, 16, 1 << 24);
  if (d.sandbox.ids.first + d.sandbox.ids.count > 4_294_967_294)
    throw new ConfigError("sandbox.ids.count", "a range ending below 4294967294", d.sandbox.ids.count);
  ids.done();
  sb.done();

  const net = top.sub("net");
  d.net.enabled = net.bool("enabled", d.net.enabled);
  d.net.interface = net.str("interface", "", /^[A-Za-z0-9_.:-]{1,15}$/, "an interface name (1-15 characters)");
  const ns = net.optStr("netns", /^\/\S+$/, "an absolute path such as /run/netns/NAME");
  if (ns) d.net.netns = ns;
  d.net.xdpMode = net.oneOf("xdp_mode", d.net.xdpMode, ["auto", "drv", "skb"] as const);
  d.net.queue = net.int("queue", 0, 0, 1023);
  d.net.frameSize = net.int("frame_size", d.net.frameSize, 2048, 4096, powerOfTwo);
  d.net.frameCount = net.int("frame_count", d.net.frameCount, 64, 1 << 20, powerOfTwo);
  d.net.ringDepth = net.int("ring_depth", d.net.ringDepth, 64, 1 << 16, powerOfTwo);
  const dst = net.optStr("dst_ip");
  if (dst) d.net.dstIp = ipv4(dst, "net.dst_ip");
  net.done();

  const nb = top.sub("netbase");
  d.netbase.routes = nb.int("routes", d.netbase.routes, 16, 4_000_000);
  d.netbase.neighbors = nb.int("neighbors", d.netbase.neighbors, 16, 4_000_000, powerOfTwo);
  d.netbase.interfaces = nb.int("interfaces", d.netbase.interfaces, 4, 65536);
  d.netbase.addrsPerInterface = nb.int("addrs_per_interface", d.netbase.addrsPerInterface, 1, 256);
  nb.done();

  const nl = top.sub("netlink");
  d.netlink.enabled = nl.bool("enabled", d.netlink.enabled);
  d.netlink.rcvbufBytes = nl.int("rcvbuf_bytes", d.netlink.rcvbufBytes, 4096, 1 << 30);
  d.netlink.verifyIntervalS = nl.num("verify_interval_s", d.netlink.verifyIntervalS, 0, 86400);
  d.netlink.keepNetAdmin = nl.bool("keep_net_admin", d.netlink.keepNetAdmin);
  nl.done();

  const so = top.sub("solicit");
  d.solicit.ratePerS = so.num("rate_per_s", d.solicit.ratePerS, 0.001, 1e6);
  d.solicit.burst = so.int("burst", d.solicit.burst, 1, 1e6);
  d.solicit.perHostIntervalMs = so.int("per_host_interval_ms", d.solicit.perHostIntervalMs, 0, 3_600_000);
  d.solicit.dedupeIntervalMs = so.int("dedupe_interval_ms", d.solicit.dedupeIntervalMs, 1, 3_600_000);
  d.solicit.pendingCapacity = so.int("pending_capacity", d.solicit.pendingCapacity, 1, 1 << 20);
  d.solicit.ringDepth = so.int("ring_depth", d.solicit.ringDepth, 8, 1 << 16, powerOfTwo);
  so.done();

  const rings = top.sub("rings");
  d.rings.depth = rings.int("depth", d.rings.depth, 8, 1 << 20, powerOfTwo);
  d.rings.spinUs = rings.int("spin_us", d.rings.spinUs, 0, 1_000_000);
  rings.done();

  d.apps = top.list("app", [], (v, key) => {
    if (!isTable(v)) throw new ConfigError(key, "a table ([[app]])", v);
    const a = new TableReader(v, key);
    const app: AppConfig = {
      name: a.str("name", "", NAME, "a name of a-z, 0-9 and '-' starting with a letter"),
      module: a.str("module", "builtin:echo"),
      ports: a.list("ports", [], port),
      settings: {},
      restart: defaultRestartPolicy(),
    };
    const restart = a.sub("restart");
    app.restart.limit = restart.int("limit", app.restart.limit, 0, 1000);
    app.restart.windowS = restart.num("window_s", app.restart.windowS, 1, 86400);
    app.restart.heartbeatTimeoutMs = restart.int("heartbeat_timeout_ms", app.restart.heartbeatTimeoutMs, 100, 600_000);
    restart.done();
    const settings = a.raw("settings");
    if (settings !== undefined) {
      if (!isTable(settings)) throw new ConfigError(`${key}.settings`, "a table", settings);
      app.settings = settings;
    }
    a.done();
    if (!app.name) throw new ConfigError(`${key}.name`, "a name (required)");
    if (app.ports.length === 0 || app.ports.length > 16)
      throw new ConfigError(`${key}.ports`, "1 to 16 UDP ports", app.ports);
    return app;
  });
  const owners = new Map<number, string>();
  const names = new Set<string>();
  for (const [i, app] of d.apps.entries()) {
    if (names.has(app.name)) throw new ConfigError(`app[${i}].name`, "a name not used by another app", app.name);
    names.add(app.name);
    for (const p of app.ports) {
      const other = owners.get(p);
      if (other) throw new ConfigError(`app[${i}].ports`, `ports not already owned (port ${p} belongs to ${other})`, p);
      owners.set(p, app.name);
    }
  }
  if (owners.size > 16) throw new ConfigError("app", "at most 16 UDP ports in total (the XDP program's limit)");

  const metrics = top.sub("metrics");
  const listen = metrics.optStr("listen", /^127\.\d+\.\d+\.\d+:\d{1,5}$/, "127.x.y.z:PORT (loopback only)");
  if (listen) d.metrics.listen = parseListen(listen, "metrics.listen");
  metrics.done();

  top.done();
  return d;
}

/** "127.0.0.1:9464" -> host and port; only loopback is accepted (metrics are not for the network). */
export function parseListen(text: string, key: string): { host: string; port: number } {
  const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(text);
  if (!m) throw new ConfigError(key, "127.x.y.z:PORT (loopback only)", text);
  const p = Number(m[2]);
  if (p > 65535) throw new ConfigError(key, "a port up to 65535", text);
  return { host: m[1] ?? "127.0.0.1", port: p };
}

/** Loads and validates a TOML file; TOML syntax errors become ConfigErrors too. */
export function loadConfigFile(path: string): InstanceConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError("(file)", `a readable TOML file at ${path}`, (e as NodeJS.ErrnoException).code);
  }
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (e) {
    throw new ConfigError("(syntax)", `valid TOML (${(e as Error).message.split("\n")[0]})`);
  }
  return validateConfig(doc);
}
