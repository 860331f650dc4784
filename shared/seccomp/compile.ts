// Seccomp policy compiler: SeccompPolicy -> classic BPF program (our own, no libseccomp).
//
// Program shape:
//   arch != AUDIT_ARCH_X86_64 -> KILL_PROCESS; nr >= 0x40000000 (x32) -> KILL_PROCESS;
//   binary-search dispatch on nr -> ALLOW | ERRNO(e) | argument block | default;
//   argument blocks: rules OR-ed, checks inside a rule AND-ed, each on both 32-bit halves;
//   when no rule matches, the syscall's errno entry if any, else the default (KILL_PROCESS).
// Code is generated with symbolic labels; layout() then resolves them, and a conditional jump
// whose target is more than 255 instructions away is rewritten through `ja` trampolines.
import {
  ALU_AND_K,
  AUDIT_ARCH_X86_64,
  argHighOffset,
  argLowOffset,
  BPF_MAX_COND_JUMP,
  BPF_MAX_INSNS,
  type BpfInsn,
  encodeProgram,
  JMP_JA,
  JMP_JEQ_K,
  JMP_JGE_K,
  JMP_JGT_K,
  LD_W_ABS,
  RET_K,
  SECCOMP_DATA_ARCH,
  SECCOMP_DATA_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_LOG,
  validateProgram,
  X32_SYSCALL_BIT,
} from "./bpf";
import type { ArgCheck, ArgValue, SeccompPolicy } from "./policy";
import { syscallNumber } from "./syscalls-x86_64";

export interface CompileOptions {
  /** What a syscall the policy does not allow gets. "log" (SECCOMP_RET_LOG: allowed, and an audit
   *  line in the kernel log) exists to find what a program needs; tiles always use "kill". */
  defaultAction?: "kill" | "log";
}

type Label = number;

type Op =
  | { kind: "ld"; offset: number }
  | { kind: "and"; k: number }
  | { kind: "jmp"; code: number; k: number; t: Label; f: Label }
  | { kind: "ja"; target: Label }
  | { kind: "ret"; k: number }
  | { kind: "label"; id: Label };

/** Code under construction: a list of ops with labels. */
class Emitter {
  readonly ops: Op[] = [];
  private nextLabel = 0;
  label(): Label {
    return this.nextLabel++;
  }
  place(id: Label): void {
    this.ops.push({ kind: "label", id });
  }
  ld(offset: number): void {
    this.ops.push({ kind: "ld", offset });
  }
  and(k: number): void {
    this.ops.push({ kind: "and", k: k >>> 0 });
  }
  jmp(code: number, k: number, t: Label, f: Label): void {
    this.ops.push({ kind: "jmp", code, k: k >>> 0, t, f });
  }
  ja(target: Label): void {
    this.ops.push({ kind: "ja", target });
  }
  ret(k: number): void {
    this.ops.push({ kind: "ret", k: k >>> 0 });
  }
}

/** How a conditional jump is laid out: directly, or with one or two `ja` trampolines after it. */
const JumpForm = { Short: 0, FarTrue: 1, FarFalse: 2, FarBoth: 3 } as const;
type JumpForm = (typeof JumpForm)[keyof typeof JumpForm];

function formSize(form: JumpForm): number {
  return form === JumpForm.Short ? 1 : form === JumpForm.FarBoth ? 3 : 2;
}

/** Resolves labels into offsets; escalates jump forms until every offset fits (forms only grow,
 *  so this terminates). Longer than 70 lines: the fixed point and the final encoding share the
 *  per-op form table. */
function layout(ops: readonly Op[]): BpfInsn[] {
  const forms = new Map<number, JumpForm>();
  ops.forEach((op, i) => {
    if (op.kind === "jmp") forms.set(i, JumpForm.Short);
  });
  for (;;) {
    const labelAt = new Map<Label, number>();
    const start: number[] = [];
    let pc = 0;
    ops.forEach((op, i) => {
      start.push(pc);
      if (op.kind === "label") labelAt.set(op.id, pc);
      else pc += op.kind === "jmp" ? formSize(forms.get(i) ?? JumpForm.Short) : 1;
    });
    const at = (id: Label): number => {
      const pos = labelAt.get(id);
      if (pos === undefined) throw new Error(`seccomp compiler: label ${id} is never placed`);
      return pos;
    };
    let changed = false;
    ops.forEach((op, i) => {
      if (op.kind !== "jmp") return;
      const form = forms.get(i) ?? JumpForm.Short;
      if (form === JumpForm.FarBoth) return;
      const t = at(op.t) - (start[i] + 1);
      const f = at(op.f) - (start[i] + 1);
      const fits = (n: number) => n >= 0 && n <= BPF_MAX_COND_JUMP;
      let next: JumpForm = form;
      if (form === JumpForm.Short && !(fits(t) && fits(f))) {
        // A single trampoline shifts the other target by one instruction.
        if (fits(f + 1)) next = JumpForm.FarTrue;
        else if (fits(t + 1)) next = JumpForm.FarFalse;
        else next = JumpForm.FarBoth;
      } else if (form === JumpForm.FarTrue && !fits(f)) next = JumpForm.FarBoth;
      else if (form === JumpForm.FarFalse && !fits(t)) next = JumpForm.FarBoth;
      if (next !== form) {
        forms.set(i, next);
        changed = true;
      }
    });
    if (changed) continue;

    const out: BpfInsn[] = [];
    const forward = (from: number, id: Label): number => {
      const offset = at(id) - (from + 1);
      if (offset < 0) throw new Error("seccomp compiler: backward jump");
      return offset;
    };
    ops.forEach((op, i) => {
      switch (op.kind) {
        case "label":
          return;
        case "ld":
          out.push({ code: LD_W_ABS, jt: 0, jf: 0, k: op.offset });
          return;
        case "and":
          out.push({ code: ALU_AND_K, jt: 0, jf: 0, k: op.k });
          return;
        case "ret":
          out.push({ code: RET_K, jt: 0, jf: 0, k: op.k });
          return;
        case "ja":
          out.push({ code: JMP_JA, jt: 0, jf: 0, k: forward(out.length, op.target) });
          return;
        case "jmp": {
          const form = forms.get(i) ?? JumpForm.Short;
          const here = out.length;
          if (form === JumpForm.Short) {
            out.push({ code: op.code, jt: forward(here, op.t), jf: forward(here, op.f), k: op.k });
          } else if (form === JumpForm.FarTrue) {
            out.push({ code: op.code, jt: 0, jf: forward(here, op.f), k: op.k });
            out.push({ code: JMP_JA, jt: 0, jf: 0, k: forward(here + 1, op.t) });
          } else if (form === JumpForm.FarFalse) {
            out.push({ code: op.code, jt: forward(here, op.t), jf: 0, k: op.k });
            out.push({ code: JMP_JA, jt: 0, jf: 0, k: forward(here + 1, op.f) });
          } else {
            out.push({ code: op.code, jt: 0, jf: 1, k: op.k });
            out.push({ code: JMP_JA, jt: 0, jf: 0, k: forward(here + 1, op.t) });
            out.push({ code: JMP_JA, jt: 0, jf: 0, k: forward(here + 2, op.f) });
          }
          return;
        }
      }
    });
    return out;
  }
}

const U64_MAX = (1n << 64n) - 1n;

/** A policy value as an unsigned 64-bit integer split into halves. */
function splitValue(policy: string, where: string, value: ArgValue): { hi: number; lo: number; u64: bigint } {
  let big: bigint;
  if (typeof value === "bigint") {
    if (value < -(1n << 63n) || value > U64_MAX)
      throw new Error(`seccomp policy '${policy}': ${where}: ${value} does not fit in 64 bits`);
    big = value;
  } else {
    if (!Number.isSafeInteger(value))
      throw new Error(`seccomp policy '${policy}': ${where}: ${value} is not a safe integer (use a bigint)`);
    big = BigInt(value);
  }
  const u64 = BigInt.asUintN(64, big);
  return { hi: Number(u64 >> 32n), lo: Number(u64 & 0xffffffffn), u64 };
}

/** Emits one argument check: control reaches `pass` when it holds, `fail` otherwise. Longer than
 *  70 lines: one case per operator, each a few instructions, read best side by side. */
function emitCheck(e: Emitter, policy: string, syscall: string, check: ArgCheck, pass: Label, fail: Label): void {
  const where = `${syscall} arg ${check.index} ${check.op}`;
  if (!Number.isInteger(check.index) || check.index < 0 || check.index > 5) {
    throw new Error(`seccomp policy '${policy}': ${syscall}: argument index ${check.index} (must be 0..5)`);
  }
  const hiOff = argHighOffset(check.index);
  const loOff = argLowOffset(check.index);
  const next = () => e.label();
  switch (check.op) {
    case "eq": {
      const v = splitValue(policy, where, check.value);
      const l = next();
      e.ld(hiOff);
      e.jmp(JMP_JEQ_K, v.hi, l, fail);
      e.place(l);
      e.ld(loOff);
      e.jmp(JMP_JEQ_K, v.lo, pass, fail);
      return;
    }
    case "ne": {
      const v = splitValue(policy, where, check.value);
      const l = next();
      e.ld(hiOff);
      e.jmp(JMP_JEQ_K, v.hi, l, pass);
      e.place(l);
      e.ld(loOff);
      e.jmp(JMP_JEQ_K, v.lo, fail, pass);
      return;
    }
    case "in": {
      if (check.values.length === 0) throw new Error(`seccomp policy '${policy}': ${where}: empty value list`);
      // Group by high half: one load and compare of the high half per group.
      const groups = new Map<number, Set<number>>();
      for (const value of check.values) {
        const v = splitValue(policy, where, value);
        const set = groups.get(v.hi) ?? new Set<number>();
        set.add(v.lo);
        groups.set(v.hi, set);
      }
      const entries = [...groups.entries()];
      entries.forEach(([hi, los], g) => {
        const nextGroup = g === entries.length - 1 ? fail : e.label();
        const lowPart = e.label();
        e.ld(hiOff);
        e.jmp(JMP_JEQ_K, hi, lowPart, nextGroup);
        e.place(lowPart);
        e.ld(loOff);
        const lows = [...los];
        lows.forEach((lo, j) => {
          const onMiss = j === lows.length - 1 ? nextGroup : e.label();
          e.jmp(JMP_JEQ_K, lo, pass, onMiss);
          if (onMiss !== nextGroup) e.place(onMiss);
        });
        if (nextGroup !== fail) e.place(nextGroup);
      });
      return;
    }
    case "maskedEq": {
      const m = splitValue(policy, `${where} mask`, check.mask);
      const v = splitValue(policy, where, check.value);
      if ((v.u64 & ~m.u64 & U64_MAX) !== 0n) {
        throw new Error(
          `seccomp policy '${policy}': ${where}: value 0x${v.u64.toString(16)} has bits outside mask 0x${m.u64.toString(16)} (never matches)`,
        );
      }
      if (m.hi !== 0) {
        const l = next();
        e.ld(hiOff);
        if (m.hi !== 0xffffffff) e.and(m.hi);
        e.jmp(JMP_JEQ_K, v.hi, l, fail);
        e.place(l);
      }
      e.ld(loOff);
      if (m.lo !== 0xffffffff) e.and(m.lo);
      e.jmp(JMP_JEQ_K, v.lo, pass, fail);
      return;
    }
    case "gt":
    case "ge":
    case "lt":
    case "le": {
      // Unsigned 64-bit: decide on the high half unless it is equal, then on the low half.
      const v = splitValue(policy, where, check.value);
      const greater = check.op === "gt" || check.op === "ge" ? pass : fail;
      const less = greater === pass ? fail : pass;
      const eqHigh = next();
      const lowPart = next();
      e.ld(hiOff);
      e.jmp(JMP_JGT_K, v.hi, greater, eqHigh);
      e.place(eqHigh);
      e.jmp(JMP_JEQ_K, v.hi, lowPart, less);
      e.place(lowPart);
      e.ld(loOff);
      if (check.op === "gt") e.jmp(JMP_JGT_K, v.lo, pass, fail);
      else if (check.op === "ge") e.jmp(JMP_JGE_K, v.lo, pass, fail);
      else if (check.op === "lt") e.jmp(JMP_JGE_K, v.lo, fail, pass);
      else e.jmp(JMP_JGT_K, v.lo, fail, pass);
      return;
    }
    default: {
      const unknown: { op?: unknown } = check;
      throw new Error(`seccomp policy '${policy}': ${syscall}: unknown argument op '${String(unknown.op)}'`);
    }
  }
}

interface SyscallPlan {
  nr: number;
  name: string;
  unconditional: boolean;
  argRules: (readonly ArgCheck[])[];
  errno?: number;
}

/** Groups a policy's entries per syscall, validating names and values. */
function plan(policy: SeccompPolicy): SyscallPlan[] {
  const name = policy.name;
  const bySyscall = new Map<string, SyscallPlan>();
  const get = (syscall: string): SyscallPlan => {
    const nr = syscallNumber(syscall);
    if (nr === undefined)
      throw new Error(`seccomp policy '${name}': unknown syscall '${syscall}' (not in the x86_64 table)`);
    let p = bySyscall.get(syscall);
    if (!p) {
      p = { nr, name: syscall, unconditional: false, argRules: [] };
      bySyscall.set(syscall, p);
    }
    return p;
  };
  for (const entry of policy.allow) {
    const syscall = typeof entry === "string" ? entry : entry.syscall;
    if (syscall.startsWith("io_uring"))
      throw new Error(
        `seccomp policy '${name}': ${syscall} can never be allowed (io_uring operations bypass seccomp); give it an errno`,
      );
    if (typeof entry === "string") {
      get(entry).unconditional = true;
    } else {
      if (entry.args.length === 0) {
        throw new Error(
          `seccomp policy '${name}': ${entry.syscall}: a rule with no argument checks (list the name alone)`,
        );
      }
      get(entry.syscall).argRules.push(entry.args);
    }
  }
  for (const rule of policy.errno ?? []) {
    if (!Number.isInteger(rule.errno) || rule.errno < 1 || rule.errno > 4095) {
      throw new Error(`seccomp policy '${name}': ${rule.syscall}: errno ${rule.errno} (must be 1..4095)`);
    }
    const p = get(rule.syscall);
    if (p.errno !== undefined && p.errno !== rule.errno) {
      throw new Error(`seccomp policy '${name}': ${rule.syscall} has two errno entries (${p.errno}, ${rule.errno})`);
    }
    if (p.unconditional) {
      throw new Error(`seccomp policy '${name}': ${rule.syscall} is both allowed and given errno ${rule.errno}`);
    }
    p.errno = rule.errno;
  }
  for (const p of bySyscall.values()) {
    if (p.unconditional && p.errno !== undefined) {
      throw new Error(`seccomp policy '${name}': ${p.name} is both allowed and given errno ${p.errno}`);
    }
    if (p.unconditional) p.argRules = []; // an unconditional allow wins over any argument rule
  }
  return [...bySyscall.values()].sort((a, b) => a.nr - b.nr);
}

/** Above this many entries a dispatch node splits in two; below, compares are linear. */
const LINEAR_DISPATCH = 4;

// Longer than 70 lines: the filter is emitted top to bottom (arch check, x32, dispatch, per-syscall
// checks, actions) into one Emitter whose labels every part shares.
export function compilePolicy(policy: SeccompPolicy, options: CompileOptions = {}): Uint8Array {
  const plans = plan(policy);
  const e = new Emitter();
  const kill = e.label();
  const allow = e.label();
  const fallback = options.defaultAction === "log" ? e.label() : kill;
  const errnoLabels = new Map<number, Label>();
  const errnoLabel = (errno: number): Label => {
    let l = errnoLabels.get(errno);
    if (l === undefined) {
      l = e.label();
      errnoLabels.set(errno, l);
    }
    return l;
  };

  // Targets of the dispatch, and the argument blocks to emit after it.
  const blocks: { label: Label; plan: SyscallPlan }[] = [];
  const targets = plans.map((p) => {
    if (p.unconditional) return { nr: p.nr, label: allow };
    if (p.argRules.length === 0) {
      if (p.errno === undefined) throw new Error(`seccomp compiler: ${p.name} has neither rules nor errno`);
      return { nr: p.nr, label: errnoLabel(p.errno) };
    }
    const label = e.label();
    blocks.push({ label, plan: p });
    return { nr: p.nr, label };
  });

  const archOk = e.label();
  e.ld(SECCOMP_DATA_ARCH);
  e.jmp(JMP_JEQ_K, AUDIT_ARCH_X86_64, archOk, kill);
  e.place(archOk);
  e.ld(SECCOMP_DATA_NR);
  const native64 = e.label();
  e.jmp(JMP_JGE_K, X32_SYSCALL_BIT, kill, native64);
  e.place(native64);

  const dispatch = (lo: number, hi: number): void => {
    if (hi - lo <= LINEAR_DISPATCH) {
      for (let i = lo; i < hi; i++) {
        const miss = i === hi - 1 ? fallback : e.label();
        e.jmp(JMP_JEQ_K, targets[i].nr, targets[i].label, miss);
        if (miss !== fallback) e.place(miss);
      }
      if (hi === lo) e.ja(fallback);
      return;
    }
    const mid = (lo + hi) >> 1;
    const left = e.label();
    const right = e.label();
    e.jmp(JMP_JGE_K, targets[mid].nr, right, left);
    e.place(left);
    dispatch(lo, mid);
    e.place(right);
    dispatch(mid, hi);
  };
  dispatch(0, targets.length);

  // The shared returns right after the dispatch, where its leaves can reach them directly.
  e.place(allow);
  e.ret(SECCOMP_RET_ALLOW);
  for (const [errno, label] of errnoLabels) {
    e.place(label);
    e.ret(SECCOMP_RET_ERRNO | errno);
  }
  if (fallback !== kill) {
    e.place(fallback);
    e.ret(SECCOMP_RET_LOG);
  }
  e.place(kill);
  e.ret(SECCOMP_RET_KILL_PROCESS);

  // Argument blocks: each rule ends in its own `ret ALLOW` and each block in its own fallback
  // return, so their jumps stay short however long the program is.
  const fallbackAction = fallback === kill ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_LOG;
  for (const { label, plan: p } of blocks) {
    e.place(label);
    p.argRules.forEach((checks) => {
      const ruleAllows = e.label();
      const nextRule = e.label();
      checks.forEach((check, c) => {
        const pass = c === checks.length - 1 ? ruleAllows : e.label();
        emitCheck(e, policy.name, p.name, check, pass, nextRule);
        if (pass !== ruleAllows) e.place(pass);
      });
      e.place(ruleAllows);
      e.ret(SECCOMP_RET_ALLOW);
      e.place(nextRule);
    });
    e.ret(p.errno !== undefined ? SECCOMP_RET_ERRNO | p.errno : fallbackAction);
  }

  const insns = layout(e.ops);
  if (insns.length > BPF_MAX_INSNS) {
    throw new Error(
      `seccomp policy '${policy.name}': ${insns.length} instructions, more than the kernel's ${BPF_MAX_INSNS}`,
    );
  }
  const program = encodeProgram(insns);
  validateProgram(program);
  return program;
}
