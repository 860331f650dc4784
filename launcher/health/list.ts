// `tilenet list`: the running instances, one line each (or a JSON array).

import { ExitCode, PermissionError } from "../errors";
import { RUN_ROOT } from "../manifest";
import { out } from "../output";
import { scanInstances } from "./instances";
import { renderColumns } from "./status";

export interface InstanceListEntry {
  instance: string;
  launcherPid: number;
  startedAt: string;
  tiles: { name: string; kind: string; pid: number }[];
  lab: boolean;
  /** What the net tile's socket is attached to, when there is one. */
  xdp?: { interface: string; queue: number; mode: string; zeroCopy: boolean };
  /** The net tile's data plane ([net] provider as resolved), when there is a net tile. */
  provider?: "xdp" | "socket";
}

export function listEntries(runRoot: string = RUN_ROOT): { entries: InstanceListEntry[]; forbidden: string[] } {
  const scan = scanInstances(runRoot);
  const entries = scan.running.map((m) => ({
    instance: m.instance,
    launcherPid: m.launcherPid,
    startedAt: m.startedAt,
    tiles: m.tiles.map((t) => ({ name: t.name, kind: t.kind, pid: t.pid })),
    lab: m.lab !== undefined,
    ...(m.xdp
      ? { xdp: { interface: m.xdp.interface, queue: m.xdp.queue, mode: m.xdp.mode, zeroCopy: m.xdp.zeroCopy } }
      : {}),
    ...(m.netProvider ? { provider: m.netProvider.provider } : {}),
  }));
  return { entries, forbidden: scan.forbidden };
}

/** Exit 0 (even with none running: an empty list is an answer), 4 when some could not be read. */
export function listCommand(json: boolean, runRoot: string = RUN_ROOT): number {
  const { entries, forbidden } = listEntries(runRoot);
  if (forbidden.length > 0)
    throw new PermissionError(`${runRoot}: ${forbidden.join(", ")} readable by root only (run as root)`);
  if (json) out(`${JSON.stringify(entries, null, 2)}\n`);
  else if (entries.length === 0) out("no running instance\n");
  else {
    const rows = [["INSTANCE", "LAUNCHER", "STARTED", "TILES", "XDP"]];
    for (const e of entries) {
      const xdp = e.xdp
        ? `${e.xdp.interface} queue ${e.xdp.queue} ${e.xdp.mode} ${e.xdp.zeroCopy ? "zero-copy" : "copy"}`
        : e.provider === "socket"
          ? "none (socket provider)"
          : "-";
      rows.push([e.instance, String(e.launcherPid), e.startedAt, e.tiles.map((t) => t.name).join(","), xdp]);
    }
    out(`${renderColumns(rows).join("\n")}\n`);
  }
  return ExitCode.ok;
}
