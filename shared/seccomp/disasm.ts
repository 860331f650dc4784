// Seccomp program disassembler: one line per instruction, jump targets as absolute instruction
// numbers, syscall numbers by name and return actions by name (`tilenet seccomp <tile>`).
import { constants } from "node:os";
import {
  ALU_AND_K,
  AUDIT_ARCH_X86_64,
  type BpfInsn,
  decodeProgram,
  JMP_JA,
  JMP_JEQ_K,
  JMP_JGE_K,
  JMP_JGT_K,
  JMP_JSET_K,
  LD_W_ABS,
  RET_K,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_IP,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ACTION_FULL,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_DATA,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
  X32_SYSCALL_BIT,
} from "./bpf";
import { syscallNames } from "./syscalls-x86_64";

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** The name of a seccomp return value: ALLOW, KILL_PROCESS, ERRNO(1 EPERM), LOG, ... */
export function actionName(k: number): string {
  const data = k & SECCOMP_RET_DATA;
  switch ((k & SECCOMP_RET_ACTION_FULL) >>> 0) {
    case SECCOMP_RET_KILL_PROCESS:
      return "KILL_PROCESS";
    case SECCOMP_RET_KILL_THREAD:
      return "KILL_THREAD";
    case SECCOMP_RET_TRAP:
      return `TRAP(${data})`;
    case SECCOMP_RET_ERRNO: {
      const name = errnoNames.get(data);
      return name ? `ERRNO(${data} ${name})` : `ERRNO(${data})`;
    }
    case SECCOMP_RET_USER_NOTIF:
      return "USER_NOTIF";
    case SECCOMP_RET_TRACE:
      return `TRACE(${data})`;
    case SECCOMP_RET_LOG:
      return "LOG";
    case SECCOMP_RET_ALLOW:
      return "ALLOW";
    default:
      return `0x${(k >>> 0).toString(16).padStart(8, "0")}`;
  }
}

function fieldName(offset: number): string {
  if (offset === SECCOMP_DATA_NR) return "nr";
  if (offset === SECCOMP_DATA_ARCH) return "arch";
  if (offset === SECCOMP_DATA_IP) return "ip.lo";
  if (offset === SECCOMP_DATA_IP + 4) return "ip.hi";
  if (offset >= 16 && offset < 64) return `args[${(offset - 16) >> 3}].${offset % 8 === 0 ? "lo" : "hi"}`;
  return `[${offset}]`;
}

function hex(k: number): string {
  return `0x${(k >>> 0).toString(16)}`;
}

/** What the accumulator holds at an instruction: a field name, "?" when paths disagree. */
function accumulatorStates(insns: readonly BpfInsn[]): (string | undefined)[] {
  const incoming: (string | undefined)[] = new Array(insns.length).fill(undefined);
  const seen: boolean[] = new Array(insns.length).fill(false);
  const flow = (to: number, state: string | undefined) => {
    if (to >= insns.length) return;
    if (!seen[to]) {
      seen[to] = true;
      incoming[to] = state;
    } else if (incoming[to] !== state) incoming[to] = "?";
  };
  seen[0] = true;
  insns.forEach((insn, pc) => {
    if (!seen[pc]) return; // unreachable
    const a = incoming[pc];
    switch (insn.code) {
      case LD_W_ABS:
        flow(pc + 1, fieldName(insn.k));
        break;
      case ALU_AND_K:
        flow(pc + 1, `${a ?? "?"} & ${hex(insn.k)}`);
        break;
      case JMP_JA:
        flow(pc + 1 + insn.k, a);
        break;
      case RET_K:
        break;
      default:
        flow(pc + 1 + insn.jt, a);
        flow(pc + 1 + insn.jf, a);
    }
  });
  return incoming;
}

function constantNote(field: string | undefined, k: number): string {
  if (field === "nr") {
    if (k === X32_SYSCALL_BIT) return " (x32 bit)";
    const name = syscallNames.get(k);
    return name ? ` (${name})` : "";
  }
  if (field === "arch" && k === AUDIT_ARCH_X86_64) return " (AUDIT_ARCH_X86_64)";
  return "";
}

/** A readable listing of a seccomp program (sock_filter array). */
export function disassemble(program: Uint8Array): string {
  const insns = decodeProgram(program);
  const states = accumulatorStates(insns);
  const width = String(insns.length).length;
  const lines = insns.map((insn, pc) => {
    const at = String(pc).padStart(width);
    const field = states[pc];
    const target = (offset: number) => String(pc + 1 + offset);
    let text: string;
    switch (insn.code) {
      case LD_W_ABS:
        text = `ld   ${fieldName(insn.k)}`;
        break;
      case ALU_AND_K:
        text = `and  ${hex(insn.k)}`;
        break;
      case JMP_JA:
        text = `ja   ${target(insn.k)}`;
        break;
      case JMP_JEQ_K:
      case JMP_JGT_K:
      case JMP_JGE_K:
      case JMP_JSET_K: {
        const op = { [JMP_JEQ_K]: "jeq ", [JMP_JGT_K]: "jgt ", [JMP_JGE_K]: "jge ", [JMP_JSET_K]: "jset" }[insn.code];
        const value = field === "nr" ? String(insn.k) : hex(insn.k);
        text = `${op} ${value}${constantNote(field, insn.k)} ? ${target(insn.jt)} : ${target(insn.jf)}`;
        break;
      }
      case RET_K:
        text = `ret  ${actionName(insn.k)}`;
        break;
      default:
        text = `.insn code=${hex(insn.code)} jt=${insn.jt} jf=${insn.jf} k=${hex(insn.k)}`;
    }
    return `${at}: ${text}`;
  });
  return `${lines.join("\n")}\n`;
}
