// A reference interpreter for the eBPF subset the assembler emits, with an XDP context. It runs
// generated programs on inputs the kernel's BPF_PROG_TEST_RUN refuses (frames shorter than an
// Ethernet header) and in fuzzing; tests check that it agrees with the kernel. Any memory access
// outside the context, the packet or the stack is a fault (an Error): in the kernel the
// verifier would have rejected the program, so a fault means a missing bounds check. Not for
// hot paths (BigInt registers).
import { BPF_FUNC_map_lookup_elem, BPF_FUNC_redirect_map, XdpAction, XdpMd } from "./abi";
import { ALU_CODE, ATOMIC_ADD, BPF_PSEUDO_MAP_FD, BpfClass, decodeInsns, JMP_CODE, MODE_ATOMIC } from "./bpf-asm";

/** An array map as bpf_map_lookup_elem sees it: value i at data[i * valueBytes]. */
export interface XdpArrayMap {
  valueBytes: number;
  data: Uint8Array;
}

export interface XdpRunContext {
  rxQueueIndex: number;
  ingressIfindex: number;
  /** bpf_redirect_map(mapFd, key, flags): the action returned to the program. */
  redirectMap: (mapFd: number, key: number, flags: number) => number;
  /** Array maps by fd, for bpf_map_lookup_elem (values are written in place, e.g. by atomic adds). */
  arrayMaps?: ReadonlyMap<number, XdpArrayMap>;
  /** Instruction budget; exceeding it is a fault (a loop the verifier would refuse). */
  maxSteps?: number;
}

export class BpfFault extends Error {}

/** The low bits of bpf_redirect_map's flags (BPF_F_ACTION_MASK): the action when the key is empty. */
const REDIRECT_ACTION_MASK = 3;

/** An XSKMAP's bpf_redirect_map: redirect when the queue has a socket, else the flags' action. */
export function xskMapRedirect(boundQueues: ReadonlySet<number>): XdpRunContext["redirectMap"] {
  return (_fd, key, flags) => (boundQueues.has(key) ? XdpAction.redirect : flags & REDIRECT_ACTION_MASK);
}

const CTX_BASE = 0x1_0000_0000n;
const PKT_BASE = 0x2_0000_0100n;
const STACK_BASE = 0x3_0000_0000n;
const STACK_SIZE = 512n;
const MAP_BASE = 0x4_0000_0000n;
/** Map values: VALUE_BASE + (fd << 32) + byte offset in the map's data. */
const VALUE_BASE = 1n << 48n;
const CTX_SIZE = 24n;

const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);

const SIZE_BYTES: Record<number, number> = { 0: 4, 8: 2, 16: 1, 24: 8 };

function alu(op: number, dst: bigint, src: bigint, wide: boolean): bigint {
  const bits = wide ? 64 : 32;
  const trunc = wide ? u64 : u32;
  const a = trunc(dst);
  const b = trunc(src);
  const shift = b & BigInt(bits - 1);
  switch (op) {
    case ALU_CODE.add:
      return trunc(a + b);
    case ALU_CODE.sub:
      return trunc(a - b);
    case ALU_CODE.mul:
      return trunc(a * b);
    case ALU_CODE.div:
      return b === 0n ? 0n : a / b;
    case ALU_CODE.mod:
      return b === 0n ? a : a % b;
    case ALU_CODE.or:
      return a | b;
    case ALU_CODE.and:
      return a & b;
    case ALU_CODE.xor:
      return a ^ b;
    case ALU_CODE.lsh:
      return trunc(a << shift);
    case ALU_CODE.rsh:
      return a >> shift;
    case ALU_CODE.arsh:
      return trunc((wide ? s64(a) : s32(a)) >> shift);
    case ALU_CODE.mov:
      return b;
    case 0x80: // neg
      return trunc(-a);
    default:
      throw new BpfFault(`bpf interp: ALU op 0x${op.toString(16)} not supported`);
  }
}

function compare(op: number, a: bigint, b: bigint, wide: boolean): boolean {
  const ua = wide ? u64(a) : u32(a);
  const ub = wide ? u64(b) : u32(b);
  const sa = wide ? s64(a) : s32(a);
  const sb = wide ? s64(b) : s32(b);
  switch (op) {
    case JMP_CODE.jeq:
      return ua === ub;
    case JMP_CODE.jne:
      return ua !== ub;
    case JMP_CODE.jgt:
      return ua > ub;
    case JMP_CODE.jge:
      return ua >= ub;
    case JMP_CODE.jlt:
      return ua < ub;
    case JMP_CODE.jle:
      return ua <= ub;
    case JMP_CODE.jset:
      return (ua & ub) !== 0n;
    case JMP_CODE.jsgt:
      return sa > sb;
    case JMP_CODE.jsge:
      return sa >= sb;
    case JMP_CODE.jslt:
      return sa < sb;
    case JMP_CODE.jsle:
      return sa <= sb;
    default:
      throw new BpfFault(`bpf interp: jump op 0x${op.toString(16)} not supported`);
  }
}

/** bpf_map_lookup_elem on an array map: the value's address, or 0 (NULL) past the last entry. */
function lookupArray(ctx: XdpRunContext, mapFd: number, key: number): bigint {
  const map = ctx.arrayMaps?.get(mapFd);
  if (!map) throw new BpfFault(`bpf interp: map lookup on fd ${mapFd}, which is not an array map here`);
  const at = key * map.valueBytes;
  if (at + map.valueBytes > map.data.length) return 0n;
  return VALUE_BASE + (BigInt(mapFd) << 32n) + BigInt(at);
}

/** Runs an XDP program on one packet; returns the program's return value (the XDP action).
 *  Longer than 70 lines: an interpreter loop, one case per instruction class over shared registers. */
export function runXdp(program: Uint8Array, packet: Uint8Array, ctx: XdpRunContext): number {
  const insns = decodeInsns(program);
  const stack = new Uint8Array(Number(STACK_SIZE));
  const r: bigint[] = new Array<bigint>(11).fill(0n);
  r[1] = CTX_BASE;
  r[10] = STACK_BASE + STACK_SIZE;
  const pktEnd = PKT_BASE + BigInt(packet.length);

  const region = (addr: bigint, size: number, pc: number): { mem: Uint8Array; at: number } => {
    const end = addr + BigInt(size);
    if (addr >= PKT_BASE && end <= pktEnd) return { mem: packet, at: Number(addr - PKT_BASE) };
    if (addr >= STACK_BASE && end <= STACK_BASE + STACK_SIZE) return { mem: stack, at: Number(addr - STACK_BASE) };
    const value = addr >= VALUE_BASE ? ctx.arrayMaps?.get(Number((addr - VALUE_BASE) >> 32n)) : undefined;
    const at = Number(addr & 0xffff_ffffn);
    if (value && at + size <= value.data.length) return { mem: value.data, at };
    throw new BpfFault(
      `bpf interp: pc ${pc}: ${size}-byte access at 0x${addr.toString(16)} outside packet and stack or map values`,
    );
  };
  const load = (addr: bigint, size: number, pc: number): bigint => {
    if (addr >= CTX_BASE && addr < CTX_BASE + CTX_SIZE) {
      if (size !== 4) throw new BpfFault(`bpf interp: pc ${pc}: context access must be 4 bytes`);
      switch (Number(addr - CTX_BASE)) {
        case XdpMd.data:
          return PKT_BASE;
        case XdpMd.dataEnd:
          return pktEnd;
        case XdpMd.dataMeta:
          return PKT_BASE;
        case XdpMd.ingressIfindex:
          return BigInt(ctx.ingressIfindex);
        case XdpMd.rxQueueIndex:
          return BigInt(ctx.rxQueueIndex);
        default:
          throw new BpfFault(`bpf interp: pc ${pc}: context offset ${addr - CTX_BASE} not readable`);
      }
    }
    const { mem, at } = region(addr, size, pc);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(mem[at + i]);
    return v;
  };
  const store = (addr: bigint, size: number, value: bigint, pc: number): void => {
    const { mem, at } = region(addr, size, pc);
    for (let i = 0; i < size; i++) mem[at + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  };

  const maxSteps = ctx.maxSteps ?? 100_000;
  let pc = 0;
  for (let steps = 0; ; steps++) {
    if (steps >= maxSteps) throw new BpfFault(`bpf interp: more than ${maxSteps} steps`);
    if (pc < 0 || pc >= insns.length) throw new BpfFault(`bpf interp: pc ${pc} outside the program`);
    const { code, dst, src, off, imm } = insns[pc];
    const cls = code & 0x07;
    const k = BigInt(imm);
    if (cls === BpfClass.alu64 || cls === BpfClass.alu) {
      const wide = cls === BpfClass.alu64;
      const operand = code & 0x08 ? r[src] : wide ? u64(k) : u32(k);
      r[dst] = alu(code & 0xf0, r[dst], operand, wide);
    } else if (cls === BpfClass.ldx) {
      r[dst] = load(u64(r[src] + BigInt(off)), SIZE_BYTES[code & 0x18], pc);
    } else if (cls === BpfClass.stx && (code & 0xe0) === MODE_ATOMIC) {
      if (imm !== ATOMIC_ADD) throw new BpfFault(`bpf interp: pc ${pc}: atomic op 0x${imm.toString(16)} not supported`);
      const size = SIZE_BYTES[code & 0x18];
      const addr = u64(r[dst] + BigInt(off));
      store(addr, size, BigInt.asUintN(size * 8, load(addr, size, pc) + r[src]), pc);
    } else if (cls === BpfClass.stx) {
      store(u64(r[dst] + BigInt(off)), SIZE_BYTES[code & 0x18], r[src], pc);
    } else if (cls === BpfClass.st) {
      store(u64(r[dst] + BigInt(off)), SIZE_BYTES[code & 0x18], u64(k), pc);
    } else if (cls === BpfClass.ld && code === 0x18) {
      if (pc + 1 >= insns.length) throw new BpfFault(`bpf interp: pc ${pc}: truncated LD_IMM64`);
      r[dst] = src === BPF_PSEUDO_MAP_FD ? MAP_BASE + u32(k) : (u32(BigInt(insns[pc + 1].imm)) << 32n) | u32(k);
      pc += 2;
      continue;
    } else if (cls === BpfClass.jmp || cls === BpfClass.jmp32) {
      const op = code & 0xf0;
      if (cls === BpfClass.jmp && op === 0x00) {
        pc += 1 + off;
        continue;
      }
      if (cls === BpfClass.jmp && op === 0x90) return Number(u32(r[0]));
      if (cls === BpfClass.jmp && op === 0x80) {
        if (r[1] < MAP_BASE || r[1] >= VALUE_BASE) throw new BpfFault(`bpf interp: pc ${pc}: r1 is not a map`);
        const mapFd = Number(r[1] - MAP_BASE);
        if (imm === BPF_FUNC_redirect_map) r[0] = BigInt(ctx.redirectMap(mapFd, Number(u32(r[2])), Number(u64(r[3]))));
        else if (imm === BPF_FUNC_map_lookup_elem) r[0] = lookupArray(ctx, mapFd, Number(load(r[2], 4, pc)));
        else throw new BpfFault(`bpf interp: helper ${imm} not supported`);
        // r1-r5 are clobbered by a call.
        for (let i = 1; i <= 5; i++) r[i] = 0xdeadn;
      } else {
        const operand = code & 0x08 ? r[src] : k;
        if (compare(op, r[dst], operand, cls === BpfClass.jmp)) {
          pc += 1 + off;
          continue;
        }
      }
    } else {
      throw new BpfFault(`bpf interp: pc ${pc}: opcode 0x${code.toString(16)} not supported`);
    }
    pc++;
  }
}
