// `tilenet seccomp <kind>`: a tile's compiled filter in readable form, with the fd numbers the
// launcher grants that kind in the default (lab) topology: one net tile, one app.
import { compilePolicy } from "../shared/seccomp/compile";
import { disassemble } from "../shared/seccomp/disasm";
import { nodeBaselinePolicy } from "../shared/seccomp/node-baseline";
import { mergePolicies, type SeccompPolicy } from "../shared/seccomp/policy";
import { appPolicy, appRegionRoles } from "../tiles/app/definition";
import { NET_FDS, netPolicy, netRegionRoles } from "../tiles/net/definition";
import { NETLINK_FDS, netlinkPolicy, netlinkRegionRoles } from "../tiles/netlink/definition";
import { UsageError } from "./args";
import { tileFdLayout } from "./tile-process";

const policies: Record<string, () => SeccompPolicy> = {
  netlink: () => netlinkPolicy(tileFdLayout(netlinkRegionRoles(["solicit.0"]), Object.values(NETLINK_FDS)).fds),
  net: () =>
    netPolicy(
      tileFdLayout(
        netRegionRoles(["echo"]).map((r) => r.role),
        Object.values(NET_FDS),
      ).fds,
    ),
  app: () =>
    appPolicy(
      tileFdLayout(
        appRegionRoles().map((r) => r.role),
        [],
      ).fds,
    ),
};

export function printSeccomp(kind: string): string {
  const make = policies[kind];
  if (!make) throw new UsageError(`unknown tile kind "${kind}" (known: ${Object.keys(policies).join(", ")})`);
  // The tile's pid is only known at run time (tgkill is pinned to it); 0 stands for it here.
  const baseline = nodeBaselinePolicy(0);
  const merged = mergePolicies(`${kind}+${baseline.name}`, baseline, make());
  const program = compilePolicy(merged);
  return `# seccomp filter of the ${kind} tile: ${program.byteLength / 8} instructions (tgkill pid shown as 0)\n${disassemble(program)}\n`;
}
