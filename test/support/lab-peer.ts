// The UDP peer fixture (test/fixtures/net-udp-peer.ts) run in a lab namespace, its JSON lines
// collected: how the launcher-level data plane tests send bounded traffic and count echoes.
import { spawn } from "node:child_process";
import { join } from "node:path";

const PEER = join(__dirname, "..", "..", "dist", "test", "fixtures", "net-udp-peer.js");

export interface PeerResult {
  lines: Record<string, unknown>[];
  code: number | null;
}

/** Runs the peer in namespace `ns` with `args` (its modes: echo, recv, send); killed after timeoutMs. */
export function runLabPeer(ns: string, args: object, timeoutMs = 30_000): Promise<PeerResult> {
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, PEER, JSON.stringify(args)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let text = "";
    child.stdout.on("data", (c: Buffer) => {
      text += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      const lines = text
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ lines, code });
    });
  });
}

/** Echo `count` datagrams of `size` bytes through host:port (32 in flight); the peer's final line. */
export async function echoThrough(ns: string, host: string, port: number, count: number, size = 200) {
  const r = await runLabPeer(ns, {
    mode: "echo",
    host,
    port,
    count,
    size,
    intervalMs: 0,
    window: 32,
    timeoutMs: 20_000,
  });
  return { done: r.lines.find((l) => l.done === true), tail: JSON.stringify(r.lines.slice(-3)) };
}

/** A few echoes until one comes back. The first reply may meet a peer MAC the netlink tile has
 *  not mirrored into netbase yet (the net tile drops it and solicits, by design; on a loaded
 *  machine the mirror can lag the first datagram): counted runs start after this. */
export async function warmUpEcho(ns: string, host: string, port: number): Promise<void> {
  const r = await echoThrough(ns, host, port, 10, 24);
  if (typeof r.done?.received !== "number" || r.done.received < 1)
    throw new Error(`no echo while warming up: ${r.tail}`);
}

export interface FlowsResult {
  done: true;
  sent: number;
  received: number;
  mismatched: number;
  flowsComplete: number;
  /** Per flow, the distinct markers (byte 2 of the echoes: the replica, with the replica-echo app). */
  markers: Record<string, number[]>;
}

/** `flows` flows (one source port each) of `perFlow` echoes through host:port, one in flight per
 *  flow; the peer's final line. */
export async function flowsThrough(
  ns: string,
  host: string,
  port: number,
  flows: number,
  perFlow: number,
  timeoutMs = 20_000,
): Promise<FlowsResult> {
  const r = await runLabPeer(
    ns,
    { mode: "flows", host, port, flows, perFlow, size: 64, timeoutMs },
    timeoutMs + 10_000,
  );
  const done = r.lines.find((l) => l.done === true);
  if (!done) throw new Error(`flows peer ended without a result (exit ${r.code})`);
  return done as unknown as FlowsResult;
}
