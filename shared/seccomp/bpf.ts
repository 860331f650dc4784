// Classic BPF as seccomp uses it: instruction encoding (struct sock_filter, 8 bytes little-endian:
// u16 code, u8 jt, u8 jf, u32 k), the opcodes our filters use, seccomp return actions, and the
// layout of struct seccomp_data the filter reads.

export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** BPF_LD | BPF_W | BPF_ABS: A = 32-bit word at offset k of seccomp_data. */
export const LD_W_ABS = 0x20;
/** BPF_ALU | BPF_AND | BPF_K: A &= k. */
export const ALU_AND_K = 0x54;
/** BPF_JMP | BPF_JA: pc += k (32-bit offset). */
export const JMP_JA = 0x05;
/** BPF_JMP | BPF_JEQ | BPF_K: pc += (A == k) ? jt : jf. */
export const JMP_JEQ_K = 0x15;
/** BPF_JMP | BPF_JGT | BPF_K (unsigned). */
export const JMP_JGT_K = 0x25;
/** BPF_JMP | BPF_JGE | BPF_K (unsigned). */
export const JMP_JGE_K = 0x35;
/** BPF_JMP | BPF_JSET | BPF_K: pc += (A & k) ? jt : jf. */
export const JMP_JSET_K = 0x45;
/** BPF_RET | BPF_K: return k. */
export const RET_K = 0x06;

/** The kernel refuses longer filters (BPF_MAXINSNS). */
export const BPF_MAX_INSNS = 4096;
/** Conditional jump offsets are 8-bit. */
export const BPF_MAX_COND_JUMP = 255;

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** Syscall numbers with this bit set come from the x32 ABI. */
export const X32_SYSCALL_BIT = 0x40000000;

/** struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; } */
export const SECCOMP_DATA_NR = 0;
export const SECCOMP_DATA_ARCH = 4;
export const SECCOMP_DATA_IP = 8;
export const SECCOMP_DATA_SIZE = 64;
/** Offset of the low 32 bits of args[index] (x86_64 is little-endian). */
export function argLowOffset(index: number): number {
  return 16 + 8 * index;
}
/** Offset of the high 32 bits of args[index]. */
export function argHighOffset(index: number): number {
  return 20 + 8 * index;
}

export function encodeProgram(insns: readonly BpfInsn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * 8);
  const view = new DataView(bytes.buffer);
  insns.forEach((insn, i) => {
    view.setUint16(i * 8, insn.code, true);
    view.setUint8(i * 8 + 2, insn.jt);
    view.setUint8(i * 8 + 3, insn.jf);
    view.setUint32(i * 8 + 4, insn.k >>> 0, true);
  });
  return bytes;
}

export function decodeProgram(program: Uint8Array): BpfInsn[] {
  if (program.byteLength % 8 !== 0) {
    throw new Error(`seccomp program: ${program.byteLength} bytes is not a whole number of 8-byte instructions`);
  }
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const insns: BpfInsn[] = [];
  for (let off = 0; off < program.byteLength; off += 8) {
    insns.push({
      code: view.getUint16(off, true),
      jt: view.getUint8(off + 2),
      jf: view.getUint8(off + 3),
      k: view.getUint32(off + 4, true),
    });
  }
  return insns;
}

/**
 * Checks what the kernel's checker would (for the subset we emit) and a little more: 1..4096
 * instructions, known opcodes only, 4-byte aligned loads inside seccomp_data, every jump lands
 * inside the program, and the last instruction returns (jumps only go forward, so every path
 * ends in a return). Throws an Error naming the first bad instruction.
 */
export function validateProgram(program: Uint8Array): void {
  const insns = decodeProgram(program);
  if (insns.length === 0 || insns.length > BPF_MAX_INSNS) {
    throw new Error(`seccomp program: ${insns.length} instructions (must be 1..${BPF_MAX_INSNS})`);
  }
  insns.forEach((insn, pc) => {
    const bad = (why: string) =>
      new Error(`seccomp program: instruction ${pc} (code 0x${insn.code.toString(16)}): ${why}`);
    const lands = (offset: number) => pc + 1 + offset < insns.length;
    switch (insn.code) {
      case LD_W_ABS:
        if (insn.k % 4 !== 0 || insn.k + 4 > SECCOMP_DATA_SIZE) throw bad(`load offset ${insn.k} outside seccomp_data`);
        break;
      case ALU_AND_K:
      case RET_K:
        break;
      case JMP_JA:
        if (!lands(insn.k)) throw bad(`jump +${insn.k} leaves the program`);
        break;
      case JMP_JEQ_K:
      case JMP_JGT_K:
      case JMP_JGE_K:
      case JMP_JSET_K:
        if (!lands(insn.jt) || !lands(insn.jf)) throw bad(`jump +${insn.jt}/+${insn.jf} leaves the program`);
        break;
      default:
        throw bad("opcode not used by seccomp filters we build");
    }
  });
  if (insns[insns.length - 1].code !== RET_K) throw new Error("seccomp program: the last instruction is not a return");
}
