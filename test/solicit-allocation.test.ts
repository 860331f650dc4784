// The handler's hot path must not allocate per message. Measured with V8's sampling heap profiler
// (counting objects young-generation GC already collected), after warm-up so the code is optimized.
import { Session } from "node:inspector";
import { describe, expect, it } from "vitest";
import { encodeSolicit } from "../shared/solicit/message";
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

describe("solicit handler hot path", () => {
  it("allocates nothing per message (addresses above 128.0.0.0 included)", async () => {
    const handler = new SolicitHandler({
      config: solicitConfig({ netIfindexes: [2], ratePerS: 1e6, burst: 1e6, capacity: 4096 }),
      env: new FlatEnv(),
      probe: () => 0,
      hashSeed: 7,
    });
    const ring = new Int32Array(4 * 1024);
    for (let i = 0; i < 1024; i++) encodeSolicit(ring, i * 16, 0xc6120002 + ((i * 37) % 60000), i % 50 === 0 ? 9 : 2);
    const run = (messages: number, base: number): void => {
      for (let i = 0; i < messages; i++) handler.handle(ring, (i & 1023) * 16, base + (i >> 9));
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
