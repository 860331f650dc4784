// One XDP program serving several receive queues of a real interface: a veth with 4 queues per
// end, AF_XDP sockets on queues 0 and 1 only, the program attached after both are bound. A peer
// sends many UDP flows to the owned port; veth delivers each on the receive queue numbered like
// the sender's transmit queue (a hash of the flow), so the flows land on all four queues. Every
// datagram must be either on a socket (queues 0, 1) or dropped and counted in the miss counters
// (queues 2, 3); none may reach the kernel.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { native } from "../shared/native";
import { createNetnsSync, NetState, netnsExists } from "../shared/netstate";
import { newUdpFrameInfo, PARSE_OK, parseUdpFrame } from "../shared/packet/udp-frame";
import {
  attachXdpInterface,
  bindXskQueue,
  setUpXdpInterface,
  tearDownXdpInterface,
  tearDownXdpQueue,
  type XdpInterfaceHandles,
  type XdpQueueHandles,
} from "../shared/xdp/attach";
import { queueMissMapBytes, readQueueMisses } from "../shared/xdp/queue-misses";
import { describeAsRoot } from "./support/root";
import { destroyNamespaces, ip, ip4ToU32, xdpAttachment } from "./support/xdp-netns";
import { type XskGeometry, XskPort } from "./support/xsk-port";

const QUEUES = 4;
const BOUND_QUEUES = [0, 1];
const PORT = 7800;
const FLOWS = 64;
const PER_FLOW = 8;
const SENT_EXPECTED = FLOWS * PER_FLOW;
const CONTROL = 16;
const IP_A = "198.18.9.1";
const IP_B = "198.18.9.2";
const GEOMETRY: XskGeometry = {
  frameSize: 2048,
  frameCount: 1024,
  fillDepth: 512,
  completionDepth: 512,
  rxDepth: 512,
  txDepth: 512,
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// 64 sockets (one flow each, distinct source ports), one datagram per flow per round; a round is
// awaited before the next, so no veth receive ring (256 entries) overflows.
const SENDER = `
const dgram = require("node:dgram");
const [host, port, flows, perFlow, control] = process.argv.slice(1);
const socks = Array.from({ length: Number(flows) }, () => dgram.createSocket("udp4"));
(async () => {
  let sent = 0, errors = 0;
  for (let round = 0; round < Number(perFlow); round++) {
    await Promise.all(socks.map((s, flow) => new Promise((resolve) => {
      s.send(Buffer.from(flow + " " + round), Number(port), host, (err) => { if (err) errors++; else sent++; resolve(); });
    })));
    await new Promise((r) => setTimeout(r, 2));
  }
  // The control: datagrams to a port the program does not own, which the kernel must get.
  for (let i = 0; i < Number(control); i++)
    await new Promise((resolve) => socks[0].send("control", Number(port) + 1, host, (err) => { if (err) errors++; resolve(); }));
  for (const s of socks) s.close();
  process.stdout.write(JSON.stringify({ sent, errors }) + "\\n");
})();`;

// Kernel sockets on the owned port and on the next one (the control): count what reaches each
// until stdin closes.
const KERNEL_RECEIVER = `
const dgram = require("node:dgram");
const port = Number(process.argv[1]);
const counts = { owned: 0, control: 0 };
let bound = 0;
const socks = [["owned", port], ["control", port + 1]].map(([name, p]) => {
  const s = dgram.createSocket("udp4");
  s.on("message", () => counts[name]++);
  s.bind(p, () => { if (++bound === 2) process.stdout.write(JSON.stringify({ ready: true }) + "\\n"); });
  return s;
});
process.stdin.on("end", () => { process.stdout.write(JSON.stringify({ counts }) + "\\n"); for (const s of socks) s.close(); });
process.stdin.resume();`;

/** A child in a namespace whose stdout is JSON lines. */
function nsChild(
  ns: string,
  script: string,
  args: Array<string | number>,
): { proc: ChildProcess; lines: () => Array<Record<string, unknown>>; stderr: () => string } {
  const proc = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", script, ...args.map(String)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const lines = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { proc, lines, stderr: () => err };
}

async function lineOf(c: ReturnType<typeof nsChild>, key: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = c.lines().find((l) => key in l);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`child gave no '${key}' line in ${timeoutMs} ms; stderr: ${c.stderr()}`);
    await sleep(5);
  }
}

describeAsRoot("one XDP program, 4 receive queues, sockets on 2, misses counted (needs root)", () => {
  const suffix = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const nsA = `tn-mqa-${suffix}`;
  const nsB = `tn-mqb-${suffix}`;
  const addon = native();
  let iface: XdpInterfaceHandles | undefined;
  const queues: XdpQueueHandles[] = [];
  const ports: XskPort[] = [];
  const children: ChildProcess[] = [];

  const tearDown = (): void => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    for (const p of ports.splice(0)) p.close();
    for (const q of queues.splice(0)) tearDownXdpQueue(q);
    if (iface) tearDownXdpInterface(iface);
    iface = undefined;
  };

  beforeAll(async () => {
    createNetnsSync(nsA);
    createNetnsSync(nsB);
    // numtxqueues/numrxqueues on both ends: the peer's transmit queue picks A's receive queue.
    ip(
      ["-n", nsA, "link", "add", "xa", "numtxqueues", "4", "numrxqueues", "4", "type", "veth"].concat([
        "peer",
        "name",
        "xb",
        "netns",
        nsB,
        "numtxqueues",
        "4",
        "numrxqueues",
        "4",
      ]),
    );
    for (const [ns, dev, addr] of [
      [nsA, "xa", IP_A],
      [nsB, "xb", IP_B],
    ] as const) {
      await NetState.in(ns, async (s) => {
        await s.addAddress(dev, `${addr}/30`);
        // Finished checksums in AF_XDP; also turns TSO off, which keeps veth's NAPI (XDP) path
        // for every datagram (veth_skb_is_eligible_for_gro).
        await s.disableTxChecksumOffload(dev);
        await s.setLink(dev, { up: true });
        await s.setLink("lo", { up: true });
      });
    }
    // A permanent neighbour in B: no datagram waits behind ARP (its queue is small).
    const macA = /link\/ether ([0-9a-f:]+)/.exec(ip(["-n", nsA, "link", "show", "xa"]))?.[1];
    if (!macA) throw new Error("xa has no MAC");
    ip(["-n", nsB, "neigh", "replace", IP_A, "lladdr", macA, "dev", "xb", "nud", "permanent"]);
  }, 30_000);

  afterAll(() => {
    try {
      tearDown();
    } finally {
      destroyNamespaces([nsA, nsB]);
    }
  });

  it("sets up the interface, binds queues 0 and 1, attaches after both", () => {
    iface = setUpXdpInterface({
      netnsPath: `/run/netns/${nsA}`,
      ifname: "xa",
      ports: [PORT],
      dstIp: ip4ToU32(IP_A),
      mode: "drv",
      queueCount: QUEUES,
    });
    expect(iface.linkFd).toBeUndefined();
    expect(xdpAttachment(nsA, "xa")).toBe("");
    for (const queueId of BOUND_QUEUES) {
      const q = bindXskQueue(iface, { queueId, umemName: `tn-mq-umem-${queueId}`, ...GEOMETRY });
      queues.push(q);
      expect(q.queueId).toBe(queueId);
      const port = new XskPort(addon, q.xskFd, q.umemFd, GEOMETRY);
      ports.push(port);
      expect(port.refill()).toBe(GEOMETRY.frameCount / 2);
    }
    expect(() => bindXskQueue(iface as XdpInterfaceHandles, { queueId: QUEUES, ...GEOMETRY })).toThrow(
      /queueId 4 out of range \(queueCount 4\)/,
    );
    const attached = attachXdpInterface(iface);
    expect(attached.mode).toBe("drv");
    expect(iface.linkFd).toBe(attached.linkFd);
    expect(xdpAttachment(nsA, "xa")).toMatch(/\bxdp\b(?!generic)/);
  });

  it("puts every datagram on a socket (queues 0, 1) or in the miss counters (queues 2, 3), none in the kernel", async () => {
    const h = iface;
    if (!h || ports.length !== 2) throw new Error("set-up failed");
    const misses = new DataView(addon.mapFd(h.missMapFd, queueMissMapBytes(QUEUES), false));
    const kernel = nsChild(nsA, KERNEL_RECEIVER, [PORT]);
    children.push(kernel.proc);
    await lineOf(kernel, "ready", 10_000);
    const sender = nsChild(nsB, SENDER, [IP_A, PORT, FLOWS, PER_FLOW, CONTROL]);
    children.push(sender.proc);

    const info = newUdpFrameInfo();
    const received = [0, 0];
    let bad = 0;
    const drain = (): number => {
      let n = 0;
      ports.forEach((p, i) => {
        n += p.drainRx((umem, off, len) => {
          if (parseUdpFrame(umem, off, len, info) !== PARSE_OK || info.dstPort !== PORT) bad++;
          else received[i]++;
        });
      });
      return n;
    };
    const missed = () => [0, 1, 2, 3].map((q) => readQueueMisses(misses, q));
    const total = () => received[0] + received[1] + missed().reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 15_000;
    while (total() < SENT_EXPECTED && Date.now() < deadline) if (drain() === 0) await sleep(1);
    const sent = await lineOf(sender, "sent", 10_000);
    await sleep(200); // anything late, to the sockets or (wrongly) to the kernel
    drain();
    kernel.proc.stdin?.end();
    const kernelCounts = (await lineOf(kernel, "counts", 10_000)).counts as { owned: number; control: number };
    const perQueue = missed();
    console.log(
      `multi-queue: sent ${String(sent.sent)}; on AF_XDP q0 ${received[0]}, q1 ${received[1]}; missed q0..q3 ${perQueue.join(", ")}; kernel socket on the port ${kernelCounts.owned} (control port ${kernelCounts.control}/${CONTROL})`,
    );
    expect(sent).toEqual({ sent: SENT_EXPECTED, errors: 0 });
    expect(bad).toBe(0);
    expect(kernelCounts).toEqual({ owned: 0, control: CONTROL });
    expect(perQueue[0] + perQueue[1]).toBe(0);
    expect(received[0] + received[1] + perQueue[2] + perQueue[3]).toBe(SENT_EXPECTED);
    const busy = [received[0], received[1], perQueue[2], perQueue[3]].filter((n) => n > 0).length;
    expect(busy, "flows spread over at least two queues").toBeGreaterThanOrEqual(2);
  }, 60_000);

  it("tears down: detached, and the namespaces are gone", () => {
    tearDown();
    expect(xdpAttachment(nsA, "xa")).toBe("");
    destroyNamespaces([nsA, nsB]);
    expect(netnsExists(nsA)).toBe(false);
    expect(netnsExists(nsB)).toBe(false);
  });
});
