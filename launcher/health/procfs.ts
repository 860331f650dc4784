// Sandbox facts of a process as the kernel reports them in /proc, for EVERY thread: seccomp,
// no_new_privs, capability sets and ids are per thread (a process that drops privileges after
// starting threads keeps them in the other threads), so /proc/PID/status (the main thread) alone
// can lie. Also its open descriptors.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface IdSet {
  real: number;
  effective: number;
  saved: number;
  fs: number;
}

/** Capability set names as /proc spells them. */
export const CAP_SETS = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] as const;
export type CapSetName = (typeof CAP_SETS)[number];

export interface ThreadSandboxFacts {
  tid: number;
  /** Thread name (comm), e.g. "node", "V8 Worker", "libuv-worker". */
  name: string;
  /** Scheduler state letter (R, S, D, Z, ...). */
  state: string;
  /** 0 disabled, 1 strict, 2 filter. */
  seccomp: number;
  noNewPrivs: number;
  uid: IdSet;
  gid: IdSet;
  /** Supplementary groups. */
  groups: number[];
  /** Capability sets as in /proc: 16 hex digits. */
  caps: Record<CapSetName, string>;
}

export interface FdEntry {
  fd: number;
  /** readlink of /proc/PID/fd/N: a path, or e.g. "socket:[123]", "anon_inode:[eventfd]", "/memfd:x (deleted)". */
  target: string;
}

export interface ProcessSandboxFacts {
  pid: number;
  /** Main thread first, then the others by tid. */
  threads: ThreadSandboxFacts[];
  fds: FdEntry[];
  /** The reader may not list the descriptors (another uid's non-dumpable process). */
  fdsUnreadable?: true;
}

function field(fields: Map<string, string>, key: string, where: string): string {
  const value = fields.get(key);
  if (value === undefined) throw new Error(`${where}: no "${key}:" line`);
  return value;
}

function parseIds(text: string, key: string, where: string): IdSet {
  const parts = text.split(/\s+/).map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new Error(`${where}: "${key}:" is ${JSON.stringify(text)}, expected 4 ids`);
  }
  return { real: parts[0], effective: parts[1], saved: parts[2], fs: parts[3] };
}

function parseSmallInt(text: string, key: string, where: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${where}: "${key}:" is ${JSON.stringify(text)}, expected a number`);
  return Number(text);
}

/** Parses one /proc/PID/task/TID/status text. `where` names it in errors. */
export function parseTaskStatus(text: string, where: string): ThreadSandboxFacts {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const caps = {} as Record<CapSetName, string>;
  for (const set of CAP_SETS) {
    const hex = field(fields, set, where);
    if (!/^[0-9a-f]{16}$/.test(hex))
      throw new Error(`${where}: "${set}:" is ${JSON.stringify(hex)}, expected 16 hex digits`);
    caps[set] = hex;
  }
  const groupsText = fields.get("Groups") ?? "";
  return {
    tid: parseSmallInt(field(fields, "Pid", where), "Pid", where),
    name: field(fields, "Name", where),
    state: field(fields, "State", where).charAt(0),
    seccomp: parseSmallInt(field(fields, "Seccomp", where), "Seccomp", where),
    noNewPrivs: parseSmallInt(field(fields, "NoNewPrivs", where), "NoNewPrivs", where),
    uid: parseIds(field(fields, "Uid", where), "Uid", where),
    gid: parseIds(field(fields, "Gid", where), "Gid", where),
    groups: groupsText === "" ? [] : groupsText.split(/\s+/).map(Number),
    caps,
  };
}

function isNoEntry(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ESRCH";
}

/** Reads every thread's status and the open descriptors of pid. Threads or descriptors that go
 *  away while being read are skipped; a process that is gone is an Error. */
export function readProcessSandbox(pid: number, procRoot = "/proc"): ProcessSandboxFacts {
  const base = `${procRoot}/${pid}`;
  let tids: number[];
  try {
    tids = readdirSync(`${base}/task`)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0)
      .sort((a, b) => (a === pid ? -1 : b === pid ? 1 : a - b));
  } catch (err) {
    if (isNoEntry(err)) throw new Error(`process ${pid} is not running (no ${base}/task)`);
    throw err;
  }
  const threads: ThreadSandboxFacts[] = [];
  for (const tid of tids) {
    const path = `${base}/task/${tid}/status`;
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      if (isNoEntry(err)) continue;
      throw err;
    }
    threads.push(parseTaskStatus(text, path));
  }
  if (threads.length === 0) throw new Error(`process ${pid} is not running (no thread left in ${base}/task)`);
  const fds: FdEntry[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(`${base}/fd`);
  } catch (err) {
    // A zombie has no fd table any more; report no descriptors rather than fail. An unprivileged
    // reader (the launcher after its drop, looking at its tiles) may not list them: said so.
    if ((err as NodeJS.ErrnoException).code === "EACCES") return { pid, threads, fds: [], fdsUnreadable: true };
    if (!isNoEntry(err)) throw err;
  }
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd)) continue;
    try {
      fds.push({ fd, target: readlinkSync(`${base}/fd/${name}`) });
    } catch (err) {
      if (!isNoEntry(err)) throw err;
    }
  }
  fds.sort((a, b) => a.fd - b.fd);
  return { pid, threads, fds };
}

const idsText = (ids: IdSet) => `${ids.real}/${ids.effective}/${ids.saved}/${ids.fs}`;
const noRootId = (ids: IdSet) => ids.real !== 0 && ids.effective !== 0 && ids.saved !== 0 && ids.fs !== 0;

function capsOr(values: readonly string[]): string {
  let acc = 0n;
  for (const v of values) acc |= BigInt(`0x${v}`);
  return acc.toString(16).padStart(16, "0");
}

/** The status report's one-line-per-process view of the sandbox. Aggregated towards the worst
 *  thread: seccomp and noNewPrivs are the minimum over threads, each capability set is the union
 *  (bitwise OR) over threads, uid/gid are those of the first thread (main first) holding an id 0,
 *  else the main thread's. Per-thread differences are listed by sandboxProblems. */
export interface SandboxSummary {
  seccomp: number;
  noNewPrivs: number;
  uid: IdSet;
  gid: IdSet;
  capEff: string;
  capPrm: string;
  capBnd: string;
  capInh: string;
  capAmb: string;
  /** Number of threads. */
  threads: number;
  /** Open descriptors, by fd number. */
  fds: FdEntry[];
}

export function summarizeSandbox(facts: ProcessSandboxFacts): SandboxSummary {
  const t = facts.threads;
  const worstIds = (get: (x: ThreadSandboxFacts) => IdSet) => get(t.find((x) => !noRootId(get(x))) ?? t[0]);
  const caps = (set: CapSetName) => capsOr(t.map((x) => x.caps[set]));
  return {
    seccomp: Math.min(...t.map((x) => x.seccomp)),
    noNewPrivs: Math.min(...t.map((x) => x.noNewPrivs)),
    uid: worstIds((x) => x.uid),
    gid: worstIds((x) => x.gid),
    capEff: caps("CapEff"),
    capPrm: caps("CapPrm"),
    capBnd: caps("CapBnd"),
    capInh: caps("CapInh"),
    capAmb: caps("CapAmb"),
    threads: t.length,
    fds: facts.fds,
  };
}

interface Rule {
  label: string;
  value: (t: ThreadSandboxFacts) => string;
  ok: (t: ThreadSandboxFacts) => boolean;
  need: string;
}

const RULES: Rule[] = [
  { label: "seccomp", value: (t) => String(t.seccomp), ok: (t) => t.seccomp === 2, need: "2 (filter)" },
  { label: "NoNewPrivs", value: (t) => String(t.noNewPrivs), ok: (t) => t.noNewPrivs === 1, need: "1" },
  ...CAP_SETS.map(
    (set): Rule => ({ label: set, value: (t) => t.caps[set], ok: (t) => /^0+$/.test(t.caps[set]), need: "0" }),
  ),
  { label: "uid", value: (t) => idsText(t.uid), ok: (t) => noRootId(t.uid), need: "not 0" },
  { label: "gid", value: (t) => idsText(t.gid), ok: (t) => noRootId(t.gid), need: "not 0" },
  {
    label: "supplementary groups",
    value: (t) => (t.groups.length === 0 ? "none" : t.groups.join(",")),
    ok: (t) => !t.groups.includes(0),
    need: "no group 0",
  },
];

/** A capability set is acceptable when it holds nothing beyond `allowed` (hex, as /proc prints). */
function capsWithin(hex: string, allowed: string): boolean {
  return (BigInt(`0x${hex}`) & ~BigInt(`0x${allowed}`)) === 0n;
}

/** The rules, with the capability rules relaxed to the capabilities a tile keeps on purpose. */
function rulesAllowing(allowedCaps: string): Rule[] {
  if (/^0+$/.test(allowedCaps)) return RULES;
  return RULES.map((rule) => {
    const set = CAP_SETS.find((s) => s === rule.label);
    if (!set) return rule;
    return {
      ...rule,
      ok: (t: ThreadSandboxFacts) => capsWithin(t.caps[set], allowedCaps),
      need: `within ${allowedCaps}`,
    };
  });
}

const threadLabel = (t: ThreadSandboxFacts) => `thread ${t.tid} (${t.name})`;

/** Why the process is not fully sandboxed (empty = fully sandboxed: every thread in seccomp
 *  filter mode with no_new_privs, all five capability sets empty, no id 0 among uid/gid (real,
 *  effective, saved, fs) nor among supplementary groups). Also names threads whose value differs
 *  from the main thread's, since the main thread's /proc/PID/status hides them. */
export function sandboxProblems(
  facts: ProcessSandboxFacts,
  allowedCaps = "0",
  exempt: readonly CapSetName[] = [],
): string[] {
  const problems: string[] = [];
  const [main, ...others] = facts.threads;
  for (const rule of rulesAllowing(allowedCaps)) {
    if ((exempt as readonly string[]).includes(rule.label)) continue;
    const mainValue = rule.value(main);
    const differing = others.filter((t) => rule.value(t) !== mainValue);
    const badThreads = facts.threads.filter((t) => !rule.ok(t));
    if (differing.length > 0) {
      const list = differing.map((t) => `${threadLabel(t)} ${rule.value(t)}`).join(", ");
      const need = badThreads.length > 0 ? ` (need ${rule.need} on every thread)` : "";
      problems.push(`${rule.label} differs between threads: main thread ${main.tid} ${mainValue}, ${list}${need}`);
    } else if (badThreads.length > 0) {
      const where = facts.threads.length === 1 ? "" : ` on all ${facts.threads.length} threads`;
      problems.push(`${rule.label} ${mainValue}${where} (need ${rule.need})`);
    }
  }
  return problems;
}

export function isFullySandboxed(facts: ProcessSandboxFacts): boolean {
  return sandboxProblems(facts).length === 0;
}

/** The verdict from a summary alone (e.g. a status report read back from JSON). The summary's
 *  worst-thread aggregation makes it agree with isFullySandboxed, except for supplementary group 0,
 *  which the summary does not carry. */
export function summaryIsSandboxed(s: SandboxSummary, allowedCaps = "0"): boolean {
  const zero = (hex: string) => capsWithin(hex, allowedCaps);
  return (
    s.seccomp === 2 &&
    s.noNewPrivs === 1 &&
    zero(s.capEff) &&
    zero(s.capPrm) &&
    zero(s.capBnd) &&
    zero(s.capInh) &&
    zero(s.capAmb) &&
    noRootId(s.uid) &&
    noRootId(s.gid)
  );
}
