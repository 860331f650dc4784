// Live AF_XDP scenario shared by the per-mode test files: namespaces A and B joined by a veth;
// XDP (skb or drv mode) on A's end redirects UDP port P to an AF_XDP socket; B is a plain kernel
// peer. Proves RX on the ring, the exception path (other ports, ARP, ICMP) through A's kernel,
// TX from UMEM to B, completions, clean detach, and a net tile in another unprivileged process.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { native } from "../../shared/native";
import {
  buildUdpFrame,
  newUdpFrameFields,
  newUdpFrameInfo,
  PARSE_OK,
  parseUdpFrame,
  UDP_PARSE_RESULT_NAMES,
  UDP_PAYLOAD_OFFSET,
} from "../../shared/packet/udp-frame";
import { setUpXdp, tearDownXdp, type XdpHandles, type XdpMode } from "../../shared/xdp/attach";
import { describeAsRoot } from "./root";
import { destroyVethPair, ip, makeVethPair, type VethPair, xdpAttachment } from "./xdp-netns";
import { type XskGeometry, XskPort } from "./xsk-port";

const PEER_JS = new URL("../../dist/test/fixtures/xsk-udp-peer.js", import.meta.url).pathname;
const TILE_JS = new URL("../../dist/test/fixtures/xsk-net-tile.js", import.meta.url).pathname;

const XDP_PORT = 7700;
const KERNEL_PORT = 7701;
const B_PORT = 7702;
const RX_COUNT = 1000;
const KERNEL_COUNT = 100;
const TX_COUNT = 200;

const GEOMETRY: XskGeometry = {
  frameSize: 2048,
  frameCount: 4096,
  fillDepth: 2048,
  completionDepth: 2048,
  rxDepth: 2048,
  txDepth: 2048,
};

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child whose stdout is JSON lines. */
class JsonChild {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly exited: Promise<number | null>;
  stderr = "";
  private readonly child: ChildProcess;

  constructor(cmd: string, args: string[], opts: Parameters<typeof spawn>[2] = {}) {
    this.child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
    let buf = "";
    this.child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        this.lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
    });
    this.child.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  async line(pred: (l: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(pred);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`child gave no matching line in ${timeoutMs} ms; stderr: ${this.stderr}`);
      await sleep(5);
    }
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

function inNs(ns: string, script: string, args: Array<string | number>): JsonChild {
  return new JsonChild("ip", ["netns", "exec", ns, process.execPath, script, ...args.map(String)]);
}

function macString(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export function describeLiveXsk(mode: XdpMode, tag: string, subnet: number): void {
  describeAsRoot(`AF_XDP live on veth, ${mode} mode (needs root)`, () => {
    let pair: VethPair | undefined;
    let xdp: XdpHandles | undefined;
    const children: JsonChild[] = [];
    const addon = native();

    const child = (c: JsonChild): JsonChild => {
      children.push(c);
      return c;
    };

    const attach = (): XdpHandles => {
      if (!pair) throw new Error("no namespaces");
      detach(); // a previous test that failed midway may have left its attachment
      xdp = setUpXdp({
        netnsPath: pair.pathA,
        ifname: pair.ifA,
        ports: [XDP_PORT],
        dstIp: pair.ipA32,
        mode,
        queueId: 0,
        ...GEOMETRY,
      });
      return xdp;
    };

    const detach = (): void => {
      const h = xdp;
      xdp = undefined;
      if (h) tearDownXdp(h);
    };

    beforeAll(async () => {
      if (!existsSync(PEER_JS) || !existsSync(TILE_JS)) throw new Error("fixtures not bundled: run `npm run build`");
      pair = await makeVethPair(tag, subnet);
    });

    afterAll(() => {
      for (const c of children) c.kill();
      try {
        detach();
      } finally {
        destroyVethPair(pair);
      }
    });

    it("receives on the RX ring, leaves other traffic to the kernel, transmits from UMEM, detaches cleanly", async () => {
      if (!pair) throw new Error("no namespaces");
      const p = pair;
      const h = attach();
      expect(h.mode).toBe(mode);
      expect(xdpAttachment(p.nsA, p.ifA)).toMatch(mode === "skb" ? /xdpgeneric/ : /\bxdp\b(?!generic)/);

      const port = new XskPort(addon, h.xskFd, h.umemFd, GEOMETRY);
      expect(port.refill()).toBe(GEOMETRY.frameCount / 2);

      // A kernel socket in A on the XDP port and on another port: only the other port may reach it.
      const kernelRx = child(inNs(p.nsA, PEER_JS, ["recv", `${XDP_PORT},${KERNEL_PORT}`, KERNEL_COUNT, 8000]));
      await kernelRx.line((l) => l.ready === true, 10_000);
      const toXdp = child(inNs(p.nsB, PEER_JS, ["send", p.ipA, XDP_PORT, RX_COUNT, "xdp"]));
      const toKernel = child(inNs(p.nsB, PEER_JS, ["send", p.ipA, KERNEL_PORT, KERNEL_COUNT, "kern"]));

      const info = newUdpFrameInfo();
      const seen = new Uint8Array(RX_COUNT);
      let received = 0;
      let bad = 0;
      const badReasons = new Set<string>();
      let firstAt = 0n;
      let lastAt = 0n;
      const decoder = new TextDecoder();
      const onFrame = (umem: Uint8Array, off: number, len: number): void => {
        const r = parseUdpFrame(umem, off, len, info);
        if (r !== PARSE_OK || info.dstPort !== XDP_PORT || info.dstIp !== p.ipA32 || info.srcIp !== p.ipB32) {
          badReasons.add(r === PARSE_OK ? `port ${info.dstPort}` : UDP_PARSE_RESULT_NAMES[r]);
          bad++;
          return;
        }
        const [tagText, seqText] = decoder
          .decode(umem.subarray(info.payloadOff, info.payloadOff + info.payloadLen))
          .split(" ");
        const seq = Number(seqText);
        if (tagText !== "xdp" || !(seq >= 0 && seq < RX_COUNT) || seen[seq] === 1) {
          bad++;
          return;
        }
        seen[seq] = 1;
        received++;
        lastAt = process.hrtime.bigint();
        if (firstAt === 0n) firstAt = lastAt;
      };
      const deadline = Date.now() + 15_000;
      while (received < RX_COUNT && Date.now() < deadline) {
        if (port.drainRx(onFrame) === 0) await sleep(1);
      }
      const sendResult = await toXdp.line((l) => "sent" in l, 10_000);
      expect(sendResult.sent).toBe(RX_COUNT);
      expect(bad, [...badReasons].join(",")).toBe(0);
      expect(received).toBe(RX_COUNT);
      const rxMs = Number(lastAt - firstAt) / 1e6;
      console.log(
        `[${mode}] AF_XDP RX: ${received} datagrams in ${rxMs.toFixed(1)} ms (${Math.round(received / (rxMs / 1000))} pps; sender-bound, Node dgram in B took ${Number(sendResult.ms).toFixed(1)} ms)`,
      );

      // Exception path: the kernel socket got the other port's datagrams and none of port P.
      const kernelResult = await kernelRx.line((l) => "counts" in l, 10_000);
      await toKernel.line((l) => "sent" in l, 10_000);
      expect(kernelResult.counts).toEqual({ [XDP_PORT]: 0, [KERNEL_PORT]: KERNEL_COUNT });

      // ARP through A's kernel: B resolved A's address to A's MAC. ICMP: ping answers.
      const [neigh] = JSON.parse(ip(["-n", p.nsB, "-j", "neigh", "show", p.ipA, "dev", p.ifB])) as Array<{
        lladdr?: string;
        state?: string[];
      }>;
      expect(neigh?.lladdr).toBe(macString(p.macA));
      expect(neigh?.state?.some((s) => ["REACHABLE", "STALE", "DELAY", "PROBE"].includes(s))).toBe(true);
      const ping = await execFileAsync(
        "ip",
        ["netns", "exec", p.nsB, "ping", "-c", "3", "-i", "0.2", "-W", "2", p.ipA],
        {
          encoding: "utf8",
        },
      ).catch((e: Error) => ({ stdout: `ping failed (is iputils-ping installed?): ${e.message}` }));
      expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);

      // TX: frames built in UMEM reach a kernel socket in B; every frame completes.
      const bRx = child(inNs(p.nsB, PEER_JS, ["recv", B_PORT, TX_COUNT, 8000]));
      await bRx.line((l) => l.ready === true, 10_000);
      const fields = newUdpFrameFields();
      fields.srcMac.set(p.macA);
      fields.dstMac.set(p.macB);
      fields.srcIp = p.ipA32;
      fields.dstIp = p.ipB32;
      fields.srcPort = XDP_PORT;
      fields.dstPort = B_PORT;
      const encoder = new TextEncoder();
      const build = (umem: Uint8Array, off: number, index: number): number => {
        const { written } = encoder.encodeInto(`tx ${index}`, umem.subarray(off + UDP_PAYLOAD_OFFSET, off + 256));
        fields.ipId = index;
        return buildUdpFrame(umem, off, fields, written);
      };
      const submitted = new Set<number>();
      const completedAddrs = new Set<number>();
      let queued = 0;
      const t0 = process.hrtime.bigint();
      const txDeadline = Date.now() + 10_000;
      while (completedAddrs.size < TX_COUNT && Date.now() < txDeadline) {
        if (queued < TX_COUNT) {
          queued += port.send(TX_COUNT - queued, queued, (umem, off, index) => {
            submitted.add(off);
            return build(umem, off, index);
          });
        }
        port.kick();
        if (port.reapCompletions((addr) => completedAddrs.add(addr)) === 0) await sleep(1);
      }
      const txMs = Number(process.hrtime.bigint() - t0) / 1e6;
      expect(completedAddrs.size).toBe(TX_COUNT);
      expect([...completedAddrs].every((a) => submitted.has(a))).toBe(true);
      expect(port.txPool.available).toBe(port.txPool.frameCount);
      const bResult = await bRx.line((l) => "counts" in l, 10_000);
      expect(bResult.counts).toEqual({ [B_PORT]: TX_COUNT });
      expect(bResult.sources).toEqual([`${p.ipA}:${XDP_PORT}`]);
      console.log(
        `[${mode}] AF_XDP TX: ${TX_COUNT} frames submitted and completed in ${txMs.toFixed(1)} ms (${Math.round(TX_COUNT / (txMs / 1000))} pps), ${port.kicks} kicks`,
      );

      const stats = addon.xskStatistics(h.xskFd);
      expect(stats.rxDropped + stats.rxInvalidDescs + stats.txInvalidDescs).toBe(0);

      port.close();
      expect(port.rings.rx.depth).toBe(GEOMETRY.rxDepth);
      detach();
      expect(xdpAttachment(p.nsA, p.ifA)).toBe("");
    });

    it("a net tile in another process, as uid 65534, maps UMEM and the rings itself, receives and transmits", async () => {
      if (!pair) throw new Error("no namespaces");
      const p = pair;
      const h = attach();
      const tile = child(
        new JsonChild(
          process.execPath,
          [
            TILE_JS,
            JSON.stringify({
              ...GEOMETRY,
              port: XDP_PORT,
              expected: RX_COUNT,
              timeoutMs: 15_000,
              txCount: TX_COUNT,
              tx: {
                srcMac: [...p.macA],
                dstMac: [...p.macB],
                srcIp: p.ipA32,
                dstIp: p.ipB32,
                srcPort: XDP_PORT,
                dstPort: B_PORT,
              },
            }),
          ],
          { stdio: ["ignore", "pipe", "pipe", h.xskFd, h.umemFd], uid: 65534, gid: 65534 },
        ),
      );
      await tile.line((l) => l.ready === true, 10_000);
      const bRx = child(inNs(p.nsB, PEER_JS, ["recv", B_PORT, TX_COUNT, 15_000]));
      await bRx.line((l) => l.ready === true, 10_000);
      child(inNs(p.nsB, PEER_JS, ["send", p.ipA, XDP_PORT, RX_COUNT, "xdp"]));
      const result = await tile.line((l) => "received" in l, 30_000);
      expect(await tile.exited).toBe(0);
      expect(result).toMatchObject({
        uid: 65534,
        capEff: "0000000000000000",
        received: RX_COUNT,
        duplicates: 0,
        parseErrors: 0,
        wrongPort: 0,
        queued: TX_COUNT,
        completed: TX_COUNT,
      });
      const bResult = await bRx.line((l) => "counts" in l, 10_000);
      expect(bResult.counts).toEqual({ [B_PORT]: TX_COUNT });
      console.log(
        `[${mode}] net tile child (uid 65534): ${RX_COUNT} RX in ${Number(result.rxSpanMs).toFixed(1)} ms, ${TX_COUNT} TX completed, ${result.kicks} kicks`,
      );
      detach();
      expect(xdpAttachment(p.nsA, p.ifA)).toBe("");
    });
  });
}
