// The keeper (native/keeper.c) against a launcher that misbehaves: after the seal nothing new can
// be registered, only registered slots start, a signal reaches only the keeper's own children,
// a malformed request ends it (and its children) instead of being half-read, and a launcher that
// goes away gets its teardown. Runs as any user: the slots here are plain shell commands.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Keeper } from "../launcher/keeper";
import { keeperPath, native } from "../shared/native";
import { pidAlive, waitFor } from "./support/launcher-harness";

const SH = "/bin/sh";
const keepers: Keeper[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const k of keepers.splice(0)) k.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function started(): Keeper {
  const k = Keeper.start();
  keepers.push(k);
  return k;
}

/** Descriptors 0-2 for a slot: /dev/null in, and a pipe for stdout and stderr, read here. */
function stdio(): { fds: number[]; output: () => string; closeOurs: () => void } {
  const [r, w] = native().pipe();
  const devNull = openSync("/dev/null", "r");
  let text = "";
  const reader = new Socket({ fd: r, readable: true, writable: false });
  reader.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  return {
    fds: [devNull, w, w],
    output: () => text,
    closeOurs: () => {
      closeSync(devNull);
      closeSync(w);
    },
  };
}

describe("the keeper", () => {
  it("starts a registered slot with the descriptors sent as 0..n-1 and reports how it exited", async () => {
    const k = started();
    k.register(0, [SH, "-c", 'read line <&3; echo "got $line"; exit 7']);
    await k.seal();
    const io = stdio();
    const [inR, inW] = native().pipe();
    const pid = await k.spawn(0, [...io.fds, inR]);
    io.closeOurs();
    closeSync(inR);
    const writer = new Socket({ fd: inW, readable: false, writable: true });
    writer.end("hello\n");
    expect(await k.exitOf(0, pid)).toEqual({ code: 7, signal: null });
    await waitFor(() => io.output().includes("got hello"), 2000, "the slot's output");
  });

  it("after the seal: refuses a new slot or teardown, a slot never registered, and a second copy of a running one", async () => {
    const k = started();
    k.register(0, [SH, "-c", "sleep 30"]);
    await k.seal();
    k.register(1, [SH, "-c", "echo hijacked"]);
    k.registerTeardown([SH, "-c", "echo hijacked"]);
    // A second seal collects what the keeper refused since the first.
    await expect(k.seal()).rejects.toThrow(/refused register sealed; refused register sealed/);
    const io = stdio();
    await expect(k.spawn(1, io.fds)).rejects.toThrow(/slot 1 is not registered/);
    const pid = await k.spawn(0, io.fds);
    await expect(k.spawn(0, io.fds)).rejects.toThrow(/slot 0 is running/);
    await expect(k.spawn(0, io.fds.slice(0, 2))).rejects.toThrow(/slot 0 is running|at least 3 descriptors/);
    io.closeOurs();
    k.signal(0, "SIGKILL");
    expect(await k.exitOf(0, pid)).toEqual({ code: null, signal: "SIGKILL" });
  });

  it("signals a named pid only when it is its slot's child: another process of the same user survives", async () => {
    const k = started();
    k.register(0, [SH, "-c", "sleep 30"]);
    const victim = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const io = stdio();
      const pid = await k.spawn(0, io.fds);
      io.closeOurs();
      k.signal(0, "SIGKILL", victim.pid);
      expect(await k.exitOf(0, pid)).toEqual({ code: null, signal: "SIGKILL" });
      expect(pidAlive(victim.pid ?? 0)).toBe(true);
    } finally {
      victim.kill("SIGKILL");
    }
  });

  it("tears down when asked: kills every slot, runs the teardown command and answers with its exit status", async () => {
    const k = started();
    k.register(0, [SH, "-c", "sleep 30"]);
    k.registerTeardown([SH, "-c", "exit 3"]);
    await k.seal();
    const io = stdio();
    const pid = await k.spawn(0, io.fds);
    io.closeOurs();
    expect(await k.tearDown()).toBe(3);
    await k.gone;
    await waitFor(() => !pidAlive(pid), 2000, "the slot to die");
  });

  it("tears down when the launcher's end closes (a launcher that died), without being asked", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tn-keeper-"));
    dirs.push(dir);
    const k = started();
    k.register(0, [SH, "-c", "sleep 30"]);
    k.registerTeardown([SH, "-c", `echo done > ${join(dir, "teardown")}`]);
    await k.seal();
    const io = stdio();
    const pid = await k.spawn(0, io.fds);
    io.closeOurs();
    k.close();
    await waitFor(() => existsSync(join(dir, "teardown")) && !pidAlive(pid), 3000, "teardown after EOF");
    expect(readFileSync(join(dir, "teardown"), "utf8")).toBe("done\n");
  });

  it("ends on a request it cannot frame (an oversized payload) and takes its slots with it", async () => {
    const [mine, theirs] = native().streamSocketPair();
    const child = spawn(keeperPath(), ["3"], { stdio: ["ignore", "ignore", "inherit", theirs] });
    closeSync(theirs);
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const header = new Uint8Array(16);
    const view = new DataView(header.buffer);
    view.setUint32(0, 1, true); // register
    view.setUint32(12, 1 << 20, true); // 1 MiB of payload announced
    native().sendWithFds(mine, header, []);
    expect(await exited).toBe(0);
    closeSync(mine);
  });
});
