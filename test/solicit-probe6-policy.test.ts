// The probe6 socket's seccomp rules (tiles/netlink/solicit-probe6.ts), merged into the netlink
// tile's policy as definition.ts will: only an empty sendto with fixed flags and a 28-byte
// sockaddr_in6 on that fd, the SO_BINDTOIFINDEX getsockopt, never sendmsg (cmsg could change the
// hop limit or the interface). Checked in the kernel with the C harness (fd 12 stands for the socket).
import { afterAll, beforeAll, expect, it } from "vitest";
import { compilePolicy } from "../shared/seccomp/compile";
import { nodeBaselinePolicy } from "../shared/seccomp/node-baseline";
import { mergePolicies } from "../shared/seccomp/policy";
import { netlinkPolicy } from "../tiles/netlink/definition";
import { PROBE6_FD_ROLE, probe6PolicyRules } from "../tiles/netlink/solicit-probe6";
import { buildHarness, removeHarness, requireBuilt, runHarness } from "./support/seccomp-helpers";

let harness: string | undefined;
beforeAll(() => {
  requireBuilt();
  harness = buildHarness();
});
afterAll(() => removeHarness());

it("pins the probe6 socket: an empty sendto to a sockaddr_in6, nothing else", (ctx) => {
  if (!harness) return ctx.skip("no C compiler (cc) to build the harness");
  expect(PROBE6_FD_ROLE).toBe("probe6");
  const base = netlinkPolicy({ "nl.events": 7, "nl.requests": 8, probe: 10 });
  const policy = { ...base, allow: [...base.allow, ...probe6PolicyRules(12)] };
  const program = compilePolicy(mergePolicies("netlink+base", nodeBaselinePolicy(1), policy));
  const flags = 0x4040; // MSG_DONTWAIT | MSG_NOSIGNAL
  const allowed = runHarness(harness, program, [`44,12,0,0,${flags},0,28`, "55,12,1,62,0,0"]);
  expect(allowed.signal).toBeNull();
  expect(allowed.stdout).toMatch(/^44=-\d+\n55=-\d+\n$/); // reached the kernel (a pipe: ENOTSOCK)
  for (const [what, call] of [
    ["sendmsg (cmsg could set the hop limit or the interface)", "46,12,0,0x4040"],
    ["a payload", `44,12,0,1,${flags},0,28`],
    ["other flags", "44,12,0,0,0x40,0,28"],
    ["an IPv4 address length on the probe6 fd", `44,12,0,0,${flags},0,16`],
    ["another fd", `44,13,0,0,${flags},0,28`],
    ["setsockopt (hop limit)", "54,12,41,16,0,4"],
    ["another getsockopt", "55,12,1,25,0,0"],
  ]) {
    expect(runHarness(harness, program, [call]).signal, what).toBe("SIGSYS");
  }
});
