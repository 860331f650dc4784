// The generated XDP program run by the kernel (BPF_PROG_TEST_RUN) on frames built here, with a
// real XSKMAP holding a bound AF_XDP socket at queue 0, and by the reference interpreter where
// the kernel refuses the input (frames shorter than 14 bytes).
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { addonPath, native } from "../shared/native";
import { buildUdpFrame, newUdpFrameFields, UDP_PAYLOAD_OFFSET } from "../shared/packet/udp-frame";
import { BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_XSKMAP, XdpAction } from "../shared/xdp/abi";
import { setUpXdp, tearDownXdp, type XdpHandles } from "../shared/xdp/attach";
import { runXdp, xskMapRedirect } from "../shared/xdp/bpf-interp";
import { generateXdpProgram } from "../shared/xdp/program";
import { QUEUE_MISS_COUNTER_BYTES, queueMissMapBytes, readQueueMisses } from "../shared/xdp/queue-misses";
import { describeAsRoot } from "./support/root";
import { destroyVethPair, makeVethPair, type VethPair } from "./support/xdp-netns";

const OWNED = [9000, 9001, 12345];
const NOT_OWNED = 9002;
const OUR_IP = 0xc6120101; // 198.18.1.1 (high bit set: exercises the 32-bit compare)
const { pass: PASS, redirect: REDIRECT, drop: DROP } = XdpAction;

function udp(dstPort: number, opts: { dstIp?: number; payload?: number } = {}): Uint8Array {
  const payloadLen = opts.payload ?? 16;
  const u8 = new Uint8Array(UDP_PAYLOAD_OFFSET + payloadLen);
  const f = newUdpFrameFields();
  f.dstMac.set([2, 0, 0, 0, 0, 1]);
  f.srcMac.set([2, 0, 0, 0, 0, 2]);
  f.srcIp = 0xc6120102;
  f.dstIp = opts.dstIp ?? OUR_IP;
  f.srcPort = 5555;
  f.dstPort = dstPort;
  buildUdpFrame(u8, 0, f, payloadLen);
  return u8;
}

function withProtocol(frame: Uint8Array, protocol: number): Uint8Array {
  const u8 = frame.slice();
  u8[23] = protocol;
  return u8;
}

function arp(): Uint8Array {
  const u8 = new Uint8Array(42);
  u8.fill(0xff, 0, 6);
  u8.set([2, 0, 0, 0, 0, 2], 6);
  u8.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1], 12);
  u8.set([2, 0, 0, 0, 0, 2, 198, 18, 1, 2, 0, 0, 0, 0, 0, 0, 198, 18, 1, 1], 22);
  return u8;
}

function icmpEcho(): Uint8Array {
  const u8 = withProtocol(udp(9000), 1);
  u8[34] = 8; // echo request
  u8[35] = 0;
  return u8;
}

/** IPv4 options of (ihl - 5) words between the IPv4 and UDP headers; the option bytes that sit
 *  where a 20-byte header's UDP dst port would be carry `decoyPort`. */
function withOptions(frame: Uint8Array, ihl: number, decoyPort: number): Uint8Array {
  const extra = (ihl - 5) * 4;
  const u8 = new Uint8Array(frame.length + extra);
  u8.set(frame.subarray(0, 34));
  u8.fill(1, 34, 34 + extra); // NOP options
  if (extra >= 4) {
    u8[36] = decoyPort >> 8;
    u8[37] = decoyPort & 0xff;
  }
  u8.set(frame.subarray(34), 34 + extra);
  u8[14] = 0x40 | ihl;
  return u8;
}

function vlanTagged(frame: Uint8Array): Uint8Array {
  const u8 = new Uint8Array(frame.length + 4);
  u8.set(frame.subarray(0, 12));
  u8.set([0x81, 0x00, 0x00, 0x05], 12);
  u8.set(frame.subarray(12), 16);
  return u8;
}

function withFragment(frame: Uint8Array, flagsOffset: number): Uint8Array {
  const u8 = frame.slice();
  u8[20] = flagsOffset >> 8;
  u8[21] = flagsOffset & 0xff;
  return u8;
}

/** What the program must decide, written from the specification independently of the generator. */
function expectedAction(frame: Uint8Array, ports: number[], dstIp?: number): number {
  if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return PASS;
  const version = frame[14] >> 4;
  const ihl = (frame[14] & 0x0f) * 4;
  if (version !== 4 || ihl < 20) return PASS;
  if (((frame[20] << 8) | frame[21]) & 0x3fff) return PASS;
  if (frame[23] !== 17) return PASS;
  const dst = ((frame[30] << 24) | (frame[31] << 16) | (frame[32] << 8) | frame[33]) >>> 0;
  if (dstIp !== undefined && dst !== dstIp) return PASS;
  const udp = 14 + ihl;
  if (udp + 8 > frame.length) return PASS;
  return ports.includes((frame[udp + 2] << 8) | frame[udp + 3]) ? REDIRECT : PASS;
}

const interpCtx = {
  rxQueueIndex: 0,
  ingressIfindex: 1,
  redirectMap: (_fd: number, key: number, flags: number) => (key === 0 ? REDIRECT : flags & 3),
};

describeAsRoot("generated XDP program under BPF_PROG_TEST_RUN (needs root)", () => {
  let pair: VethPair | undefined;
  let xdp: XdpHandles | undefined;
  let progAnyIp = -1;
  let progOurIp = -1;
  let emptyMap = -1;
  let progEmptyMap = -1;
  let missMap = -1;
  let progMiss = -1;
  let progMissEmpty = -1;
  let misses: DataView;
  const addon = native();
  const run = (prog: number, frame: Uint8Array) => addon.bpfProgTestRun(prog, frame, 1).retval;

  beforeAll(async () => {
    pair = await makeVethPair("xp", 1);
    // setUpXdp gives a bound AF_XDP socket at queue 0 of a real XSKMAP (and attaches, harmlessly).
    xdp = setUpXdp({
      netnsPath: pair.pathA,
      ifname: pair.ifA,
      ports: OWNED,
      mode: "skb",
      queueId: 0,
      frameSize: 2048,
      frameCount: 64,
      fillDepth: 32,
      completionDepth: 32,
      rxDepth: 32,
      txDepth: 32,
    });
    progAnyIp = xdp.progFd;
    progOurIp = addon.bpfProgLoadXdp(
      generateXdpProgram({ ports: OWNED, dstIp: OUR_IP, xskMapFd: xdp.xskMapFd }),
      "tn_xdp_ip",
      "Apache-2.0",
    );
    emptyMap = addon.bpfMapCreate(BPF_MAP_TYPE_XSKMAP, 4, 4, 1, "tn_empty");
    progEmptyMap = addon.bpfProgLoadXdp(generateXdpProgram({ ports: OWNED, xskMapFd: emptyMap }), "tn_xdp_e", "GPL");
    // Miss counters for 4 queues, mapped read-only exactly as a net tile maps its regions.
    missMap = addon.bpfMapCreate(BPF_MAP_TYPE_ARRAY, 4, QUEUE_MISS_COUNTER_BYTES, 4, "tn_misses", BPF_F_MMAPABLE);
    misses = new DataView(addon.mapFd(missMap, queueMissMapBytes(4), false));
    const withMisses = (xskMapFd: number) => generateXdpProgram({ ports: OWNED, xskMapFd, missMapFd: missMap });
    progMiss = addon.bpfProgLoadXdp(withMisses(xdp.xskMapFd), "tn_xdp_m", "GPL");
    progMissEmpty = addon.bpfProgLoadXdp(withMisses(emptyMap), "tn_xdp_me", "GPL");
  });

  afterAll(() => {
    for (const fd of [progOurIp, progEmptyMap, emptyMap, progMiss, progMissEmpty, missMap])
      if (fd >= 0) addon.closeFd(fd);
    try {
      if (xdp) tearDownXdp(xdp);
    } finally {
      destroyVethPair(pair);
    }
  });

  it("redirects UDP to each owned port and passes a port it does not own", () => {
    for (const port of OWNED) expect(run(progAnyIp, udp(port)), `port ${port}`).toBe(REDIRECT);
    expect(run(progAnyIp, udp(NOT_OWNED))).toBe(PASS);
    expect(run(progAnyIp, udp(0))).toBe(PASS);
  });

  it("passes ARP, ICMP echo and TCP (even to an owned port number)", () => {
    expect(run(progAnyIp, arp())).toBe(PASS);
    expect(run(progAnyIp, icmpEcho())).toBe(PASS);
    expect(run(progAnyIp, withProtocol(udp(9000), 6))).toBe(PASS);
  });

  it("honours IPv4 options: IHL 6..15 to an owned port redirects, a decoy port inside the options does not", () => {
    for (let ihl = 6; ihl <= 15; ihl++) {
      expect(run(progAnyIp, withOptions(udp(9000), ihl, NOT_OWNED)), `IHL ${ihl}`).toBe(REDIRECT);
      expect(run(progAnyIp, withOptions(udp(NOT_OWNED), ihl, 9000)), `IHL ${ihl} decoy`).toBe(PASS);
    }
    // IHL below 5 and a version other than 4 go to the kernel.
    const shortIhl = udp(9000);
    shortIhl[14] = 0x44;
    expect(run(progAnyIp, shortIhl)).toBe(PASS);
    const v6 = udp(9000);
    v6[14] = 0x65;
    expect(run(progAnyIp, v6)).toBe(PASS);
  });

  it("passes fragments (MF set or nonzero offset) and redirects DF-only datagrams", () => {
    expect(run(progAnyIp, withFragment(udp(9000), 0x2000))).toBe(PASS);
    expect(run(progAnyIp, withFragment(udp(9000), 0x0001))).toBe(PASS);
    expect(run(progAnyIp, withFragment(udp(9000), 0x1fff))).toBe(PASS);
    expect(run(progAnyIp, withFragment(udp(9000), 0x4000))).toBe(REDIRECT);
    expect(run(progAnyIp, withFragment(udp(9000), 0x0000))).toBe(REDIRECT);
  });

  it("passes VLAN-tagged frames to the kernel", () => {
    expect(run(progAnyIp, vlanTagged(udp(9000)))).toBe(PASS);
  });

  it("passes every truncation below a full UDP header, with and without options", () => {
    const full = udp(9000, { payload: 0 });
    expect(full.length).toBe(42);
    for (let len = 14; len < 42; len++) expect(run(progAnyIp, full.subarray(0, len)), `length ${len}`).toBe(PASS);
    expect(run(progAnyIp, full)).toBe(REDIRECT);
    const opts = withOptions(udp(9000, { payload: 0 }), 15, 9000);
    for (let len = 14; len < opts.length; len++) expect(run(progAnyIp, opts.subarray(0, len))).toBe(PASS);
    expect(run(progAnyIp, opts)).toBe(REDIRECT);
    // The kernel refuses test frames shorter than an Ethernet header; the interpreter covers them.
    expect(() => run(progAnyIp, full.subarray(0, 13))).toThrow(/BPF_PROG_TEST_RUN.*EINVAL/);
    const prog = generateXdpProgram({ ports: OWNED, xskMapFd: 3 });
    for (let len = 0; len <= 42; len++) {
      expect(runXdp(prog, full.subarray(0, len), interpCtx), `interpreted length ${len}`).toBe(
        len === 42 ? REDIRECT : PASS,
      );
    }
  });

  it("with a dst IP filter, redirects only datagrams to that address", () => {
    expect(run(progOurIp, udp(9000))).toBe(REDIRECT);
    expect(run(progOurIp, udp(9000, { dstIp: 0xc6120102 }))).toBe(PASS);
    expect(run(progOurIp, udp(9000, { dstIp: OUR_IP ^ 0x80000000 }))).toBe(PASS);
    expect(run(progOurIp, udp(NOT_OWNED))).toBe(PASS);
    expect(run(progAnyIp, udp(9000, { dstIp: 0xc6120102 }))).toBe(REDIRECT);
  });

  it("falls back to XDP_PASS when the queue has no socket in the XSKMAP", () => {
    expect(run(progEmptyMap, udp(9000))).toBe(PASS);
  });

  it("with miss counters: redirects on a queue with a socket, drops and counts on a queue without, passes the rest", () => {
    const count = () => readQueueMisses(misses, 0);
    expect(count()).toBe(0);
    expect(run(progMiss, udp(9000))).toBe(REDIRECT);
    expect(count()).toBe(0);
    for (let i = 1; i <= 3; i++) {
      expect(run(progMissEmpty, udp(9001))).toBe(DROP);
      expect(count(), "the read-only mapping shows the program's count").toBe(i);
    }
    for (const frame of [
      udp(NOT_OWNED),
      arp(),
      icmpEcho(),
      withProtocol(udp(9000), 6),
      withFragment(udp(9000), 0x2000),
    ])
      expect(run(progMissEmpty, frame)).toBe(PASS);
    expect(count()).toBe(3);
    for (let q = 1; q < 4; q++) expect(readQueueMisses(misses, q), `queue ${q}`).toBe(0);
    // Drain the counter for the next test: the map is read-only here, so through the syscall.
    addon.bpfMapUpdate(missMap, new Uint8Array(4), new Uint8Array(8));
    expect(count()).toBe(0);
  });

  it("another process that receives the miss map fd maps it read-only and reads the program's count", () => {
    for (let i = 0; i < 5; i++) expect(run(progMissEmpty, udp(9000))).toBe(DROP);
    // The child gets the fd as its fd 3 (spawn dups it without CLOEXEC), as a tile gets a region.
    const child = `
      const m = { exports: {} };
      process.dlopen(m, process.argv[1]);
      const v = new DataView(m.exports.mapFd(3, Number(process.argv[2]), false));
      process.stdout.write(String(v.getUint32(0, true) + v.getUint32(4, true) * 2 ** 32));`;
    const r = spawnSync(process.execPath, ["-e", child, addonPath(), String(queueMissMapBytes(4))], {
      stdio: ["ignore", "pipe", "pipe", missMap],
      encoding: "utf8",
      timeout: 15_000,
    });
    expect(r.stderr).toBe("");
    expect(Number(r.stdout)).toBe(5);
    addon.bpfMapUpdate(missMap, new Uint8Array(4), new Uint8Array(8));
  });

  it("with miss counters under the interpreter: the queue's own counter, nothing past the last entry", () => {
    const prog = generateXdpProgram({ ports: OWNED, xskMapFd: 3, missMapFd: 4 });
    const data = new Uint8Array(4 * QUEUE_MISS_COUNTER_BYTES);
    const counters = new DataView(data.buffer);
    const ctxOn = (rxQueueIndex: number) => ({
      rxQueueIndex,
      ingressIfindex: 1,
      redirectMap: xskMapRedirect(new Set([0, 1])),
      arrayMaps: new Map([[4, { valueBytes: QUEUE_MISS_COUNTER_BYTES, data }]]),
    });
    expect(runXdp(prog, udp(9000), ctxOn(0))).toBe(REDIRECT);
    expect(runXdp(prog, udp(9000), ctxOn(1))).toBe(REDIRECT);
    for (let i = 0; i < 3; i++) expect(runXdp(prog, udp(12345), ctxOn(2))).toBe(DROP);
    expect(runXdp(prog, udp(9001), ctxOn(3))).toBe(DROP);
    expect(runXdp(prog, udp(9001), ctxOn(7))).toBe(DROP); // beyond the map: dropped, not counted
    for (const q of [0, 1, 2, 3]) {
      expect(runXdp(prog, udp(NOT_OWNED), ctxOn(q))).toBe(PASS);
      expect(runXdp(prog, arp(), ctxOn(q))).toBe(PASS);
      expect(runXdp(prog, withProtocol(udp(9000), 6), ctxOn(q))).toBe(PASS);
    }
    expect([0, 1, 2, 3].map((q) => readQueueMisses(counters, q))).toEqual([0, 0, 3, 1]);
  });

  it("with miss counters: kernel and interpreter agree on random and mutated frames", () => {
    const prog = generateXdpProgram({ ports: OWNED, xskMapFd: 3, missMapFd: 4 });
    const data = new Uint8Array(4 * QUEUE_MISS_COUNTER_BYTES);
    // Queue 0 of the kernel's maps: a socket behind progMiss, none behind progMissEmpty.
    const ctxWith = (bound: boolean) => ({
      rxQueueIndex: 0,
      ingressIfindex: 1,
      redirectMap: xskMapRedirect(new Set(bound ? [0] : [])),
      arrayMaps: new Map([[4, { valueBytes: QUEUE_MISS_COUNTER_BYTES, data }]]),
    });
    const bases = [udp(9000), withOptions(udp(9001), 7, 1), icmpEcho(), arp()];
    fc.assert(
      fc.property(
        fc.nat({ max: bases.length - 1 }),
        fc.array(fc.tuple(fc.nat({ max: 70 }), fc.nat({ max: 255 })), { maxLength: 3 }),
        fc.boolean(),
        (which, edits, bound) => {
          const frame = bases[which].slice();
          for (const [at, v] of edits) if (at < frame.length) frame[at] = v;
          const before = readQueueMisses(misses, 0);
          const kernel = run(bound ? progMiss : progMissEmpty, frame);
          expect(runXdp(prog, frame, ctxWith(bound))).toBe(kernel);
          expect(readQueueMisses(misses, 0) - before).toBe(kernel === DROP ? 1 : 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("leaves the packet unchanged", () => {
    const frame = udp(9001, { payload: 100 });
    expect(addon.bpfProgTestRun(progAnyIp, frame, 1).dataOut).toEqual(frame);
  });

  it("matches the specification and the reference interpreter on random and mutated frames", () => {
    const prog = generateXdpProgram({ ports: OWNED, dstIp: OUR_IP, xskMapFd: 3 });
    const bases = [udp(9000), withOptions(udp(9001), 7, 1), icmpEcho(), arp()];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 14, maxLength: 128 }),
          fc
            .tuple(
              fc.nat({ max: bases.length - 1 }),
              fc.array(fc.tuple(fc.nat({ max: 70 }), fc.nat({ max: 255 })), { maxLength: 4 }),
              fc.oneof(fc.constant(0), fc.nat({ max: 80 })),
            )
            .map(([which, edits, cut]) => {
              const u8 = bases[which].slice(0, Math.max(14, bases[which].length - cut));
              for (const [at, v] of edits) if (at < u8.length) u8[at] = v;
              return u8;
            }),
        ),
        (frame) => {
          const kernel = run(progOurIp, frame);
          expect(kernel).toBe(expectedAction(frame, OWNED, OUR_IP));
          expect(runXdp(prog, frame, interpCtx)).toBe(kernel);
        },
      ),
      { numRuns: 600 },
    );
  });

  it("costs tens of nanoseconds per packet in the kernel", () => {
    const r = addon.bpfProgTestRun(progAnyIp, udp(9000), 100_000);
    expect(r.retval).toBe(REDIRECT);
    expect(r.durationNs).toBeGreaterThan(0);
    console.log(`xdp program: ${r.durationNs} ns per run (redirect path, BPF_PROG_TEST_RUN mean of 100k)`);
  });
});

// The XSKMAP type number must match the kernel: creating one with the wrong key size fails.
describeAsRoot("XSKMAP (needs root)", () => {
  it("refuses a value that is not an AF_XDP socket fd", () => {
    const addon = native();
    const map = addon.bpfMapCreate(BPF_MAP_TYPE_XSKMAP, 4, 4, 1, "tn_badval");
    try {
      const key = new Uint8Array(4);
      const value = new Uint8Array(new Uint32Array([map]).buffer); // a map fd, not a socket
      expect(() => addon.bpfMapUpdate(map, key, value)).toThrow(/BPF_MAP_UPDATE_ELEM\(map fd \d+\): ENOTSOCK/);
      expect(() => addon.bpfMapDelete(map, key)).not.toThrow();
    } finally {
      addon.closeFd(map);
    }
  });
});
