// The app tile's filter lets randomness through: getrandom with flags 0 or GRND_NONBLOCK (what
// OpenSSL's reseed and glibc use), and nothing else of getrandom. Checked on the compiled program
// with the BPF interpreter and in the kernel with the raw-syscall harness (a control run without
// the filter shows the same calls succeed, so a filter that does nothing fails).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIT_ARCH_X86_64 } from "../shared/seccomp/bpf";
import { compilePolicy } from "../shared/seccomp/compile";
import { nodeBaselinePolicy } from "../shared/seccomp/node-baseline";
import { mergePolicies } from "../shared/seccomp/policy";
import { syscallNumber } from "../shared/seccomp/syscalls-x86_64";
import { appPolicy } from "../tiles/app/definition";
import {
  buildHarness,
  interpret,
  removeHarness,
  runHarness,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_KILL_PROCESS,
} from "./support/seccomp-helpers";

const GETRANDOM = syscallNumber("getrandom") ?? -1;
const appProgram = () => compilePolicy(mergePolicies("app+base", nodeBaselinePolicy(4242), appPolicy({})));
const getrandom = (flags: number) => ({
  nr: GETRANDOM,
  arch: AUDIT_ARCH_X86_64,
  args: [0x1000n, 32n, BigInt(flags), 0n, 0n, 0n],
});

describe("app tile seccomp: randomness", () => {
  it("allows getrandom with flags 0 and GRND_NONBLOCK only (BPF interpreter)", () => {
    const program = appProgram();
    expect(interpret(program, getrandom(0))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, getrandom(1))).toBe(SECCOMP_RET_ALLOW);
    for (const flags of [2 /* GRND_RANDOM */, 4 /* GRND_INSECURE */, 3, 0x100])
      expect(interpret(program, getrandom(flags)), `flags ${flags}`).toBe(SECCOMP_RET_KILL_PROCESS);
    // Upper bits of the flags word are compared too (the kernel reads an unsigned int).
    expect(interpret(program, { ...getrandom(0), args: [0n, 0n, 1n << 32n, 0n, 0n, 0n] })).toBe(
      SECCOMP_RET_KILL_PROCESS,
    );
  });

  describe("in the kernel (raw getrandom under the app tile's filter)", () => {
    let harness: string | undefined;
    beforeAll(() => {
      harness = buildHarness();
    });
    afterAll(() => removeHarness());

    it("getrandom(NULL, 0, 0|GRND_NONBLOCK) returns 0 under the filter; GRND_RANDOM is killed", (ctx) => {
      if (!harness) return ctx.skip("no C compiler (cc) to build the harness");
      const calls = [`${GETRANDOM},0,0,0`, `${GETRANDOM},0,0,1`];
      const control = runHarness(harness, undefined, [...calls, `${GETRANDOM},0,0,2`]);
      expect(control.status).toBe(0);
      expect(control.stdout).toBe(`${GETRANDOM}=0\n${GETRANDOM}=0\n${GETRANDOM}=0\n`);
      const allowed = runHarness(harness, appProgram(), calls);
      expect(allowed.signal).toBeNull();
      expect(allowed.stdout).toBe(`${GETRANDOM}=0\n${GETRANDOM}=0\n`);
      const killed = runHarness(harness, appProgram(), [`${GETRANDOM},0,0,2`]);
      expect(killed.signal).toBe("SIGSYS");
    });
  });
});
