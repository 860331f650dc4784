// The handler's hot path must not allocate per message. Measured with V8's sampling heap profiler
// (counting objects young-generation GC already collected), after warm-up so the code is optimized.
import { Session } from "node:inspector";
import { describe, expect, it } from "vitest";
import { encodeSolicit, encodeSolicit6, SOLICIT_BYTES } from "../shared/solicit/message";
import { SolicitHandler, solicitConfig } from "../tiles/netlink/solicit-handler";

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

function totalBytes(node: SamplingNode): number {
  return node.children.reduce((n, c) => n + totalBytes(c), node.selfSize);
}

// A netbase-like environment: monomorphic methods over plain numbers (addresses as int32 bits).
class FlatEnv {
  isLocalAddress(ip: number): boolean {
    return ip === (0xc6120001 | 0);
  }
  isSubnetBroadcast(_ifindex: number, ip: number): boolean {
    return (ip & 0xffff) === 0xffff;
  }
  onLink(ifindex: number, ip: number): boolean {
    return ifindex === 2 && ip >>> 16 === 0xc612;
  }
  neighborState(_ifindex: number, ip: number): number {
    return (ip & 0xff) === 7 ? 2 : 0;
  }
}

// Its IPv6 twin: 2001:2::/64 on ifindex 2, ::1 local, hosts ending in 7 known.
class FlatEnv6 {
  isLocalAddress6(_a0: number, _a1: number, _a2: number, a3: number): boolean {
    return a3 === 1;
  }
  onLink6(ifindex: number, a0: number, a1: number): boolean {
    return ifindex === 2 && a0 === 0x20010002 && a1 === 0;
  }
  neighborState6(_ifindex: number, _a0: number, _a1: number, _a2: number, a3: number): number {
    return (a3 & 0xff) === 7 ? 2 : 0;
  }
}

describe("solicit handler hot path", () => {
  it("allocates nothing per message of either family (words above 2^31 included)", async () => {
    const handler = new SolicitHandler({
      config: solicitConfig({ netIfindexes: [2], ratePerS: 1e6, burst: 1e6, capacity: 4096 }),
      env: new FlatEnv(),
      probe: () => 0,
      env6: new FlatEnv6(),
      probe6: () => 0,
      hashSeed: 7,
    });
    const ring = new Int32Array((SOLICIT_BYTES / 4) * 1024);
    for (let i = 0; i < 1024; i++) {
      const ifindex = i % 50 === 0 ? 9 : 2;
      const host = 0xc6120002 + ((i * 37) % 60000);
      if (i & 1) encodeSolicit6(ring, i * SOLICIT_BYTES, ifindex, 0x20010002, 0, 0x80000000, host);
      else encodeSolicit(ring, i * SOLICIT_BYTES, host, ifindex);
    }
    const run = (messages: number, base: number): void => {
      for (let i = 0; i < messages; i++) handler.handle(ring, (i & 1023) * SOLICIT_BYTES, base + (i >> 9));
    };
    run(2_000_000, 0); // warm-up: optimize the path
    const session = new Session();
    session.connect();
    await post(session, "HeapProfiler.startSampling", {
      samplingInterval: 512,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    const messages = 1_000_000;
    run(messages, 10_000);
    const { profile } = await post<{ profile: { head: SamplingNode } }>(session, "HeapProfiler.stopSampling");
    session.disconnect();
    const m = handler.metrics();
    expect(m.probes_sent + m.deduplicated + m.rejected_unknown_ifindex + m.already_known).toBe(m.received);
    expect(m.probes_sent).toBeGreaterThan(1000);
    // One boxed number per message would be 16 MB; allow stray runtime allocations only.
    expect(totalBytes(profile.head) / messages).toBeLessThan(0.5);
  });
});
