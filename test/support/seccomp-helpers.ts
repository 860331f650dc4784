// Helpers for the seccomp and sandbox tests: child processes that install filters, a reference
// evaluator of policies, a classic-BPF interpreter for compiled programs, the C harness.
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execHelperArgs } from "../../launcher/exec-args";
import {
  ALU_AND_K,
  AUDIT_ARCH_X86_64,
  decodeProgram,
  JMP_JA,
  JMP_JEQ_K,
  JMP_JGE_K,
  JMP_JGT_K,
  JMP_JSET_K,
  LD_W_ABS,
  RET_K,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_LOG,
  X32_SYSCALL_BIT,
} from "../../shared/seccomp/bpf";
import type { ArgCheck, ArgValue, SeccompPolicy } from "../../shared/seccomp/policy";
import { syscallNumber } from "../../shared/seccomp/syscalls-x86_64";

export const ROOT = join(__dirname, "..", "..");
export const SECCOMP_LIB = join(ROOT, "dist/test/fixtures/sandbox/seccomp-lib.js");
export const WORKLOAD = join(ROOT, "dist/test/fixtures/sandbox/node-workload.js");
export const ADDON = join(ROOT, "build/Release/tilenet.node");
export const EXEC_HELPER = join(ROOT, "build/Release/tilenet-exec");

/** Throws a clear error when the addon or the fixture bundles are missing. */
export function requireBuilt(): void {
  for (const file of [SECCOMP_LIB, WORKLOAD, ADDON, EXEC_HELPER]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run the node-gyp build and \`npm run build\` first`);
  }
}

/**
 * This Node, started the way tiles start it: through tilenet-exec, whose pre-exec filter answers
 * io_uring with ENOSYS (Node >= 22's libuv makes an epoll ring at start-up and aborts when a ring
 * it made fails later, i.e. under a tile filter). Root stays uid 0 for the tests, with every
 * capability dropped and no_new_privs. The child then has one filter more than it installs.
 */
export function sandboxableNode(nodeArgs: string[], keepFds: number[] = [0, 1, 2]): { file: string; args: string[] } {
  const args = execHelperArgs({
    uid: 0,
    gid: 0,
    allowRoot: true,
    keepFds,
    unshare: [],
    program: process.execPath,
    programArgs: nodeArgs,
  });
  return { file: EXEC_HELPER, args };
}

/** Filters tilenet-exec installs before exec (the io_uring refusal). */
export const EXEC_HELPER_FILTERS = 1;

/** Runs `node -e` with `lib` (the sandbox bundle), `addon` and `fs` in scope. */
export function runNode(script: string, args: string[] = [], timeoutMs = 20_000): SpawnSyncReturns<string> {
  const prelude = `const lib = require(${JSON.stringify(SECCOMP_LIB)}); const addon = lib.native(); const fs = require("node:fs");\n`;
  const node = sandboxableNode(["-e", prelude + script, ...args]);
  return spawnSync(node.file, node.args, {
    encoding: "utf8",
    timeout: timeoutMs,
    cwd: "/",
  });
}

/** Script text: the fds of this process that are libuv's eventfd (its async wake-up writes). */
export const EVENTFD_FDS_JS = `fs.readdirSync("/proc/self/fd").filter((fd) => { try { return fs.readlinkSync("/proc/self/fd/" + fd) === "anon_inode:[eventfd]"; } catch { return false; } }).map(Number)`;

// ---- reference semantics and a BPF interpreter ----

export interface SeccompData {
  nr: number;
  arch: number;
  args: bigint[];
}

const U64 = (1n << 64n) - 1n;
function u64(v: ArgValue): bigint {
  return BigInt.asUintN(64, BigInt(v));
}

function checkHolds(check: ArgCheck, arg: bigint): boolean {
  switch (check.op) {
    case "eq":
      return arg === u64(check.value);
    case "ne":
      return arg !== u64(check.value);
    case "lt":
      return arg < u64(check.value);
    case "le":
      return arg <= u64(check.value);
    case "gt":
      return arg > u64(check.value);
    case "ge":
      return arg >= u64(check.value);
    case "in":
      return check.values.some((v) => u64(v) === arg);
    case "maskedEq":
      return (arg & u64(check.mask) & U64) === u64(check.value);
  }
}

/** What the policy says a syscall gets, evaluated directly from the policy (not from BPF). */
export function referenceAction(
  policy: SeccompPolicy,
  data: SeccompData,
  defaultAction = SECCOMP_RET_KILL_PROCESS,
): number {
  if (data.arch !== AUDIT_ARCH_X86_64 || data.nr >= X32_SYSCALL_BIT) return SECCOMP_RET_KILL_PROCESS;
  const args = data.args.map((a) => BigInt.asUintN(64, a)); // registers are 64-bit unsigned
  for (const entry of policy.allow) {
    const name = typeof entry === "string" ? entry : entry.syscall;
    if (syscallNumber(name) !== data.nr) continue;
    if (typeof entry === "string") return SECCOMP_RET_ALLOW;
    if (entry.args.every((c) => checkHolds(c, args[c.index] ?? 0n))) return SECCOMP_RET_ALLOW;
  }
  const errno = policy.errno?.find((e) => syscallNumber(e.syscall) === data.nr);
  if (errno) return (SECCOMP_RET_ERRNO | errno.errno) >>> 0;
  return defaultAction >>> 0;
}

/** Runs a compiled program the way the kernel would, on our opcode subset. */
export function interpret(program: Uint8Array, data: SeccompData): number {
  const insns = decodeProgram(program);
  const word = (offset: number): number => {
    if (offset === 0) return data.nr >>> 0;
    if (offset === 4) return data.arch >>> 0;
    if (offset >= 16 && offset < 64) {
      const arg = data.args[(offset - 16) >> 3] ?? 0n;
      return Number(offset % 8 === 0 ? arg & 0xffffffffn : (arg >> 32n) & 0xffffffffn);
    }
    return 0; // instruction pointer: not used by our filters
  };
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= insns.length; steps++) {
    const insn = insns[pc];
    if (!insn) throw new Error(`interpret: pc ${pc} outside the program`);
    switch (insn.code) {
      case LD_W_ABS:
        a = word(insn.k);
        pc++;
        break;
      case ALU_AND_K:
        a = (a & insn.k) >>> 0;
        pc++;
        break;
      case JMP_JA:
        pc += 1 + insn.k;
        break;
      case JMP_JEQ_K:
        pc += 1 + (a === insn.k >>> 0 ? insn.jt : insn.jf);
        break;
      case JMP_JGT_K:
        pc += 1 + (a > insn.k >>> 0 ? insn.jt : insn.jf);
        break;
      case JMP_JGE_K:
        pc += 1 + (a >= insn.k >>> 0 ? insn.jt : insn.jf);
        break;
      case JMP_JSET_K:
        pc += 1 + ((a & insn.k) !== 0 ? insn.jt : insn.jf);
        break;
      case RET_K:
        return insn.k >>> 0;
      default:
        throw new Error(`interpret: opcode 0x${insn.code.toString(16)}`);
    }
  }
  throw new Error("interpret: no return");
}

export { SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_LOG };

// ---- the C harness ----

let harnessPath: string | undefined | null = null;
let harnessDir: string | undefined;
let filterCount = 0;

/** Builds test/fixtures/sandbox/seccomp-harness.c with cc once; undefined if there is no cc. */
export function buildHarness(): string | undefined {
  if (harnessPath !== null) return harnessPath;
  harnessDir = mkdtempSync(join(tmpdir(), "tn-seccomp-harness-"));
  const out = join(harnessDir, "seccomp-harness");
  const r = spawnSync("cc", ["-O2", "-Wall", "-o", out, join(ROOT, "test/fixtures/sandbox/seccomp-harness.c")], {
    encoding: "utf8",
  });
  if (r.error || r.status !== 0) {
    // In CI a C compiler is always there (node-gyp needs it): a failed build is a failure, not a skip.
    if (process.env.CI === "true") throw new Error(`building the seccomp harness failed: ${r.error ?? r.stderr}`);
    harnessPath = undefined;
    return undefined;
  }
  harnessPath = out;
  return out;
}

/** Runs the harness under `program` (or no filter) with the given calls. */
export function runHarness(
  harness: string,
  program: Uint8Array | undefined,
  calls: string[],
): SpawnSyncReturns<string> {
  let filterFile = "-";
  if (program) {
    filterFile = join(harnessDir ?? tmpdir(), `filter-${process.pid}-${filterCount++}.bpf`);
    writeFileSync(filterFile, program);
  }
  return spawnSync(harness, [filterFile, ...calls], { encoding: "utf8", timeout: 10_000 });
}

/** Removes the harness build directory. */
export function removeHarness(): void {
  if (harnessDir) rmSync(harnessDir, { recursive: true, force: true });
  harnessDir = undefined;
  harnessPath = null;
}
