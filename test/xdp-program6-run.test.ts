// The generated XDP program on IPv6 frames, run by the kernel (BPF_PROG_TEST_RUN, a real XSKMAP
// with a bound socket at queue 0) and by the reference interpreter: UDP to an owned port is
// redirected; ICMPv6 (NDP), extension headers (hop-by-hop, routing, destination options, fragment
// headers: none followed), other versions and truncations pass; the optional dstIp6 filter; the
// miss counters; fuzzed IPv4 and IPv6 frames decided alike by the kernel, the interpreter and the
// specification written here.
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parseIp6 } from "../shared/ip6";
import { native } from "../shared/native";
import { buildUdpFrame, newUdpFrameFields, UDP_PAYLOAD_OFFSET } from "../shared/packet/udp-frame";
import { buildUdp6Frame, newUdp6FrameFields, UDP6_PAYLOAD_OFFSET } from "../shared/packet/udp6-frame";
import { BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_XSKMAP, XdpAction } from "../shared/xdp/abi";
import { setUpXdp, tearDownXdp, type XdpHandles } from "../shared/xdp/attach";
import { runXdp, xskMapRedirect } from "../shared/xdp/bpf-interp";
import { generateXdpProgram } from "../shared/xdp/program";
import { QUEUE_MISS_COUNTER_BYTES, queueMissMapBytes, readQueueMisses } from "../shared/xdp/queue-misses";
import { describeAsRoot } from "./support/root";
import { destroyVethPair, makeVethPair, type VethPair } from "./support/xdp-netns";

const OWNED = [9000, 53, 12345];
const NOT_OWNED = 9002;
const OUR6 = parseIp6("2001:2::1") as Uint32Array;
const OUR_IP = 0xc6120101;
const { pass: PASS, redirect: REDIRECT, drop: DROP } = XdpAction;

function udp6(dstPort: number, dst: Uint32Array = OUR6, payload = 16): Uint8Array {
  const u8 = new Uint8Array(UDP6_PAYLOAD_OFFSET + payload);
  const f = newUdp6FrameFields();
  f.src.set(parseIp6("2001:2::2") as Uint32Array);
  f.dst.set(dst);
  f.srcPort = 5555;
  f.dstPort = dstPort;
  buildUdp6Frame(u8, 0, f, payload);
  return u8;
}

function udp4(dstPort: number): Uint8Array {
  const u8 = new Uint8Array(UDP_PAYLOAD_OFFSET + 16);
  const f = newUdpFrameFields();
  f.srcIp = 0xc6120102;
  f.dstIp = OUR_IP;
  f.srcPort = 5555;
  f.dstPort = dstPort;
  buildUdpFrame(u8, 0, f, 16);
  return u8;
}

/** An extension header of type `next` (8 bytes, its own next header UDP) in front of the UDP
 *  header; the UDP dst port then sits 8 bytes later, and `decoy` where it would have been. */
function withExtension(next: number, decoy: number): Uint8Array {
  const base = udp6(9000);
  const u8 = new Uint8Array(base.length + 8);
  u8.set(base.subarray(0, 54));
  u8.set([17, 0, 0, 0, 0, 0, 0, 0], 54);
  u8[56] = decoy >> 8; // where the UDP dst port is without the extension header
  u8[57] = decoy & 255;
  u8.set(base.subarray(54), 62);
  u8[20] = next;
  const plen = ((base[18] << 8) | base[19]) + 8;
  u8[18] = plen >> 8;
  u8[19] = plen & 255;
  return u8;
}

/** Neighbor Solicitation for 2001:2::1 (ICMPv6 type 135, hop limit 255). */
function ndpSolicit(): Uint8Array {
  const u8 = udp6(9000, parseIp6("ff02::1:ff00:1") as Uint32Array, 24);
  u8[20] = 58;
  u8[21] = 255;
  u8[54] = 135;
  u8[55] = 0;
  u8[56] = 0x23; // the bytes where a UDP dst port would be: 9000 (0x2328)
  u8[57] = 0x28;
  return u8;
}

/** The specification, independent of the generator. */
function expectedAction(f: Uint8Array, ports: number[], dst6?: Uint32Array): number {
  if (f.length < 14) return PASS;
  const type = (f[12] << 8) | f[13];
  if (type === 0x0800) {
    if (f.length < 34) return PASS;
    const ihl = (f[14] & 0x0f) * 4;
    if (f[14] >> 4 !== 4 || ihl < 20) return PASS;
    if (((f[20] << 8) | f[21]) & 0x3fff || f[23] !== 17) return PASS;
    const u = 14 + ihl;
    if (u + 8 > f.length) return PASS;
    return ports.includes((f[u + 2] << 8) | f[u + 3]) ? REDIRECT : PASS;
  }
  if (type !== 0x86dd || f.length < 62 || f[14] >> 4 !== 6 || f[20] !== 17) return PASS;
  if (dst6) {
    for (let i = 0; i < 4; i++) {
      const w = ((f[38 + 4 * i] << 24) | (f[39 + 4 * i] << 16) | (f[40 + 4 * i] << 8) | f[41 + 4 * i]) >>> 0;
      if (w !== dst6[i]) return PASS;
    }
  }
  return ports.includes((f[56] << 8) | f[57]) ? REDIRECT : PASS;
}

const interpCtx = {
  rxQueueIndex: 0,
  ingressIfindex: 1,
  redirectMap: (_fd: number, key: number, flags: number) => (key === 0 ? REDIRECT : flags & 3),
};

describeAsRoot("generated XDP program on IPv6 frames under BPF_PROG_TEST_RUN (needs root)", () => {
  let pair: VethPair | undefined;
  let xdp: XdpHandles | undefined;
  const fds: number[] = [];
  let progAny = -1;
  let progOur6 = -1;
  let progMissEmpty = -1;
  let missMap = -1;
  let misses: DataView;
  const addon = native();
  const run = (prog: number, frame: Uint8Array) => addon.bpfProgTestRun(prog, frame, 1).retval;

  beforeAll(async () => {
    pair = await makeVethPair("x6", 1);
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
    progAny = xdp.progFd;
    const load = (bytes: Uint8Array, name: string) => {
      const fd = addon.bpfProgLoadXdp(bytes, name, "GPL");
      fds.push(fd);
      return fd;
    };
    progOur6 = load(generateXdpProgram({ ports: OWNED, dstIp6: OUR6, xskMapFd: xdp.xskMapFd }), "tn_xdp6_ip");
    const emptyMap = addon.bpfMapCreate(BPF_MAP_TYPE_XSKMAP, 4, 4, 1, "tn_empty6");
    missMap = addon.bpfMapCreate(BPF_MAP_TYPE_ARRAY, 4, QUEUE_MISS_COUNTER_BYTES, 4, "tn_miss6", BPF_F_MMAPABLE);
    fds.push(emptyMap, missMap);
    misses = new DataView(addon.mapFd(missMap, queueMissMapBytes(4), false));
    progMissEmpty = load(generateXdpProgram({ ports: OWNED, xskMapFd: emptyMap, missMapFd: missMap }), "tn_xdp6_me");
  });

  afterAll(() => {
    for (const fd of fds.reverse()) if (fd >= 0) addon.closeFd(fd);
    try {
      if (xdp) tearDownXdp(xdp);
    } finally {
      destroyVethPair(pair);
    }
  });

  it("redirects IPv6 UDP to each owned port, passes other ports, and still redirects IPv4", () => {
    for (const port of OWNED) expect(run(progAny, udp6(port)), `port ${port}`).toBe(REDIRECT);
    expect(run(progAny, udp6(NOT_OWNED))).toBe(PASS);
    expect(run(progAny, udp4(9000))).toBe(REDIRECT);
    expect(run(progAny, udp4(NOT_OWNED))).toBe(PASS);
  });

  it("passes ICMPv6 (NDP), every extension header (fragments included) and other versions", () => {
    expect(run(progAny, ndpSolicit())).toBe(PASS);
    for (const next of [0, 43, 44, 60, 59, 6, 58]) {
      expect(run(progAny, withExtension(next, NOT_OWNED)), `next header ${next}`).toBe(PASS);
      expect(run(progAny, withExtension(next, 9000)), `next header ${next}, decoy`).toBe(PASS);
    }
    const v4in6 = udp6(9000);
    v4in6[14] = 0x40;
    expect(run(progAny, v4in6)).toBe(PASS);
  });

  it("passes every truncation below a full IPv6 + UDP header (kernel and interpreter)", () => {
    const full = udp6(9000, OUR6, 0);
    expect(full.length).toBe(62);
    const prog = generateXdpProgram({ ports: OWNED, xskMapFd: 3 });
    for (let len = 14; len < 62; len++) expect(run(progAny, full.subarray(0, len)), `length ${len}`).toBe(PASS);
    for (let len = 0; len < 62; len++) expect(runXdp(prog, full.subarray(0, len), interpCtx)).toBe(PASS);
    expect(run(progAny, full)).toBe(REDIRECT);
    expect(runXdp(prog, full, interpCtx)).toBe(REDIRECT);
  });

  it("with a dstIp6 filter, redirects only datagrams to that address (each word compared)", () => {
    expect(run(progOur6, udp6(9000))).toBe(REDIRECT);
    for (let i = 0; i < 4; i++) {
      const other = OUR6.slice();
      other[i] ^= 0x80000000;
      expect(run(progOur6, udp6(9000, other)), `word ${i}`).toBe(PASS);
    }
    expect(run(progOur6, udp4(9000)), "IPv4 is not filtered by dstIp6").toBe(REDIRECT);
  });

  it("counts an IPv6 miss on a queue without a socket, and drops it", () => {
    const before = readQueueMisses(misses, 0);
    expect(run(progMissEmpty, udp6(53))).toBe(DROP);
    expect(run(progMissEmpty, ndpSolicit())).toBe(PASS);
    expect(readQueueMisses(misses, 0) - before).toBe(1);
  });

  it("matches the specification and the interpreter on random and mutated IPv4 and IPv6 frames", () => {
    const prog = generateXdpProgram({ ports: OWNED, dstIp6: OUR6, xskMapFd: 3, missMapFd: 4 });
    const data = new Uint8Array(4 * QUEUE_MISS_COUNTER_BYTES);
    const ctx = {
      rxQueueIndex: 0,
      ingressIfindex: 1,
      redirectMap: xskMapRedirect(new Set([0])),
      arrayMaps: new Map([[4, { valueBytes: QUEUE_MISS_COUNTER_BYTES, data }]]),
    };
    const bases = [udp6(9000), udp6(53, OUR6, 3), withExtension(0, 9000), ndpSolicit(), udp4(12345)];
    fc.assert(
      fc.property(
        fc.nat({ max: bases.length - 1 }),
        fc.array(fc.tuple(fc.nat({ max: 80 }), fc.nat({ max: 255 })), { maxLength: 4 }),
        fc.oneof(fc.constant(0), fc.nat({ max: 70 })),
        (which, edits, cut) => {
          const frame = bases[which].slice(0, Math.max(14, bases[which].length - cut));
          for (const [at, v] of edits) if (at < frame.length) frame[at] = v;
          const kernel = run(progOur6, frame);
          expect(kernel).toBe(expectedAction(frame, OWNED, OUR6));
          expect(runXdp(prog, frame, ctx)).toBe(kernel);
        },
      ),
      { numRuns: 800 },
    );
  });

  it("costs about as much on the IPv6 redirect path as on the IPv4 one", () => {
    const r6 = addon.bpfProgTestRun(progAny, udp6(9000), 100_000);
    const r4 = addon.bpfProgTestRun(progAny, udp4(9000), 100_000);
    expect(r6.retval).toBe(REDIRECT);
    console.log(
      `xdp program: IPv6 ${r6.durationNs} ns, IPv4 ${r4.durationNs} ns per run (redirect path, mean of 100k)`,
    );
  });
});
