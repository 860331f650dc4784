// Names iproute2 gives to numbers: route protocols, scopes, tables, neighbor states. The built-in
// tables are iproute2's defaults; /etc/iproute2/rt_tables and rt_protos add the machine's own
// names when present (read once), so that `tilenet ip -j` prints what `ip -j` prints.
import { readFileSync } from "node:fs";
import { NEIGH_STATES } from "../netlink/neigh-msg";

const BUILTIN_PROTOCOLS: Record<number, string> = {
  0: "unspec",
  1: "redirect",
  2: "kernel",
  3: "boot",
  4: "static",
  8: "gated",
  9: "ra",
  10: "mrt",
  11: "zebra",
  12: "bird",
  13: "dnrouted",
  14: "xorp",
  15: "ntk",
  16: "dhcp",
  18: "keepalived",
  42: "babel",
  99: "openr",
  186: "bgp",
  187: "isis",
  188: "ospf",
  189: "rip",
  192: "eigrp",
};
const BUILTIN_SCOPES: Record<number, string> = { 0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere" };
const BUILTIN_TABLES: Record<number, string> = { 0: "unspec", 253: "default", 254: "main", 255: "local" };

/** "NUMBER NAME" lines of an iproute2 table file, or nothing when it is absent. */
function readNameFile(path: string): Record<number, string> {
  const out: Record<number, string> = {};
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    const m = /^\s*(0x[0-9a-fA-F]+|\d+)\s+(\S+)/.exec(line);
    if (m) out[Number(m[1])] = m[2] as string;
  }
  return out;
}

class NameTable {
  private byNumber: Record<number, string> | undefined;

  constructor(
    private readonly builtin: Record<number, string>,
    private readonly file: string | undefined,
  ) {}

  private table(): Record<number, string> {
    this.byNumber ??= { ...this.builtin, ...(this.file ? readNameFile(this.file) : {}) };
    return this.byNumber;
  }

  /** The name, or the number as text when it has none. */
  name(n: number): string {
    return this.table()[n] ?? String(n);
  }

  /** A number from a name or decimal/hex text; undefined when neither. */
  number(text: string): number | undefined {
    if (/^(0x[0-9a-fA-F]+|\d+)$/.test(text)) return Number(text);
    for (const [n, name] of Object.entries(this.table())) if (name === text) return Number(n);
    return undefined;
  }
}

export const protocols = new NameTable(BUILTIN_PROTOCOLS, "/etc/iproute2/rt_protos");
export const scopes = new NameTable(BUILTIN_SCOPES, "/etc/iproute2/rt_scopes");
export const tables = new NameTable(BUILTIN_TABLES, "/etc/iproute2/rt_tables");

/** NUD_* bits as iproute2's names ("REACHABLE", "STALE"...); "NONE" for 0. */
export function neighStateNames(state: number): string[] {
  if (state === 0) return ["NONE"];
  return NEIGH_STATES.filter(([bit]) => (state & bit) !== 0).map(([, name]) => name);
}

/** A NUD_* state from its name (any case), e.g. "permanent" -> 0x80. */
export function neighStateNumber(name: string): number | undefined {
  if (name.toUpperCase() === "NONE") return 0;
  return NEIGH_STATES.find(([, n]) => n === name.toUpperCase())?.[0];
}
