// `tilenet configure init|check|fini [STAGE...]`: generic over the stages' plans. check reads
// every wanted setting and lists what differs; init writes what differs and records the value it
// found; fini writes back recorded values, but only where the value is still the one init wrote
// (a value the operator changed since is theirs, and stays).
import { NetState } from "../../shared/netstate";
import { suggestion, UsageError } from "../args";
import { ConfigError, type InstanceConfig } from "../config";
import { PermissionError } from "../errors";
import { ProcRoot, SysfsRoot } from "../sysfs";
import { hugetlbfsStage, irqAffinityStage, sysctlStage } from "./host-stages";
import { busyPollStage } from "./napi-stage";
import { channelsStage, driverStage, offloadsStage } from "./nic-stages";
import { type ConfigureContext, type Plan, type Stage, sameValue, satisfied, showValue, type Value } from "./stage";
import { type ConfigureState, loadState, recordChange, saveState, statePath } from "./state";

export const STAGES: readonly Stage[] = [
  driverStage,
  channelsStage,
  offloadsStage,
  sysctlStage,
  irqAffinityStage,
  busyPollStage,
  hugetlbfsStage,
];
export const ACTIONS = ["check", "init", "fini"] as const;
export type Action = (typeof ACTIONS)[number];
export const HUGETLBFS_DIR = "/run/tilenet/.hugetlbfs";

export interface Difference {
  key: string;
  have: Value;
  want: Value;
  why: string;
}

export interface StageReport {
  stage: string;
  /** ok: nothing differs; differs: check found differences (init: some remain); skipped: n/a. */
  status: "ok" | "differs" | "skipped";
  skipped?: string;
  differences: Difference[];
  /** init: what it changed; fini: what it restored or left. */
  actions: string[];
  notes: string[];
}

/** The stages named on the command line (all when none), in the table's order. */
export function selectStages(names: readonly string[]): Stage[] {
  for (const n of names) {
    if (!STAGES.some((s) => s.name === n))
      throw new UsageError(
        `unknown stage "${n}"${suggestion(
          n,
          STAGES.map((s) => s.name),
        )}; stages: ${STAGES.map((s) => s.name).join(", ")}`,
      );
  }
  return names.length === 0 ? [...STAGES] : STAGES.filter((s) => names.includes(s.name));
}

async function differences(plan: Plan): Promise<Difference[]> {
  const found: Difference[] = [];
  for (const w of plan.wants) {
    const have = await w.setting.read();
    if (!satisfied(w, have)) found.push({ key: w.setting.key, have, want: w.want, why: w.why });
  }
  return found;
}

function report(stage: Stage, plan: Plan, diffs: Difference[], actions: string[]): StageReport {
  if (plan.skipped !== undefined)
    return { stage: stage.name, status: "skipped", skipped: plan.skipped, differences: [], actions, notes: plan.notes };
  const status = diffs.length === 0 ? "ok" : "differs";
  return { stage: stage.name, status, differences: diffs, actions, notes: plan.notes };
}

export async function checkStage(ctx: ConfigureContext, stage: Stage): Promise<StageReport> {
  const plan = await stage.plan(ctx);
  return report(stage, plan, plan.skipped === undefined ? await differences(plan) : [], []);
}

export async function initStage(ctx: ConfigureContext, stage: Stage, state: ConfigureState): Promise<StageReport> {
  const plan = await stage.plan(ctx);
  if (plan.skipped !== undefined) return report(stage, plan, [], []);
  const actions: string[] = [];
  for (const d of await differences(plan)) {
    const w = plan.wants.find((x) => x.setting.key === d.key);
    if (!w) continue;
    await w.setting.write(d.want);
    recordChange(state, { stage: stage.name, key: d.key, before: d.have, after: d.want });
    actions.push(`${d.key}: ${showValue(d.have)} -> ${showValue(d.want)}`);
  }
  // Read back: a driver may accept a request and keep another value.
  return report(stage, plan, await differences(plan), actions);
}

export async function finiStage(ctx: ConfigureContext, stage: Stage, state: ConfigureState): Promise<StageReport> {
  const actions: string[] = [];
  const mine = state.changes.filter((c) => c.stage === stage.name).reverse();
  for (const c of mine) {
    const setting = stage.setting(ctx, c.key);
    if (!setting) throw new Error(`state file: stage ${stage.name} has no setting ${c.key}`);
    const now = await setting.read();
    if (sameValue(now, c.after)) {
      await setting.write(c.before);
      actions.push(`${c.key}: ${showValue(now)} -> ${showValue(c.before)} (restored)`);
    } else {
      actions.push(`${c.key}: left at ${showValue(now)} (changed since init, which set ${showValue(c.after)})`);
    }
    state.changes.splice(state.changes.indexOf(c), 1);
  }
  return { stage: stage.name, status: "ok", differences: [], actions, notes: [] };
}

export interface ConfigureRun {
  action: Action;
  stages: Stage[];
  config: InstanceConfig;
  /** Override of the state file (tests); default under /run/tilenet/.configure. */
  statePath?: string;
  /** The interface prepared (one of [net] interfaces); default the first. */
  ifname?: string;
}

/** Opens the context (netstate session in [net] netns, /sys, /proc), runs fn, closes it. */
export async function withContext<T>(
  config: InstanceConfig,
  fn: (ctx: ConfigureContext) => Promise<T>,
  ifname: string | undefined = config.net.interfaces[0],
): Promise<T> {
  if (!ifname) throw new ConfigError("net.interface", "the interface to prepare");
  const net = await NetState.open({ netns: config.net.netns });
  const sys = SysfsRoot.open();
  const proc = ProcRoot.open();
  try {
    await net.getLink(ifname).catch((e: unknown) => {
      throw new ConfigError(
        "net.interface",
        `an interface of ${config.net.netns ?? "the launcher's namespace"}`,
        `${ifname} (${(e as Error).message})`,
      );
    });
    return await fn({ config, ifname, netns: config.net.netns, net, sys, proc, hugetlbfsDir: HUGETLBFS_DIR });
  } finally {
    net.close();
    sys.close();
    proc.close();
  }
}

export async function runConfigure(run: ConfigureRun): Promise<StageReport[]> {
  if (process.getuid?.() !== 0)
    throw new PermissionError("configure must run as root (it reads and changes the interface's settings)");
  return withContext(
    run.config,
    async (ctx) => {
      const path = run.statePath ?? statePath(ctx.ifname, ctx.netns);
      const state = loadState(path, ctx.ifname, ctx.netns);
      const reports: StageReport[] = [];
      const order = run.action === "fini" ? [...run.stages].reverse() : run.stages;
      try {
        for (const stage of order) {
          if (run.action === "check") reports.push(await checkStage(ctx, stage));
          else if (run.action === "init") reports.push(await initStage(ctx, stage, state));
          else reports.push(await finiStage(ctx, stage, state));
        }
      } finally {
        // Whatever happened, what was changed so far is on record.
        if (run.action !== "check") saveState(path, state);
      }
      return reports;
    },
    run.ifname,
  );
}

/** Human text: one line per stage, then its differences, actions and notes indented. */
export function renderReports(reports: readonly StageReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(`${r.stage}: ${r.status}${r.skipped ? ` (${r.skipped})` : ""}`);
    for (const d of r.differences)
      lines.push(`  ${d.key}: ${showValue(d.have)}, needs ${showValue(d.want)} (${d.why})`);
    for (const a of r.actions) lines.push(`  ${a}`);
    for (const n of r.notes) lines.push(`  ${n}`);
  }
  return `${lines.join("\n")}\n`;
}
