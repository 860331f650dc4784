// The instance configuration: TOML on disk, validated against a declared schema. Every error
// names the key and what was expected; the CLI exits 2 on any of them.
import { readFileSync } from "node:fs";
import { parse as parseToml, TomlError } from "smol-toml";
import { IDLE_MODES, type IdleMode, type TilePlacement } from "../shared/tile/idle";
import { SOLICIT_SECTION, type SolicitSectionSettings, solicitSectionDefaults } from "../tiles/netlink/solicit-config";
import { ConfigError, isTable, TableReader } from "./config-reader";
import { NAMESPACES, type Namespace } from "./exec-args";

export { ConfigError } from "./config-reader";

export interface AppConfig {
  name: string;
  /** "builtin:echo" or a path to a single-file CommonJS module (see README, "App tiles"). */
  module: string;
  ports: number[];
  /** Free-form settings handed to the module's init. */
  settings: Record<string, unknown>;
  /** Read-only data files by key (absolute paths), handed to the app as bytes (app.files). */
  files?: Record<string, string>;
  /** When the app tile dies (or its heartbeat stops for heartbeatTimeoutMs), it is restarted with
   *  backoff, at most `limit` times within `windowS` seconds; then it stays down (the instance and
   *  the other apps keep running; status reports it). */
  restart: AppRestartPolicy;
  /** idle: overrides [tiles] idle for this app; cpu: pin it (see TilePlacement). */
  placement?: TilePlacement;
  /** Tiles running this module (default 1); each datagram goes to the replica its flow hashes to. */
  replicas?: number;
}

export interface AppRestartPolicy {
  limit: number;
  windowS: number;
  heartbeatTimeoutMs: number;
}

export const defaultRestartPolicy = (): AppRestartPolicy => ({ limit: 5, windowS: 60, heartbeatTimeoutMs: 5000 });

export const NET_PROVIDERS = ["auto", "xdp", "socket"] as const;
export type NetProvider = (typeof NET_PROVIDERS)[number];

export interface InstanceConfig {
  instance: { name: string; logLevel: string };
  /** ids: the range tile uids/gids are allocated from (launcher/users.ts). */
  sandbox: { unshare: Namespace[]; landlock: boolean; ids: { first: number; count: number } };
  net: {
    enabled: boolean;
    /** Interfaces the net tiles serve, each with its own XDP program and net tiles ([net]
     *  interface = "a" or interfaces = ["a", "b"]; the lab fills it in). */
    interfaces: string[];
    /** Network namespace path of the interface (undefined = the launcher's). */
    netns?: string;
    /** The data plane: "xdp" (AF_XDP net tile), "socket" (UDP sockets, tiles/net-socket), "auto"
     *  (XDP, else the socket provider when XDP does not attach). */
    provider: NetProvider;
    xdpMode: "auto" | "drv" | "skb";
    /** AF_XDP zero-copy: true requires it, "auto" where the driver takes it (else copy, with why). */
    xdpZeroCopy: "auto" | boolean;
    /** busy_poll_prefer / _usecs / _budget: set on the AF_XDP socket when any is given (kernel defaults otherwise). */
    busyPoll?: { prefer: boolean; usecs: number; budget: number };
    /** The first receive queue served: net tiles serve queues queue .. queue + queues - 1. */
    queue: number;
    /** Net tiles per interface, one per receive queue: a count, or "all" for the interface's
     *  channel count (ethtool netlink, read at launch). */
    queues: number | "all";
    frameSize: number;
    frameCount: number;
    ringDepth: number;
    /** Optional destination address filter for the XDP program. */
    dstIp?: string;
    /** idle: overrides [tiles] idle for the net tile; cpu: pin it (see TilePlacement). */
    placement?: TilePlacement;
  };
  /** [tiles] idle: how the net and app tiles wait for work unless their own section says. */
  tiles: { idle: IdleMode };
  netbase: {
    routes: number;
    neighbors: number;
    interfaces: number;
    addrsPerInterface: number;
    /** IPv6: routes (a full table is ~230,000), neighbors, addresses kept per interface. */
    routes6: number;
    neighbors6: number;
    addrs6PerInterface: number;
    /** Group whose members may open the published netbase read-only (file mode 0640); none = root only. */
    readersGroup?: string;
  };
  netlink: { enabled: boolean; rcvbufBytes: number; verifyIntervalS: number; keepNetAdmin: boolean };
  /** [solicit]: declared by the netlink tile (tiles/netlink/solicit-config.ts). */
  solicit: SolicitSectionSettings;
  /** App channel rings (both directions of every app). */
  rings: { depth: number };
  apps: AppConfig[];
  metrics: { listen?: { host: string; port: number }; allowNonLoopback: boolean };
  /** [memory] huge_pages: 2 MiB pages for the large regions (netbase, UMEM, big rings). Unset:
   *  "auto" when the hugetlbfs stage mounted /run/tilenet/.hugetlbfs, else "off". */
  memory: { hugePages?: "auto" | "on" | "off" };
}

export const defaultConfig = (): InstanceConfig => ({
  instance: { name: "", logLevel: "info" },
  sandbox: {
    unshare: ["mount", "ipc", "uts", "net", "pid"],
    landlock: true,
    ids: { first: 2_130_706_432, count: 65_536 },
  },
  net: {
    enabled: true,
    interfaces: [],
    provider: "auto",
    xdpMode: "auto",
    xdpZeroCopy: "auto",
    queue: 0,
    queues: 1,
    frameSize: 2048,
    frameCount: 4096,
    ringDepth: 2048,
    placement: {},
  },
  tiles: { idle: "adaptive" },
  netbase: {
    routes: 65536,
    neighbors: 65536,
    interfaces: 256,
    addrsPerInterface: 16,
    routes6: 4096,
    neighbors6: 4096,
    addrs6PerInterface: 8,
  },
  netlink: { enabled: true, rcvbufBytes: 8 << 20, verifyIntervalS: 60, keepNetAdmin: false },
  solicit: solicitSectionDefaults(),
  rings: { depth: 4096 },
  apps: [],
  metrics: { allowNonLoopback: false },
  memory: {},
});

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

/**
 * Validates a parsed TOML document (or any plain object) into an InstanceConfig. About 70 lines:
 * one reader per section in file order, so the whole schema reads top to bottom here.
 */
export function validateConfig(doc: unknown): InstanceConfig {
  if (!isTable(doc)) throw new ConfigError("(top level)", "a table");
  const d = defaultConfig();
  const top = new TableReader(doc, "");

  const inst = top.sub("instance");
  d.instance.name = inst.str("name", "", /^[a-z0-9][a-z0-9-]{0,23}$/, "1-24 characters of a-z, 0-9 and '-'");
  d.instance.logLevel = inst.oneOf("log_level", "info", ["trace", "debug", "info", "warn", "error"]);
  inst.done();

  const tiles = top.sub("tiles");
  d.tiles.idle = tiles.oneOf("idle", d.tiles.idle, IDLE_MODES);
  tiles.done();

  const sb = top.sub("sandbox");
  d.sandbox.unshare = sb.list("unshare", d.sandbox.unshare, (v, key) => {
    const ns = NAMESPACES.find((n) => n === v);
    if (ns === undefined) throw new ConfigError(key, 'one of "mount", "ipc", "uts", "net", "pid"', v);
    return ns;
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
  d.net.interfaces = readInterfaces(net);
  const ns = net.optStr("netns", /^\/\S+$/, "an absolute path such as /run/netns/NAME");
  if (ns) d.net.netns = ns;
  d.net.provider = net.oneOf("provider", d.net.provider, NET_PROVIDERS);
  d.net.xdpMode = net.oneOf("xdp_mode", d.net.xdpMode, ["auto", "drv", "skb"] as const);
  readXskOptions(net, d.net);
  d.net.queue = net.int("queue", 0, 0, QUEUE_MAX);
  d.net.queues = readQueues(net, d.net.queue);
  d.net.frameSize = net.int("frame_size", d.net.frameSize, 2048, 4096, powerOfTwo);
  d.net.frameCount = net.int("frame_count", d.net.frameCount, 64, 1 << 20, powerOfTwo);
  d.net.ringDepth = net.int("ring_depth", d.net.ringDepth, 64, 1 << 16, powerOfTwo);
  const dst = net.optStr("dst_ip");
  if (dst) d.net.dstIp = ipv4(dst, "net.dst_ip");
  d.net.placement = readPlacement(net);
  net.done();

  const nb = top.sub("netbase");
  d.netbase.routes = nb.int("routes", d.netbase.routes, 16, 4_000_000);
  d.netbase.neighbors = nb.int("neighbors", d.netbase.neighbors, 16, 4_000_000, powerOfTwo);
  d.netbase.interfaces = nb.int("interfaces", d.netbase.interfaces, 4, 65536);
  d.netbase.addrsPerInterface = nb.int("addrs_per_interface", d.netbase.addrsPerInterface, 1, 256);
  d.netbase.routes6 = nb.int("routes6", d.netbase.routes6, 16, 1_000_000);
  d.netbase.neighbors6 = nb.int("neighbors6", d.netbase.neighbors6, 16, 4_000_000);
  d.netbase.addrs6PerInterface = nb.int("addrs6_per_interface", d.netbase.addrs6PerInterface, 1, 64);
  const readers = nb.optStr("readers_group", /^[A-Za-z_][A-Za-z0-9_-]{0,31}$/, "a group name from /etc/group");
  if (readers !== undefined) d.netbase.readersGroup = readers;
  nb.done();

  const nl = top.sub("netlink");
  d.netlink.enabled = nl.bool("enabled", d.netlink.enabled);
  d.netlink.rcvbufBytes = nl.int("rcvbuf_bytes", d.netlink.rcvbufBytes, 4096, 1 << 30);
  d.netlink.verifyIntervalS = nl.num("verify_interval_s", d.netlink.verifyIntervalS, 0, 86400);
  d.netlink.keepNetAdmin = nl.bool("keep_net_admin", d.netlink.keepNetAdmin);
  nl.done();

  const so = top.sub("solicit");
  for (const [field, spec] of Object.entries(SOLICIT_SECTION))
    d.solicit[field as keyof SolicitSectionSettings] = so.setting(spec);
  so.done();

  const rings = top.sub("rings");
  d.rings.depth = rings.int("depth", d.rings.depth, 8, 1 << 20, powerOfTwo);
  rings.done();

  d.apps = top.list("app", [], readApp);
  checkAppOwnership(d.apps);

  const metrics = top.sub("metrics");
  d.metrics.allowNonLoopback = metrics.bool("allow_non_loopback", false);
  const listen = metrics.optStr("listen");
  if (listen) d.metrics.listen = parseListen(listen, "metrics.listen", d.metrics.allowNonLoopback);
  metrics.done();

  const memory = top.sub("memory");
  if (memory.optStr("huge_pages") !== undefined)
    d.memory.hugePages = memory.oneOf("huge_pages", "auto", ["auto", "on", "off"] as const);
  memory.done();

  top.done();
  return d;
}

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
const IFNAME_WHAT = "an interface name (1-15 characters)";
/** Receive queue ids the kernel takes (the XSKMAP is indexed by them). */
const QUEUE_MAX = 1023;
/** Replicas of one app: each is a tile and a channel pair per net tile. */
export const MAX_REPLICAS = 64;
/** Interfaces of one instance. */
export const MAX_INTERFACES = 8;

/** [net] interface = "a" (one) or interfaces = ["a", "b"] (several; not both keys). */
function readInterfaces(net: TableReader): string[] {
  if (net.has("interface") && net.has("interfaces"))
    throw new ConfigError("net.interfaces", 'either interface = "a" or interfaces = ["a", "b"], not both');
  const one = net.str("interface", "", IFNAME, IFNAME_WHAT);
  const many = net.list("interfaces", one ? [one] : [], (v, key) => {
    if (typeof v !== "string" || !IFNAME.test(v)) throw new ConfigError(key, IFNAME_WHAT, v);
    return v;
  });
  if (net.has("interfaces") && (many.length === 0 || many.length > MAX_INTERFACES))
    throw new ConfigError("net.interfaces", `1 to ${MAX_INTERFACES} interface names`, many);
  if (new Set(many).size !== many.length) throw new ConfigError("net.interfaces", "distinct interface names", many);
  return many;
}

/** [net] queues: a count of net tiles per interface, or "all" (the interface's channel count). */
function readQueues(net: TableReader, first: number): number | "all" {
  const v = net.raw("queues");
  if (v === undefined) return 1;
  if (v === "all") {
    if (first !== 0) throw new ConfigError("net.queue", 'queue = 0 with queues = "all" (every queue is served)', first);
    return "all";
  }
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || first + n - 1 > QUEUE_MAX)
    throw new ConfigError(
      "net.queues",
      `"all" or a count from 1 to ${QUEUE_MAX + 1 - first} (queues from net.queue = ${first})`,
      v,
    );
  return n;
}

/** A data-plane tile's own `idle` (unset: [tiles] idle) and `cpu` (unset: not pinned). */
/** [net] xdp_zero_copy and the busy-polling keys (flat, like idle and cpu). */
function readXskOptions(t: TableReader, net: InstanceConfig["net"]): void {
  const zc = t.raw("xdp_zero_copy");
  if (zc === "auto" || typeof zc === "boolean") net.xdpZeroCopy = zc;
  else if (zc !== undefined) throw new ConfigError("net.xdp_zero_copy", '"auto", true or false', zc);
  const keys = ["busy_poll_prefer", "busy_poll_usecs", "busy_poll_budget"];
  if (!keys.some((k) => t.has(k))) {
    for (const k of keys) t.raw(k);
    return;
  }
  net.busyPoll = {
    prefer: t.bool("busy_poll_prefer", false),
    // SO_BUSY_POLL: how long a recvfrom/sendto may spin on the NAPI context; 0 = none.
    usecs: t.int("busy_poll_usecs", 0, 0, 1_000_000),
    // SO_BUSY_POLL_BUDGET: packets per busy poll; 0 = the kernel's default (8). The kernel's limit is 65535.
    budget: t.int("busy_poll_budget", 0, 0, 65535),
  };
}

function readPlacement(t: TableReader): TilePlacement {
  const out: TilePlacement = {};
  if (t.has("idle")) out.idle = t.oneOf("idle", "adaptive", IDLE_MODES);
  else t.raw("idle");
  if (t.has("cpu")) out.cpu = t.int("cpu", 0, 0, 1023);
  else t.raw("cpu");
  return out;
}

/** One [[app]] table. */
function readApp(v: unknown, key: string): AppConfig {
  if (!isTable(v)) throw new ConfigError(key, "a table ([[app]])", v);
  const a = new TableReader(v, key);
  const app: AppConfig = {
    name: a.str("name", "", NAME, "a name of a-z, 0-9 and '-' starting with a letter"),
    module: a.str("module", "builtin:echo"),
    ports: a.list("ports", [], port),
    settings: {},
    restart: defaultRestartPolicy(),
    placement: readPlacement(a),
    replicas: a.int("replicas", 1, 1, MAX_REPLICAS),
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
  const files = a.raw("files");
  if (files !== undefined) app.files = appFiles(files, `${key}.files`);
  a.done();
  if (!app.name) throw new ConfigError(`${key}.name`, "a name (required)");
  if (app.ports.length === 0 || app.ports.length > 16)
    throw new ConfigError(`${key}.ports`, "1 to 16 UDP ports", app.ports);
  return app;
}

/** Tile names the instance itself uses (generated names carry a '.', which app names cannot). */
const RESERVED_TILE_NAMES = ["net", "netlink", "launcher"];

/** App names are unique and each port has one owner; the XDP program matches at most 16 ports. */
function checkAppOwnership(apps: readonly AppConfig[]): void {
  const owners = new Map<number, string>();
  const names = new Set<string>();
  for (const [i, app] of apps.entries()) {
    if (names.has(app.name)) throw new ConfigError(`app[${i}].name`, "a name not used by another app", app.name);
    if (RESERVED_TILE_NAMES.includes(app.name))
      throw new ConfigError(
        `app[${i}].name`,
        `a name other than ${RESERVED_TILE_NAMES.join(", ")} (tiles of the instance)`,
        app.name,
      );
    names.add(app.name);
    for (const p of app.ports) {
      const other = owners.get(p);
      if (other) throw new ConfigError(`app[${i}].ports`, `ports not already owned (port ${p} belongs to ${other})`, p);
      owners.set(p, app.name);
    }
  }
  if (owners.size > 16) throw new ConfigError("app", "at most 16 UDP ports in total (the XDP program's limit)");
}

const FILE_KEY = /^[a-z][a-z0-9_]{0,31}$/;
const MAX_APP_FILES = 16;

/** [[app]].files: { key = "/absolute/path" }, keys usable as JS names (app.files.zone). */
function appFiles(v: unknown, key: string): Record<string, string> {
  if (!isTable(v)) throw new ConfigError(key, 'a table of files, e.g. { zone = "/etc/tilenet/example.zone" }', v);
  const entries = Object.entries(v);
  if (entries.length > MAX_APP_FILES) throw new ConfigError(key, `at most ${MAX_APP_FILES} files`, entries.length);
  for (const [name, path] of entries) {
    if (!FILE_KEY.test(name))
      throw new ConfigError(`${key}.${name}`, "a key of a-z, 0-9 and '_' starting with a letter");
    if (typeof path !== "string" || !path.startsWith("/"))
      throw new ConfigError(`${key}.${name}`, "an absolute path", path);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** "127.0.0.1:9464" (or "[::1]:9464") -> host and port. Loopback only unless the configuration
 *  opts in with [metrics] allow_non_loopback = true: metrics describe the sandbox and are not
 *  for the network by default. */
export function parseListen(text: string, key: string, allowNonLoopback = false): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})):(\d{1,5})$/.exec(text);
  const expected = allowNonLoopback ? "IPV4:PORT or [IPV6]:PORT" : "127.x.y.z:PORT or [::1]:PORT (loopback only)";
  if (!m) throw new ConfigError(key, expected, text);
  const host = m[1] ?? m[2] ?? "";
  const p = Number(m[3]);
  if (p > 65535) throw new ConfigError(key, "a port up to 65535", text);
  if (m[2]?.split(".").some((o) => Number(o) > 255)) throw new ConfigError(key, expected, text);
  const loopback = host === "::1" || host.startsWith("127.");
  if (!loopback && !allowNonLoopback)
    throw new ConfigError(
      key,
      `${expected}; another address needs [metrics] allow_non_loopback = true in the config`,
      text,
    );
  return { host, port: p };
}

/** Where a dotted key (`net.xdp_mod`, `app[1].ports`) is written in TOML text: the line of its
 *  `key =` inside its table, or the table's header; undefined when not found. */
export function locateKey(text: string, dotted: string): { line: number; column: number } | undefined {
  // An element of a list value (`ports[0]`) is found at its list's key.
  const parts = dotted
    .replace(/(\[\d+\])+$/, "")
    .replace(/\[(\d+)\]/g, ".#$1")
    .split(".");
  const leaf = parts.pop() ?? "";
  const path = parts.filter((p) => !p.startsWith("#")).join(".");
  const index = Number(parts.find((p) => p.startsWith("#"))?.slice(1) ?? 0);
  const lines = text.split("\n");
  const isArray = path !== "" && lines.some((l) => new RegExp(`^\\s*\\[\\[\\s*${path}\\s*\\]\\]`).test(l));
  const leafAt = new RegExp(`^\\s*"?${leaf.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&")}"?\\s*=`);
  let table = "";
  let seenOfArray = -1;
  let headerAt: { line: number; column: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const header = /^\s*\[(\[)?\s*([A-Za-z0-9_.\- ]+?)\s*\]\]?/.exec(raw);
    if (header) {
      table = header[2];
      if (header[1] && table === path) seenOfArray++;
      if (table === path && (header[1] === undefined || seenOfArray === index))
        headerAt ??= { line: i + 1, column: raw.indexOf("[") + 1 };
      continue;
    }
    const inTable = table === path && (!isArray || seenOfArray === index);
    if (inTable && leafAt.test(raw)) return { line: i + 1, column: raw.search(/\S/) + 1 };
  }
  return path === "" ? undefined : headerAt;
}

/** Loads and validates a TOML file; syntax and schema errors carry the file, line and column. */
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
    const first = (e as Error).message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    const at = e instanceof TomlError ? { file: path, line: e.line, column: e.column } : undefined;
    throw new ConfigError("(syntax)", `valid TOML (${first})`, undefined, at);
  }
  try {
    return validateConfig(doc);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const where = locateKey(text, e.key);
    if (!where) throw e;
    throw new ConfigError(e.key, e.expected, e.got, { file: path, ...where });
  }
}
