// The launcher's side of the keeper (native/keeper.c): the small privileged helper started before
// the launcher drops its own privileges. The launcher registers each tile's exec-helper command
// line as a slot and the teardown command, seals, and from then on can only ask the keeper to
// (re)start a registered slot with the descriptors it sends, to signal a slot, and to tear down.
// Every tile is the keeper's child; the keeper reports their exits on the same socket.
import { spawn } from "node:child_process";
import { Socket } from "node:net";
import { constants } from "node:os";
import { createInterface } from "node:readline";
import { keeperPath, native } from "../shared/native";

const OP_REGISTER_SLOT = 1;
const OP_REGISTER_TEARDOWN = 2;
const OP_SEAL = 3;
const OP_SPAWN = 4;
const OP_SIGNAL = 5;
const OP_TEARDOWN = 6;
/** As native/keeper.c: slots 0..63, 64 descriptors and 64 KiB of argv per request. */
export const KEEPER_MAX_SLOTS = 64;
const MAX_FDS = 64;
const MAX_PAYLOAD = 65536;
const SIGNALS = { SIGTERM: 15, SIGKILL: 9 } as const;

export interface SlotExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function signalName(n: number): NodeJS.Signals | null {
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return entry ? (entry[0] as NodeJS.Signals) : null;
}

function header(op: number, slot: number, arg: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, op, true);
  view.setUint32(4, slot, true);
  view.setInt32(8, arg, true);
  view.setUint32(12, payload.length, true);
  out.set(payload, 16);
  return out;
}

function argvPayload(argv: readonly string[]): Uint8Array {
  if (argv.length === 0 || !argv[0]?.startsWith("/")) throw new Error("keeper: argv[0] must be an absolute path");
  if (argv.some((a) => a.includes("\0"))) throw new Error("keeper: an argument contains a NUL byte");
  const bytes = Buffer.from(argv.map((a) => `${a}\0`).join(""));
  if (bytes.length > MAX_PAYLOAD) throw new Error(`keeper: argv of ${bytes.length} bytes (at most ${MAX_PAYLOAD})`);
  return bytes;
}

export class Keeper {
  private readonly spawns: { resolve: (pid: number) => void; reject: (e: Error) => void }[] = [];
  private readonly exits = new Map<string, (exit: SlotExit) => void>();
  private readonly early = new Map<string, SlotExit>();
  private readonly refusals: string[] = [];
  private sealWaiter: ((refusals: string[]) => void) | undefined;
  private tornDown: ((status: number) => void) | undefined;
  private closed = false;
  private readonly socket: Socket;
  private awaited = 0;
  /** Resolves when the keeper's socket closes (it exited, or was killed). */
  readonly gone: Promise<void>;

  private constructor(
    readonly pid: number,
    private readonly fd: number,
  ) {
    const socket = new Socket({ fd, readable: true, writable: false });
    this.socket = socket;
    // The keeper's socket keeps the launcher's event loop alive only while an answer is awaited
    // (a spawn, the teardown): a launcher waiting for nothing else must not exit before it.
    socket.unref();
    this.gone = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {
      // a keeper that died: `gone` reports it
    });
    createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (l) => this.onLine(l));
    void this.gone.then(() => {
      this.closed = true;
      for (const s of this.spawns.splice(0)) s.reject(new Error("keeper: gone"));
      this.sealWaiter?.(["keeper: gone"]);
      this.tornDown?.(-1);
    });
  }

  /** Starts the keeper as this (root) process's child. Its stderr is the launcher's. */
  static start(): Keeper {
    const [mine, theirs] = native().streamSocketPair();
    // The keeper's environment is every tile's: libuv must not use io_uring (see tilenet-exec).
    const env = { UV_USE_IO_URING: "0" };
    const child = spawn(keeperPath(), ["3"], { stdio: ["ignore", "ignore", "inherit", theirs], cwd: "/", env });
    native().closeFd(theirs);
    if (child.pid === undefined) throw new Error(`keeper: could not start ${keeperPath()}`);
    child.unref();
    return new Keeper(child.pid, mine);
  }

  /** One more (+1) or one fewer (-1) answer awaited. */
  private awaiting(delta: 1 | -1): void {
    this.awaited += delta;
    if (this.awaited > 0) this.socket.ref();
    else this.socket.unref();
  }

  private onLine(line: string): void {
    const [what, ...rest] = line.split(" ");
    if (what === "spawned") this.spawns.shift()?.resolve(Number(rest[1]));
    else if (what === "exited") this.onExited(rest);
    else if (what === "sealed") this.sealWaiter?.(this.refusals.splice(0));
    else if (what === "torn-down") this.tornDown?.(Number(rest[0]));
    else if (what === "refused" && rest[0] === "spawn") this.spawns.shift()?.reject(new Error(`keeper: ${line}`));
    else this.refusals.push(line);
  }

  private onExited(rest: string[]): void {
    const [slot, pid, code, signal] = rest.map(Number);
    const exit: SlotExit =
      code === -1 ? { code: null, signal: signalName(signal ?? 0) } : { code: code ?? null, signal: null };
    const key = `${slot}:${pid}`;
    const resolve = this.exits.get(key);
    if (resolve) {
      this.exits.delete(key);
      resolve(exit);
    } else {
      this.early.set(key, exit);
    }
  }

  private send(op: number, slot: number, arg: number, payload: Uint8Array, fds: readonly number[] = []): void {
    if (this.closed) throw new Error("keeper: gone");
    if (!Number.isInteger(slot) || slot < 0 || slot >= KEEPER_MAX_SLOTS) throw new Error(`keeper: slot ${slot}`);
    if (fds.length > MAX_FDS) throw new Error(`keeper: ${fds.length} descriptors (at most ${MAX_FDS})`);
    native().sendWithFds(this.fd, header(op, slot, arg, payload), fds);
  }

  register(slot: number, argv: readonly string[]): void {
    this.send(OP_REGISTER_SLOT, slot, 0, argvPayload(argv));
  }

  registerTeardown(argv: readonly string[]): void {
    this.send(OP_REGISTER_TEARDOWN, 0, 0, argvPayload(argv));
  }

  /** No registration after this; rejects with what the keeper refused so far. */
  seal(): Promise<void> {
    const sealed = new Promise<string[]>((resolve) => {
      this.sealWaiter = resolve;
    });
    this.send(OP_SEAL, 0, 0, new Uint8Array(0));
    return sealed.then((refusals) => {
      if (refusals.length > 0) throw new Error(`keeper: ${refusals.join("; ")}`);
    });
  }

  /** Starts slot with fds as its 0..n-1; resolves with the pid of the process started. */
  spawn(slot: number, fds: readonly number[]): Promise<number> {
    const pid = new Promise<number>((resolve, reject) => this.spawns.push({ resolve, reject }));
    this.send(OP_SPAWN, slot, 0, new Uint8Array(0), fds);
    this.awaiting(1);
    const settled = (): void => this.awaiting(-1);
    pid.then(settled, settled);
    return pid;
  }

  /** Resolves when the process `pid` of `slot` has exited. */
  exitOf(slot: number, pid: number): Promise<SlotExit> {
    const key = `${slot}:${pid}`;
    const early = this.early.get(key);
    if (early) {
      this.early.delete(key);
      return Promise.resolve(early);
    }
    return new Promise((resolve) => {
      this.exits.set(key, resolve);
      void this.gone.then(() => resolve({ code: null, signal: "SIGKILL" }));
    });
  }

  /** Signals slot's process, and tilePid when it is that process's child (a PID namespace). */
  signal(slot: number, sig: keyof typeof SIGNALS, tilePid?: number): void {
    if (this.closed) return;
    const payload = new Uint8Array(tilePid === undefined ? 0 : 4);
    if (tilePid !== undefined) new DataView(payload.buffer).setInt32(0, tilePid, true);
    this.send(OP_SIGNAL, slot, SIGNALS[sig], payload);
  }

  /** Closes the launcher's end, as a launcher that dies does: the keeper then kills every tile and
   *  runs the teardown command without answering. */
  close(): void {
    this.socket.destroy();
  }

  /** Kills every tile, runs the teardown command, and resolves with its exit status. */
  tearDown(): Promise<number> {
    if (this.closed) return Promise.resolve(-1);
    const done = new Promise<number>((resolve) => {
      this.tornDown = resolve;
    });
    this.send(OP_TEARDOWN, 0, 0, new Uint8Array(0));
    this.awaiting(1);
    return done.finally(() => this.awaiting(-1));
  }
}
