// The policy compiler on its own: every compiled program is checked against the policy's meaning
// (evaluated directly from the policy) by running it in a classic-BPF interpreter, including long
// programs whose jumps need trampolines. The kernel runs them in seccomp-enforce.test.ts.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BPF_MAX_COND_JUMP,
  decodeProgram,
  encodeProgram,
  JMP_JA,
  JMP_JEQ_K,
  RET_K,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_LOG,
  validateProgram,
} from "../shared/seccomp/bpf";
import { compilePolicy } from "../shared/seccomp/compile";
import { disassemble } from "../shared/seccomp/disasm";
import { nodeBaselinePolicy } from "../shared/seccomp/node-baseline";
import { type ArgCheck, type ArgRule, mergePolicies, type SeccompPolicy } from "../shared/seccomp/policy";
import { syscallNames, syscallNumber, syscallNumbers } from "../shared/seccomp/syscalls-x86_64";
import { interpret, referenceAction, type SeccompData } from "./support/seccomp-helpers";

const X86_64 = 0xc000003e;
const I386 = 0x40000003;

function data(nr: number, args: bigint[] = [], arch = X86_64): SeccompData {
  return { nr, arch, args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6) };
}

describe("x86_64 syscall table", () => {
  it("agrees with every entry of the system's asm/unistd_64.h and knows the newer syscalls", () => {
    const header = readFileSync("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "utf8");
    let compared = 0;
    for (const m of header.matchAll(/#define __NR_(\w+) (\d+)/g)) {
      expect(syscallNumbers[m[1]], m[1]).toBe(Number(m[2]));
      compared++;
    }
    expect(compared).toBeGreaterThan(350);
    expect(syscallNumber("read")).toBe(0);
    expect(syscallNumber("openat")).toBe(257);
    expect(syscallNumber("uprobe")).toBe(336);
    expect(syscallNumber("mseal")).toBe(462);
    expect(syscallNumber("file_setattr")).toBe(469);
    expect(syscallNumber("toString")).toBeUndefined();
    expect(syscallNames.get(231)).toBe("exit_group");
    expect(syscallNames.size).toBe(Object.keys(syscallNumbers).length);
  });
});

/** Random policies and inputs: the compiled program must give what the policy means.
 *  Returns how many of the programs needed jump trampolines. */
function checkRandomPolicies(minRules: number, maxRules: number, numRuns: number): number {
  let withTrampolines = 0;
  const interesting = [
    0n,
    1n,
    2n,
    0x40n,
    0x7fff_ffffn,
    0x8000_0000n,
    0xffff_ffffn,
    0x1_0000_0000n,
    0xffff_ffff_ffff_ffffn,
  ];
  const argValue = fc.oneof(
    fc.constantFrom(...interesting),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.integer({ min: -5, max: 300 }).map(BigInt),
  );
  const check: fc.Arbitrary<ArgCheck> = fc.oneof(
    fc.record({
      index: fc.integer({ min: 0, max: 5 }),
      op: fc.constantFrom("eq", "ne", "lt", "le", "gt", "ge"),
      value: argValue,
    }) as fc.Arbitrary<ArgCheck>,
    fc.record({
      index: fc.integer({ min: 0, max: 5 }),
      op: fc.constant("in"),
      values: fc.array(argValue, { minLength: 1, maxLength: 5 }),
    }) as fc.Arbitrary<ArgCheck>,
    fc
      .record({ index: fc.integer({ min: 0, max: 5 }), mask: argValue, value: argValue })
      .map(
        ({ index, mask, value }) =>
          ({ index, op: "maskedEq", mask, value: BigInt.asUintN(64, mask & value) }) as ArgCheck,
      ),
  );
  const nrs = [0, 1, 2, 3, 9, 17, 45, 60, 202, 231, 257, 281, 318, 435, 469];
  const name = fc.constantFrom(...nrs.map((n) => syscallNames.get(n) ?? "read"));
  const policyArb = fc
    .record({
      plain: fc.uniqueArray(name, { maxLength: 6 }),
      rules: fc.array(fc.record({ syscall: name, args: fc.array(check, { minLength: 1, maxLength: 3 }) }), {
        minLength: minRules,
        maxLength: maxRules,
      }),
      errno: fc.uniqueArray(fc.record({ syscall: name, errno: fc.integer({ min: 1, max: 4095 }) }), {
        selector: (e) => e.syscall,
        maxLength: 4,
      }),
    })
    .map(
      ({ plain, rules, errno }): SeccompPolicy => ({
        name: "random",
        allow: [...plain, ...rules],
        errno: errno.filter((e) => !plain.includes(e.syscall)),
      }),
    );
  const input = fc.record({
    nr: fc.oneof(fc.constantFrom(...nrs), fc.integer({ min: 0, max: 600 }), fc.constant(0x40000000 + 1)),
    arch: fc.oneof(fc.constant(X86_64), fc.constant(X86_64), fc.constant(I386)),
    args: fc.array(argValue, { minLength: 6, maxLength: 6 }),
  });
  fc.assert(
    fc.property(policyArb, fc.array(input, { minLength: 1, maxLength: 30 }), (policy, inputs) => {
      const program = compilePolicy(policy);
      validateProgram(program);
      if (decodeProgram(program).some((insn) => insn.code === JMP_JA)) withTrampolines++;
      // Random inputs, plus for each rule an input built from the values it names (so rules
      // match, or nearly match, often).
      const probes = [...inputs];
      policy.allow.forEach((entry, i) => {
        if (typeof entry === "string") return;
        const base = inputs[i % inputs.length];
        const args = [...base.args];
        for (const c of entry.args) {
          args[c.index] = BigInt.asUintN(64, BigInt(c.op === "in" ? c.values[i % c.values.length] : c.value));
        }
        probes.push({ nr: syscallNumber(entry.syscall) ?? 0, arch: X86_64, args });
      });
      return probes.every((d) => interpret(program, d) === referenceAction(policy, d));
    }),
    { numRuns },
  );
  return withTrampolines;
}

describe("compilePolicy", () => {
  it("rejects unknown syscalls and bad rules with the policy's name", () => {
    expect(() => compilePolicy({ name: "netlink", allow: ["read", "sendtoo"] })).toThrow(
      /seccomp policy 'netlink': unknown syscall 'sendtoo'/,
    );
    expect(() => compilePolicy({ name: "p", allow: [], errno: [{ syscall: "opn", errno: 1 }] })).toThrow(/'opn'/);
    expect(() => compilePolicy({ name: "p", allow: ["openat"], errno: [{ syscall: "openat", errno: 1 }] })).toThrow(
      /openat is both allowed and given errno 1/,
    );
    expect(() => compilePolicy({ name: "p", allow: [], errno: [{ syscall: "openat", errno: 0 }] })).toThrow(
      /1\.\.4095/,
    );
    expect(() => compilePolicy({ name: "p", allow: [{ syscall: "write", args: [] }] })).toThrow(/no argument checks/);
    expect(() =>
      compilePolicy({ name: "p", allow: [{ syscall: "write", args: [{ index: 6, op: "eq", value: 1 }] }] }),
    ).toThrow(/argument index 6/);
    expect(() =>
      compilePolicy({
        name: "p",
        allow: [{ syscall: "recvfrom", args: [{ index: 3, op: "maskedEq", mask: 0xf, value: 0x10 }] }],
      }),
    ).toThrow(/bits outside mask/);
    expect(() =>
      compilePolicy({ name: "p", allow: [{ syscall: "write", args: [{ index: 0, op: "eq", value: 2 ** 60 }] }] }),
    ).toThrow(/not a safe integer/);
    expect(() =>
      compilePolicy({ name: "p", allow: [{ syscall: "write", args: [{ index: 0, op: "in", values: [] }] }] }),
    ).toThrow(/empty value list/);
  });

  it("kills other architectures and the x32 ABI, allows, returns errno, kills the rest", () => {
    const policy: SeccompPolicy = {
      name: "basic",
      allow: ["read", "write"],
      errno: [{ syscall: "openat", errno: 13 }],
    };
    const program = compilePolicy(policy);
    expect(interpret(program, data(0))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(1))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(257))).toBe((SECCOMP_RET_ERRNO | 13) >>> 0);
    expect(interpret(program, data(2))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(program, data(0, [], I386))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(program, data(0x40000000 | 0))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(program, data(0xffffffff))).toBe(SECCOMP_RET_KILL_PROCESS);
    const logging = compilePolicy(policy, { defaultAction: "log" });
    expect(interpret(logging, data(2))).toBe(SECCOMP_RET_LOG);
    expect(interpret(logging, data(0x40000000 | 2))).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it("compares both 32-bit halves of an argument", () => {
    const program = compilePolicy({
      name: "halves",
      allow: [
        { syscall: "write", args: [{ index: 0, op: "eq", value: 1 }] },
        { syscall: "recvfrom", args: [{ index: 3, op: "maskedEq", mask: ~0x40, value: 0 }] },
        { syscall: "mmap", args: [{ index: 1, op: "le", value: 0x1_0000_0000n }] },
      ],
    });
    expect(interpret(program, data(1, [1n]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(1, [0x1_0000_0001n]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(program, data(1, [2n]))).toBe(SECCOMP_RET_KILL_PROCESS);
    // flags 0 or MSG_DONTWAIT only, with nothing in the upper half
    expect(interpret(program, data(45, [0n, 0n, 0n, 0x40n]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(45, [0n, 0n, 0n, 0n]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(45, [0n, 0n, 0n, 0x42n]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(program, data(45, [0n, 0n, 0n, 0x40n | (1n << 40n)]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(program, data(9, [0n, 0x1_0000_0000n]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(9, [0n, 0xffff_ffffn]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(9, [0n, 0x1_0000_0001n]))).toBe(SECCOMP_RET_KILL_PROCESS);
  });

  it("falls back to a syscall's errno entry when none of its argument rules match", () => {
    const program = compilePolicy({
      name: "fallback",
      allow: [{ syscall: "openat", args: [{ index: 2, op: "eq", value: 0 }] }],
      errno: [{ syscall: "openat", errno: 1 }],
    });
    expect(interpret(program, data(257, [0n, 0n, 0n]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(257, [0n, 0n, 0x241n]))).toBe((SECCOMP_RET_ERRNO | 1) >>> 0);
  });

  it("lays out long programs with jump trampolines and keeps their meaning", () => {
    // 20 syscalls x 10 rules of 2-3 checks: argument blocks far longer than 255 instructions.
    const names = Object.keys(syscallNumbers).slice(0, 20);
    const allow: ArgRule[] = [];
    names.forEach((name, s) => {
      for (let r = 0; r < 10; r++) {
        const base = BigInt(s * 1000 + r);
        allow.push({
          syscall: name,
          args: [
            { index: 0, op: "eq", value: base | (BigInt(r % 3) << 32n) },
            { index: 1, op: "in", values: [r, r + 100, -1] },
            { index: 2, op: r % 2 ? "ge" : "lt", value: 0x8000_0000n + BigInt(r) },
          ],
        });
      }
    });
    const policy: SeccompPolicy = { name: "long", allow };
    const program = compilePolicy(policy);
    const insns = decodeProgram(program);
    expect(insns.length).toBeGreaterThan(2 * BPF_MAX_COND_JUMP);
    expect(insns.some((i) => i.code === JMP_JA)).toBe(true);
    validateProgram(program);
    allow.forEach((rule, i) => {
      const [a0, , a2] = rule.args as [ArgCheck & { value: bigint }, ArgCheck, ArgCheck & { value: bigint }];
      const nr = syscallNumber(rule.syscall) ?? -1;
      const inside = a2.op === "lt" ? a2.value - 1n : a2.value;
      const outside = a2.op === "lt" ? a2.value : a2.value - 1n;
      const hit = data(nr, [a0.value, 0xffff_ffff_ffff_ffffn, inside]);
      expect(interpret(program, hit), `rule ${i}`).toBe(SECCOMP_RET_ALLOW);
      expect(referenceAction(policy, hit)).toBe(SECCOMP_RET_ALLOW);
      expect(interpret(program, data(nr, [a0.value, 0xffff_ffff_ffff_ffffn, outside]))).toBe(
        referenceAction(policy, data(nr, [a0.value, 0xffff_ffff_ffff_ffffn, outside])),
      );
      expect(interpret(program, data(nr, [a0.value ^ (1n << 32n), 100n, inside]))).toBe(
        referenceAction(policy, data(nr, [a0.value ^ (1n << 32n), 100n, inside])),
      );
    });
  });

  it("matches the policy's meaning on random policies and inputs (property)", () => {
    checkRandomPolicies(0, 40, 300);
  });

  it("matches the policy's meaning on long random policies that need trampolines (property)", () => {
    expect(checkRandomPolicies(150, 250, 20)).toBeGreaterThan(0);
  });

  it("stays within the kernel's 4096 instructions or says so", () => {
    const many: ArgRule[] = [];
    for (let i = 0; i < 1200; i++)
      many.push({ syscall: "write", args: [{ index: 0, op: "eq", value: (1000n + BigInt(i)) | (1n << 33n) }] });
    expect(() => compilePolicy({ name: "huge", allow: many })).toThrow(
      /seccomp policy 'huge': \d+ instructions, more than the kernel's 4096/,
    );
  });
});

describe("validateProgram", () => {
  it("rejects jumps out of the program, unknown opcodes and a missing final return", () => {
    const ret = { code: RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW };
    expect(() => validateProgram(encodeProgram([{ code: JMP_JEQ_K, jt: 5, jf: 0, k: 1 }, ret]))).toThrow(
      /instruction 0.*leaves/,
    );
    expect(() => validateProgram(encodeProgram([{ code: 0x07, jt: 0, jf: 0, k: 0 }, ret]))).toThrow(/opcode/);
    expect(() => validateProgram(encodeProgram([ret, { code: JMP_JA, jt: 0, jf: 0, k: 0 }]))).toThrow(
      /leaves|last instruction/,
    );
    expect(() => validateProgram(new Uint8Array(0))).toThrow(/0 instructions/);
    expect(() => validateProgram(new Uint8Array(12))).toThrow(/8-byte/);
    expect(() => validateProgram(encodeProgram([{ code: 0x20, jt: 0, jf: 0, k: 64 }, ret]))).toThrow(
      /outside seccomp_data/,
    );
  });
});

describe("disassemble", () => {
  it("names syscalls, fields and actions", () => {
    const listing = disassemble(
      compilePolicy({
        name: "netlink",
        allow: ["read", { syscall: "sendto", args: [{ index: 0, op: "in", values: [5, 6] }] }],
        errno: [{ syscall: "openat", errno: 1 }],
      }),
    );
    expect(listing).toMatch(/^ 0: ld {3}arch$/m);
    expect(listing).toMatch(/jeq {2}0xc000003e \(AUDIT_ARCH_X86_64\)/);
    expect(listing).toMatch(/jge {2}1073741824 \(x32 bit\)/);
    expect(listing).toMatch(/jeq {2}0 \(read\) \? \d+ : \d+/);
    expect(listing).toMatch(/jeq {2}44 \(sendto\)/);
    expect(listing).toMatch(/ld {3}args\[0\]\.hi/);
    expect(listing).toMatch(/jeq {2}0x5 \?/);
    expect(listing).toMatch(/ret {2}ALLOW/);
    expect(listing).toMatch(/ret {2}ERRNO\(1 EPERM\)/);
    expect(listing).toMatch(/ret {2}KILL_PROCESS/);
  });
});

describe("mergePolicies and the Node baseline", () => {
  it("ORs the allow lists and refuses conflicting errno entries", () => {
    const pid = 4242;
    const merged = mergePolicies("tile+base", nodeBaselinePolicy(pid), {
      name: "tile",
      allow: [{ syscall: "sendto", args: [{ index: 0, op: "eq", value: 7 }] }],
      errno: [{ syscall: "openat", errno: 1 }],
    });
    const program = compilePolicy(merged);
    expect(interpret(program, data(44, [7n]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(44, [8n]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(program, data(202))).toBe(SECCOMP_RET_ALLOW); // futex from the baseline
    // tgkill only towards the process itself
    expect(interpret(program, data(234, [BigInt(pid), 1n, 6n]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, data(234, [1n, 1n, 9n]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(() =>
      mergePolicies("x", nodeBaselinePolicy(pid), {
        name: "tile",
        allow: [],
        errno: [{ syscall: "openat", errno: 13 }],
      }),
    ).toThrow(/openat gets errno 1 from 'node\d+-baseline' and 13 from 'tile'/);
    // io_uring is answered ENOSYS by every filter and can never be allowed (it bypasses seccomp).
    for (const nr of [425, 426, 427]) expect(interpret(program, data(nr))).toBe((SECCOMP_RET_ERRNO | 38) >>> 0);
    for (const allow of ["io_uring_setup", "io_uring_enter", "io_uring_register"])
      expect(() =>
        compilePolicy(mergePolicies("x", nodeBaselinePolicy(pid), { name: "tile", allow: [allow] })),
      ).toThrow(/can never be allowed \(io_uring operations bypass seccomp\)/);
    // What each Node major adds, chosen by version.
    expect(nodeBaselinePolicy(pid, "20.20.2").name).toBe("node20-baseline");
    expect(interpret(compilePolicy(nodeBaselinePolicy(pid, "20.20.2")), data(204))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(compilePolicy(nodeBaselinePolicy(pid, "22.23.5")), data(204))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(compilePolicy(nodeBaselinePolicy(pid, "22.23.5")), data(230))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(compilePolicy(nodeBaselinePolicy(pid, "24.22.3")), data(230))).toBe(SECCOMP_RET_ALLOW);
    expect(nodeBaselinePolicy(pid, "26.0.0").name).toBe("node24-baseline");
    // A tile's unconditional allow wins over the baseline's EPERM.
    const opener = compilePolicy(mergePolicies("x", nodeBaselinePolicy(pid), { name: "tile", allow: ["openat"] }));
    expect(interpret(opener, data(257))).toBe(SECCOMP_RET_ALLOW);
  });
});
