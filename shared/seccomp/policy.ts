// Seccomp policy types. Each tile declares its policy in TypeScript in its own folder; the
// compiler (compile.ts) turns it into a classic BPF program for seccomp(SET_MODE_FILTER).
//
// Semantics, per syscall: the call is allowed when any of its allow rules matches (an argument
// rule matches when all of its checks hold); otherwise its errno entry applies if it has one;
// otherwise the process is killed (SECCOMP_RET_KILL_PROCESS). Syscalls the policy does not name
// kill the process.

/** A 64-bit argument value. Negative numbers are two's complement (-1 is 0xffff_ffff_ffff_ffff),
 *  so `~MSG_DONTWAIT` works as a mask. Numbers must be safe integers; use bigint beyond 2^53. */
export type ArgValue = number | bigint;

/**
 * One check on the full 64-bit argument `index` (0..5); both 32-bit halves are compared.
 * Unsigned comparisons (lt, le, gt, ge) and `ne` on an argument the kernel reads as 32 bits
 * (an `int` fd, flags) can be passed by a caller who sets the upper half; the kernel then sees
 * the low half only. Prefer `eq`, `in` and `maskedEq`, which fail closed.
 */
export type ArgCheck =
  | { index: number; op: "eq" | "ne" | "lt" | "le" | "gt" | "ge"; value: ArgValue }
  | { index: number; op: "in"; values: readonly ArgValue[] }
  /** arg & mask == value; value must have no bits outside mask. */
  | { index: number; op: "maskedEq"; mask: ArgValue; value: ArgValue };

/** A syscall allowed only when all its argument checks hold. */
export interface ArgRule {
  syscall: string;
  args: readonly ArgCheck[];
}

/** A syscall that fails with this errno instead of running (e.g. openat -> EPERM). */
export interface ErrnoRule {
  syscall: string;
  /** 1..4095 */
  errno: number;
}

export interface SeccompPolicy {
  /** Who the policy is for; named in every error. */
  name: string;
  /** Syscalls allowed unconditionally (by name) or with argument checks. */
  allow: readonly (string | ArgRule)[];
  errno?: readonly ErrnoRule[];
}

/** The policy of `extra` added to `base`: allow lists are joined (rules for one syscall are OR-ed),
 *  errno entries are joined (the same syscall with two different errnos is an Error), and an errno
 *  entry of one policy yields to an unconditional allow of the other (a tile may allow what the
 *  baseline only answers with EPERM). */
export function mergePolicies(name: string, base: SeccompPolicy, extra: SeccompPolicy): SeccompPolicy {
  const errno = new Map<string, ErrnoRule>();
  for (const rule of [...(base.errno ?? []), ...(extra.errno ?? [])]) {
    const seen = errno.get(rule.syscall);
    if (seen && seen.errno !== rule.errno) {
      throw new Error(
        `seccomp policy '${name}': ${rule.syscall} gets errno ${seen.errno} from '${base.name}' and ${rule.errno} from '${extra.name}'`,
      );
    }
    errno.set(rule.syscall, rule);
  }
  const allow = [...base.allow, ...extra.allow];
  for (const entry of allow) if (typeof entry === "string") errno.delete(entry);
  return { name, allow, errno: [...errno.values()] };
}
