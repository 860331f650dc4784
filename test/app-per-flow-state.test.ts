// The README's per-flow state example (test/fixtures/apps/rate-limited-echo.js) does what the
// README says: a budget per client, a bounded client table, idle clients swept by its timer.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AppApi, UdpPacket } from "../tiles/app/api";

const FIXTURE = "./fixtures/apps/rate-limited-echo.js";

interface RateLimitedEcho {
  init(app: AppApi): void;
  onPacket(pkt: UdpPacket, app: AppApi): void;
  clientCount(): number;
}

function packet(srcIp: number, srcPort: number): UdpPacket {
  const data = new Uint8Array([1, 2, 3]);
  return { srcIp, srcPort, dstIp: 0xc6120001, dstPort: 7000, data, offset: 0, length: 3, payload: data };
}

describe("per-flow state example", () => {
  let app: RateLimitedEcho;
  let replies = 0;
  const api = {
    reply: () => {
      replies++;
      return true;
    },
  } as unknown as AppApi;
  beforeEach(async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    vi.resetModules();
    app = (await import(FIXTURE)) as RateLimitedEcho;
    replies = 0;
    app.init(api);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers 10 datagrams a second per client, each client on its own budget", () => {
    for (let i = 0; i < 25; i++) app.onPacket(packet(0xc6120002, 5000), api);
    expect(replies).toBe(10);
    for (let i = 0; i < 5; i++) app.onPacket(packet(0xc6120002, 5001), api);
    expect(replies).toBe(15);
    vi.advanceTimersByTime(500);
    for (let i = 0; i < 25; i++) app.onPacket(packet(0xc6120002, 5000), api);
    expect(replies).toBe(20);
  });

  it("keeps at most 10,000 clients and forgets idle ones on its timer", () => {
    for (let port = 0; port < 12_000; port++) app.onPacket(packet(0xc6120003, port), api);
    expect(app.clientCount()).toBe(10_000);
    vi.advanceTimersByTime(12_000);
    expect(app.clientCount()).toBe(0);
  });
});
