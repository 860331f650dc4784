// `tilenet seccomp <kind>`: a tile's compiled filter in readable form, with the fd numbers the
// launcher grants that kind in the default (lab) topology: one net tile, one app.
import { compilePolicy } from "../shared/seccomp/compile";
import { disassemble } from "../shared/seccomp/disasm";
import { nodeBaselinePolicy } from "../shared/seccomp/node-baseline";
import { mergePolicies, type SeccompPolicy } from "../shared/seccomp/policy";
import { appPolicy } from "../tiles/app/definition";
import { netPolicy } from "../tiles/net/definition";
import { netSocketPolicy } from "../tiles/net-socket/definition";
import { netlinkPolicy } from "../tiles/netlink/definition";
import { UsageError } from "./args";
import { defaultConfig } from "./config";
import { labConfig, labEchoApp } from "./lab";
import { tileFdLayout } from "./tile-process";
import { describeInstance } from "./topology";

const policies: Record<string, (fds: Record<string, number>) => SeccompPolicy> = {
  netlink: netlinkPolicy,
  net: netPolicy,
  "net-socket": netSocketPolicy,
  app: appPolicy,
};

/** The descriptor numbers a tile of `kind` gets in the lab's topology (described, nothing made). */
function labFds(kind: string): Record<string, number> {
  const config = labConfig(defaultConfig(), [labEchoApp()], "veth0", "/run/netns/lab");
  const topology = describeInstance({
    instance: "lab",
    config,
    runtimeDir: "/run/tilenet/lab/runtime",
    interfaces: [{ name: "veth0", ifindex: 2 }],
    provider: kind === "net-socket" ? "socket" : "xdp",
  });
  const tile = topology.tiles.find((t) => t.kind === kind);
  if (!tile) throw new Error(`the lab topology has no ${kind} tile`);
  return tileFdLayout(
    tile.regions.map((r) => r.role),
    tile.fds.map((f) => f.role),
  ).fds;
}

export function printSeccomp(kind: string): string {
  const policy = policies[kind];
  if (!policy) throw new UsageError(`unknown tile kind "${kind}" (known: ${Object.keys(policies).join(", ")})`);
  // The tile's pid is only known at run time (tgkill is pinned to it); 0 stands for it here.
  const baseline = nodeBaselinePolicy(0);
  const merged = mergePolicies(`${kind}+${baseline.name}`, baseline, policy(labFds(kind)));
  const program = compilePolicy(merged);
  return `# seccomp filter of the ${kind} tile: ${program.byteLength / 8} instructions (tgkill pid shown as 0)\n${disassemble(program)}\n`;
}
