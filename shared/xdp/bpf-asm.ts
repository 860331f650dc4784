// A tiny typed eBPF assembler (no clang): enough of the instruction set to generate XDP programs,
// with jumps to named labels resolved at assembly time, and a disassembler in the kernel
// verifier's notation for tests and debugging.
//
// Encoding (8 bytes, little-endian): u8 opcode, u8 dst:4 | src:4 << 4, s16 offset, s32 imm.
// LD_IMM64 takes two slots; jump offsets count slots from the instruction after the jump.

export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export type MemSize = "u8" | "u16" | "u32" | "u64";
export type AluOp = "add" | "sub" | "mul" | "div" | "or" | "and" | "lsh" | "rsh" | "mod" | "xor" | "mov" | "arsh";
export type JmpOp = "jeq" | "jgt" | "jge" | "jset" | "jne" | "jsgt" | "jsge" | "jlt" | "jle" | "jslt" | "jsle";

export const BPF_INSN_BYTES = 8;

export const BpfClass = { ld: 0x00, ldx: 0x01, st: 0x02, stx: 0x03, alu: 0x04, jmp: 0x05, jmp32: 0x06, alu64: 0x07 };
const SIZE_CODE: Record<MemSize, number> = { u32: 0x00, u16: 0x08, u8: 0x10, u64: 0x18 };
const MODE_IMM = 0x00;
const MODE_MEM = 0x60;
/** BPF_ATOMIC mode of a STX; imm selects the operation (BPF_ADD = 0x00, without BPF_FETCH). */
export const MODE_ATOMIC = 0xc0;
export const ATOMIC_ADD = 0x00;
const SRC_K = 0x00;
const SRC_X = 0x08;
export const ALU_CODE: Record<AluOp, number> = {
  add: 0x00,
  sub: 0x10,
  mul: 0x20,
  div: 0x30,
  or: 0x40,
  and: 0x50,
  lsh: 0x60,
  rsh: 0x70,
  mod: 0x90,
  xor: 0xa0,
  mov: 0xb0,
  arsh: 0xc0,
};
const ALU_NEG = 0x80;
export const JMP_CODE: Record<JmpOp, number> = {
  jeq: 0x10,
  jgt: 0x20,
  jge: 0x30,
  jset: 0x40,
  jne: 0x50,
  jsgt: 0x60,
  jsge: 0x70,
  jlt: 0xa0,
  jle: 0xb0,
  jslt: 0xc0,
  jsle: 0xd0,
};
const JMP_JA = 0x00;
const JMP_CALL = 0x80;
const JMP_EXIT = 0x90;
/** src_reg value of LD_IMM64 whose imm is a map fd (the kernel swaps in the map pointer). */
export const BPF_PSEUDO_MAP_FD = 1;

interface PendingInsn {
  code: number;
  dst: Reg;
  src: number;
  off: number;
  imm: number;
  /** Jump target, resolved into `off` by assemble(). */
  target?: string;
}

const S32_MIN = -0x80000000;
const S32_MAX = 0x7fffffff;
const U32_MAX = 0xffffffff;

function checkReg(r: number, what: string): void {
  if (!Number.isInteger(r) || r < 0 || r > 10) throw new RangeError(`bpf asm: ${what} register r${r} does not exist`);
}

function checkOff(off: number): void {
  if (!Number.isInteger(off) || off < -0x8000 || off > 0x7fff)
    throw new RangeError(`bpf asm: offset ${off} does not fit in s16`);
}

/** A 64-bit operation sign-extends imm: only s32 values mean what they say. */
function imm64(imm: number): number {
  if (!Number.isInteger(imm) || imm < S32_MIN || imm > S32_MAX)
    throw new RangeError(`bpf asm: immediate ${imm} does not fit in s32 (64-bit operations sign-extend it)`);
  return imm;
}

/** A 32-bit operation may take any u32 or s32 value. */
function imm32(imm: number): number {
  if (!Number.isInteger(imm) || imm < S32_MIN || imm > U32_MAX)
    throw new RangeError(`bpf asm: immediate ${imm} does not fit in 32 bits`);
  return imm | 0;
}

export class BpfAssembler {
  private readonly insns: PendingInsn[] = [];
  private readonly labels = new Map<string, number>();

  /** Current position in slots (the index the next instruction gets). */
  get position(): number {
    return this.insns.length;
  }

  /** Defines `name` at the current position. */
  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`bpf asm: label '${name}' defined twice`);
    this.labels.set(name, this.insns.length);
    return this;
  }

  private emit(code: number, dst: Reg, src: number, off: number, imm: number, target?: string): this {
    checkReg(dst, "dst");
    checkReg(src, "src");
    checkOff(off);
    this.insns.push({ code, dst, src, off, imm, target });
    return this;
  }

  /** dst op= imm, 64-bit. */
  alu64Imm(op: AluOp, dst: Reg, imm: number): this {
    return this.emit(BpfClass.alu64 | ALU_CODE[op] | SRC_K, dst, 0, 0, imm64(imm));
  }

  /** dst op= src, 64-bit. */
  alu64Reg(op: AluOp, dst: Reg, src: Reg): this {
    return this.emit(BpfClass.alu64 | ALU_CODE[op] | SRC_X, dst, src, 0, 0);
  }

  /** dst op= imm on the low 32 bits; the result is zero-extended. */
  alu32Imm(op: AluOp, dst: Reg, imm: number): this {
    return this.emit(BpfClass.alu | ALU_CODE[op] | SRC_K, dst, 0, 0, imm32(imm));
  }

  /** dst op= src on the low 32 bits; the result is zero-extended. */
  alu32Reg(op: AluOp, dst: Reg, src: Reg): this {
    return this.emit(BpfClass.alu | ALU_CODE[op] | SRC_X, dst, src, 0, 0);
  }

  neg64(dst: Reg): this {
    return this.emit(BpfClass.alu64 | ALU_NEG, dst, 0, 0, 0);
  }

  mov64Imm(dst: Reg, imm: number): this {
    return this.alu64Imm("mov", dst, imm);
  }

  mov64Reg(dst: Reg, src: Reg): this {
    return this.alu64Reg("mov", dst, src);
  }

  /** dst = *(size *)(src + off), zero-extended. */
  ldx(size: MemSize, dst: Reg, src: Reg, off: number): this {
    return this.emit(BpfClass.ldx | SIZE_CODE[size] | MODE_MEM, dst, src, off, 0);
  }

  /** *(size *)(dst + off) = src. */
  stx(size: MemSize, dst: Reg, off: number, src: Reg): this {
    return this.emit(BpfClass.stx | SIZE_CODE[size] | MODE_MEM, dst, src, off, 0);
  }

  /** *(size *)(dst + off) = imm. */
  st(size: MemSize, dst: Reg, off: number, imm: number): this {
    return this.emit(BpfClass.st | SIZE_CODE[size] | MODE_MEM, dst, 0, off, size === "u64" ? imm64(imm) : imm32(imm));
  }

  /** lock *(size *)(dst + off) += src: an atomic add without fetch (u32 or u64 only). */
  atomicAdd(size: "u32" | "u64", dst: Reg, off: number, src: Reg): this {
    return this.emit(BpfClass.stx | SIZE_CODE[size] | MODE_ATOMIC, dst, src, off, ATOMIC_ADD);
  }

  /** if (dst op imm) goto label, 64-bit compare (imm sign-extended). */
  jmpImm(op: JmpOp, dst: Reg, imm: number, label: string): this {
    return this.emit(BpfClass.jmp | JMP_CODE[op] | SRC_K, dst, 0, 0, imm64(imm), label);
  }

  /** if (dst op src) goto label, 64-bit compare. */
  jmpReg(op: JmpOp, dst: Reg, src: Reg, label: string): this {
    return this.emit(BpfClass.jmp | JMP_CODE[op] | SRC_X, dst, src, 0, 0, label);
  }

  /** if (w_dst op imm) goto label, compares the low 32 bits only. */
  jmp32Imm(op: JmpOp, dst: Reg, imm: number, label: string): this {
    return this.emit(BpfClass.jmp32 | JMP_CODE[op] | SRC_K, dst, 0, 0, imm32(imm), label);
  }

  /** goto label. */
  ja(label: string): this {
    return this.emit(BpfClass.jmp | JMP_JA, 0, 0, 0, 0, label);
  }

  /** dst = 64-bit constant (two slots). */
  ldImm64(dst: Reg, value: bigint): this {
    const v = BigInt.asUintN(64, value);
    this.emit(BpfClass.ld | SIZE_CODE.u64 | MODE_IMM, dst, 0, 0, Number(BigInt.asIntN(32, v)));
    return this.emit(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n)));
  }

  /** dst = pointer to the map behind fd (LD_IMM64 with BPF_PSEUDO_MAP_FD; two slots). */
  ldMapFd(dst: Reg, fd: number): this {
    if (!Number.isInteger(fd) || fd < 0 || fd > S32_MAX) throw new RangeError(`bpf asm: bad map fd ${fd}`);
    this.emit(BpfClass.ld | SIZE_CODE.u64 | MODE_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    return this.emit(0, 0, 0, 0, 0);
  }

  /** r0 = helper(r1..r5). */
  call(helperId: number): this {
    return this.emit(BpfClass.jmp | JMP_CALL, 0, 0, 0, imm64(helperId));
  }

  exit(): this {
    return this.emit(BpfClass.jmp | JMP_EXIT, 0, 0, 0, 0);
  }

  /** Resolves labels and encodes the program. */
  assemble(): Uint8Array {
    const out = new Uint8Array(this.insns.length * BPF_INSN_BYTES);
    const view = new DataView(out.buffer);
    this.insns.forEach((insn, pc) => {
      let off = insn.off;
      if (insn.target !== undefined) {
        const at = this.labels.get(insn.target);
        if (at === undefined) throw new Error(`bpf asm: jump at ${pc} to undefined label '${insn.target}'`);
        off = at - (pc + 1);
        if (off < -0x8000 || off > 0x7fff) throw new RangeError(`bpf asm: jump at ${pc} to '${insn.target}' too far`);
      }
      const base = pc * BPF_INSN_BYTES;
      view.setUint8(base, insn.code);
      view.setUint8(base + 1, (insn.dst & 0x0f) | ((insn.src & 0x0f) << 4));
      view.setInt16(base + 2, off, true);
      view.setInt32(base + 4, insn.imm, true);
    });
    return out;
  }
}

/** One decoded instruction slot. */
export interface BpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export function decodeInsns(bytes: Uint8Array): BpfInsn[] {
  if (bytes.length % BPF_INSN_BYTES !== 0)
    throw new Error(`bpf: ${bytes.length} bytes is not a whole instruction count`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: BpfInsn[] = [];
  for (let base = 0; base < bytes.length; base += BPF_INSN_BYTES) {
    const regs = view.getUint8(base + 1);
    out.push({
      code: view.getUint8(base),
      dst: regs & 0x0f,
      src: regs >> 4,
      off: view.getInt16(base + 2, true),
      imm: view.getInt32(base + 4, true),
    });
  }
  return out;
}

const ALU_SYMBOL: Record<number, string> = {
  0: "+=",
  16: "-=",
  32: "*=",
  48: "/=",
  64: "|=",
  80: "&=",
  96: "<<=",
  112: ">>=",
  144: "%=",
  160: "^=",
  176: "=",
  192: "s>>=",
};
const JMP_SYMBOL: Record<number, string> = {
  16: "==",
  32: ">",
  48: ">=",
  64: "&",
  80: "!=",
  96: "s>",
  112: "s>=",
  160: "<",
  176: "<=",
  192: "s<",
  208: "s<=",
};
const SIZE_NAME: Record<number, MemSize> = { 0: "u32", 8: "u16", 16: "u8", 24: "u64" };

function hex(n: number): string {
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}

function memRef(size: number, reg: number, off: number): string {
  return `*(${SIZE_NAME[size]} *)(r${reg} ${off < 0 ? "-" : "+"} ${Math.abs(off)})`;
}

/** One line per instruction in the kernel verifier's notation, prefixed with the slot index. */
export function disassemble(bytes: Uint8Array): string[] {
  const insns = decodeInsns(bytes);
  const lines: string[] = [];
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, dst, src, off, imm } = insns[pc];
    const cls = code & 0x07;
    let text: string;
    if (cls === BpfClass.alu64 || cls === BpfClass.alu) {
      const r = cls === BpfClass.alu64 ? "r" : "w";
      const op = code & 0xf0;
      if (op === ALU_NEG) text = `${r}${dst} = -${r}${dst}`;
      else if (ALU_SYMBOL[op] === undefined) text = `.insn ${hex(code)}`;
      else text = `${r}${dst} ${ALU_SYMBOL[op]} ${code & SRC_X ? `${r}${src}` : hex(imm)}`;
    } else if (cls === BpfClass.jmp || cls === BpfClass.jmp32) {
      const op = code & 0xf0;
      const r = cls === BpfClass.jmp ? "r" : "w";
      const to = `goto pc${off < 0 ? "-" : "+"}${Math.abs(off)}`;
      if (op === JMP_JA && cls === BpfClass.jmp) text = to;
      else if (op === JMP_CALL) text = `call ${imm}`;
      else if (op === JMP_EXIT) text = "exit";
      else if (JMP_SYMBOL[op] === undefined) text = `.insn ${hex(code)}`;
      else text = `if ${r}${dst} ${JMP_SYMBOL[op]} ${code & SRC_X ? `${r}${src}` : hex(imm)} ${to}`;
    } else if (cls === BpfClass.ldx && (code & 0xe0) === MODE_MEM) {
      text = `r${dst} = ${memRef(code & 0x18, src, off)}`;
    } else if (cls === BpfClass.stx && (code & 0xe0) === MODE_MEM) {
      text = `${memRef(code & 0x18, dst, off)} = r${src}`;
    } else if (cls === BpfClass.stx && (code & 0xe0) === MODE_ATOMIC && imm === ATOMIC_ADD) {
      text = `lock ${memRef(code & 0x18, dst, off)} += r${src}`;
    } else if (cls === BpfClass.st && (code & 0xe0) === MODE_MEM) {
      text = `${memRef(code & 0x18, dst, off)} = ${hex(imm)}`;
    } else if (code === (BpfClass.ld | SIZE_CODE.u64 | MODE_IMM) && pc + 1 < insns.length) {
      const hi = insns[pc + 1].imm;
      if (src === BPF_PSEUDO_MAP_FD) text = `r${dst} = map_fd(${imm}) ll`;
      else {
        const v = (BigInt.asUintN(32, BigInt(hi)) << 32n) | BigInt.asUintN(32, BigInt(imm));
        text = `r${dst} = 0x${v.toString(16)} ll`;
      }
      lines.push(`${pc}: ${text}`);
      pc++;
      continue;
    } else {
      text = `.insn ${hex(code)}`;
    }
    lines.push(`${pc}: ${text}`);
  }
  return lines;
}
