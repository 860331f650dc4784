import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";
import { BpfAssembler, decodeInsns, disassemble } from "../shared/xdp/bpf-asm";
import { runXdp } from "../shared/xdp/bpf-interp";
import { describeAsRoot } from "./support/root";

function hexOf(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 8) out.push(Buffer.from(bytes.subarray(i, i + 8)).toString("hex"));
  return out;
}

const noRedirect = { rxQueueIndex: 0, ingressIfindex: 1, redirectMap: () => 2 };

describe("eBPF assembler encoding", () => {
  it("encodes each instruction form like the kernel's filter.h macros", () => {
    const a = new BpfAssembler()
      .mov64Imm(0, 2) // BPF_MOV64_IMM
      .mov64Reg(6, 1) // BPF_MOV64_REG
      .ldx("u32", 2, 6, 4) // BPF_LDX_MEM(BPF_W)
      .ldx("u16", 4, 2, 12)
      .ldx("u8", 4, 2, 23)
      .ldx("u64", 1, 10, -8)
      .stx("u64", 10, -8, 1) // BPF_STX_MEM(BPF_DW)
      .st("u32", 10, -4, 5) // BPF_ST_MEM(BPF_W)
      .alu64Imm("and", 4, 0xff3f)
      .alu64Imm("lsh", 5, 2)
      .alu64Reg("add", 7, 5)
      .alu32Imm("add", 1, 1)
      .neg64(3)
      .call(51)
      .exit();
    expect(hexOf(a.assemble())).toEqual([
      "b700000002000000",
      "bf16000000000000",
      "6162040000000000",
      "69240c0000000000",
      "7124170000000000",
      "79a1f8ff00000000",
      "7b1af8ff00000000",
      "620afcff05000000",
      "570400003fff0000",
      "6705000002000000",
      "0f57000000000000",
      "0401000001000000",
      "8703000000000000",
      "8500000033000000",
      "9500000000000000",
    ]);
  });

  it("encodes an atomic add like BPF_ATOMIC_OP(BPF_DW, BPF_ADD, ...), disassembles and interprets it", () => {
    const a = new BpfAssembler()
      .st("u64", 10, -8, 5)
      .mov64Imm(1, 3)
      .atomicAdd("u64", 10, -8, 1)
      .atomicAdd("u32", 10, -8, 1)
      .ldx("u64", 0, 10, -8)
      .exit();
    const bytes = a.assemble();
    expect(hexOf(bytes).slice(2, 4)).toEqual(["db1af8ff00000000", "c31af8ff00000000"]);
    expect(disassemble(bytes)[2]).toBe("2: lock *(u64 *)(r10 - 8) += r1");
    expect(runXdp(bytes, new Uint8Array(64), noRedirect)).toBe(11);
  });

  it("resolves labels forward and backward, counting LD_IMM64 as two slots", () => {
    const a = new BpfAssembler();
    a.label("top");
    a.jmpReg("jgt", 4, 3, "end"); // 0 -> 5: off +4
    a.ldMapFd(1, 7); // 1-2
    a.jmpImm("jne", 4, 8, "top"); // 3 -> 0: off -4
    a.jmp32Imm("jne", 4, 0xc6120001, "end"); // 4 -> 5: off 0
    a.label("end").exit();
    expect(hexOf(a.assemble())).toEqual([
      "2d34040000000000",
      "1811000007000000",
      "0000000000000000",
      "5504fcff08000000",
      "56040000010012c6",
      "9500000000000000",
    ]);
    expect(disassemble(a.assemble())).toEqual([
      "0: if r4 > r3 goto pc+4",
      "1: r1 = map_fd(7) ll",
      "3: if r4 != 0x8 goto pc-4",
      "4: if w4 != -0x39edffff goto pc+0",
      "5: exit",
    ]);
  });

  it("encodes 64-bit constants across both LD_IMM64 slots", () => {
    const bytes = new BpfAssembler().ldImm64(3, 0x1122334455667788n).exit().assemble();
    expect(hexOf(bytes)).toEqual(["1803000088776655", "0000000044332211", "9500000000000000"]);
    expect(disassemble(bytes)[0]).toBe("0: r3 = 0x1122334455667788 ll");
  });

  it("refuses undefined and duplicate labels, bad registers and out-of-range immediates", () => {
    expect(() => new BpfAssembler().ja("nowhere").assemble()).toThrow(/undefined label 'nowhere'/);
    expect(() => new BpfAssembler().label("x").label("x")).toThrow(/defined twice/);
    expect(() => new BpfAssembler().mov64Imm(11 as 0, 1)).toThrow(/r11/);
    expect(() => new BpfAssembler().jmpImm("jeq", 1, 0xc6120001, "x")).toThrow(/s32/);
    expect(() => new BpfAssembler().ldx("u8", 1, 2, 40000)).toThrow(/s16/);
    expect(() => new BpfAssembler().alu32Imm("add", 1, 2 ** 32)).toThrow(/32 bits/);
  });

  it("decodes what it encodes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: -0x8000, max: 0x7fff }),
        (dst, src, off) => {
          const bytes = new BpfAssembler().ldx("u16", dst as 0, src as 0, off).assemble();
          expect(decodeInsns(bytes)).toEqual([{ code: 0x69, dst, src, off, imm: 0 }]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

// A program exercising every ALU and jump form the interpreter knows, on values from the packet;
// the kernel and the interpreter must return the same u32 for random packets.
function arithmeticProgram(): Uint8Array {
  const a = new BpfAssembler();
  a.ldx("u32", 2, 1, 0).ldx("u32", 3, 1, 4);
  a.mov64Reg(4, 2).alu64Imm("add", 4, 64).jmpReg("jgt", 4, 3, "short");
  a.ldx("u64", 6, 2, 0).ldx("u64", 7, 2, 8).ldx("u32", 8, 2, 16).ldx("u16", 9, 2, 20);
  a.mov64Reg(0, 6).alu64Reg("add", 0, 7).alu64Reg("mul", 0, 8).alu64Reg("xor", 0, 9);
  a.alu64Reg("sub", 0, 7).alu64Imm("mul", 0, -3).alu64Imm("arsh", 0, 7).alu64Reg("or", 0, 8);
  a.mov64Reg(5, 9).alu64Imm("and", 5, 63).alu64Reg("lsh", 0, 5).alu64Reg("rsh", 0, 5);
  a.alu64Reg("div", 0, 9).alu64Reg("mod", 0, 8).neg64(0);
  a.stx("u64", 10, -8, 0).st("u32", 10, -12, -7).ldx("u32", 5, 10, -12).ldx("u16", 4, 10, -6);
  a.alu64Reg("add", 0, 5).alu64Reg("xor", 0, 4);
  a.mov64Reg(5, 6).alu32Reg("add", 5, 7).alu32Imm("mul", 5, 0x9e3779b9).alu32Reg("div", 5, 9).alu32Imm("arsh", 5, 3);
  a.alu32Reg("mod", 5, 8).alu32Imm("lsh", 5, 5).alu32Imm("xor", 5, 0xdeadbeef);
  a.alu64Reg("add", 0, 5);
  // Fold a few comparisons into bits of r0.
  const jumps: Array<["jeq" | "jgt" | "jge" | "jset" | "jne" | "jsgt" | "jsge" | "jlt" | "jle" | "jslt" | "jsle"]> = [
    ["jeq"],
    ["jgt"],
    ["jge"],
    ["jset"],
    ["jne"],
    ["jsgt"],
    ["jsge"],
    ["jlt"],
    ["jle"],
    ["jslt"],
    ["jsle"],
  ];
  jumps.forEach(([op], i) => {
    a.jmpReg(op, 6, 7, `t${i}`).alu64Imm("xor", 0, 1 << i);
    a.label(`t${i}`);
    a.jmpImm(op, 8, -1000, `u${i}`).alu64Imm("xor", 0, 1 << (i + 11));
    a.label(`u${i}`);
    a.jmp32Imm(op, 6, 0x80000000, `v${i}`).alu64Imm("add", 0, i + 1);
    a.label(`v${i}`);
  });
  a.mov64Reg(4, 0).alu64Imm("rsh", 4, 32).alu64Reg("xor", 0, 4).alu32Imm("mov", 0, 0).alu64Reg("or", 0, 4);
  a.exit();
  a.label("short").mov64Imm(0, 2).exit();
  return a.assemble();
}

describeAsRoot("assembler and interpreter against the kernel (needs root for bpf())", () => {
  it("the kernel and the interpreter compute the same result for every instruction form", () => {
    const addon = native();
    const prog = arithmeticProgram();
    const fd = addon.bpfProgLoadXdp(prog, "tn_alu_check", "GPL");
    try {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 64, maxLength: 80 }), (pkt) => {
          const kernel = addon.bpfProgTestRun(fd, pkt, 1).retval;
          expect(runXdp(prog, pkt, noRedirect)).toBe(kernel);
        }),
        { numRuns: 300 },
      );
    } finally {
      addon.closeFd(fd);
    }
  });

  it("puts the verifier log in the error of a program with a missing bounds check", () => {
    const a = new BpfAssembler().ldx("u32", 2, 1, 0).ldx("u8", 0, 2, 20).exit();
    let error: (Error & { code?: string; verifierLog?: string }) | undefined;
    try {
      native().bpfProgLoadXdp(a.assemble(), "tn_unchecked", "GPL");
    } catch (e) {
      error = e as Error;
    }
    expect(error?.code).toBe("EACCES");
    expect(error?.message).toMatch(/BPF_PROG_LOAD\(xdp tn_unchecked, 3 insns\): EACCES/);
    expect(error?.message).toMatch(/invalid access to packet/);
    // The interpreter faults the same program on a short packet.
    expect(() => runXdp(a.assemble(), new Uint8Array(10), noRedirect)).toThrow(/outside packet and stack/);
  });
});
