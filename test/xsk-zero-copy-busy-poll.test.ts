// AF_XDP zero-copy and busy-polling options at set-up, on a veth in a fresh namespace: what the
// kernel's veth driver does with XDP_ZEROCOPY, the "auto" fallback to copy with its reason, and
// the busy-polling socket options read back from the kernel.
import { afterAll, beforeAll, expect, it } from "vitest";
import { setUpXdp, tearDownXdp, type XdpSetupOptions, ZeroCopyRefusedError } from "../shared/xdp/attach";
import { describeAsRoot } from "./support/root";
import {
  destroyVethPair,
  makeVethPair,
  openFdCount,
  smallXdpOptions,
  type VethPair,
  xdpAttachment,
} from "./support/xdp-netns";

describeAsRoot("AF_XDP zero-copy and busy polling at set-up (needs root)", () => {
  let pair: VethPair | undefined;
  const base = (): XdpSetupOptions => smallXdpOptions(pair, "drv");

  beforeAll(async () => {
    pair = await makeVethPair("xz", 2);
  });
  afterAll(() => destroyVethPair(pair));

  it("zero-copy true on veth in drv mode is refused with the kernel's errno, as a ZeroCopyRefusedError, leaving nothing behind", () => {
    const p = pair as VethPair;
    const before = openFdCount();
    let caught: unknown;
    try {
      setUpXdp({ ...base(), zeroCopy: true });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ZeroCopyRefusedError);
    expect((caught as Error).message).toMatch(
      /^zero-copy refused: bind\(AF_XDP, ifindex \d+, queue 0, zero-copy\): ENOTSUP /,
    );
    expect(openFdCount()).toBe(before);
    expect(xdpAttachment(p.nsA, p.ifA)).toBe("");
  });

  it("zero-copy auto on veth in drv mode falls back to copy and records the kernel's refusal; need-wakeup stays", () => {
    const h = setUpXdp({ ...base(), zeroCopy: "auto" });
    try {
      expect(h.mode).toBe("drv");
      expect(h.zeroCopy).toBe(false);
      expect(h.zeroCopyFallback).toMatch(/bind\(AF_XDP, ifindex \d+, queue 0, zero-copy\): ENOTSUP /);
      expect(h.needWakeup).toBe(true);
    } finally {
      tearDownXdp(h);
    }
  });

  it("zero-copy auto in skb mode does not try: copy, with generic mode as the reason", () => {
    const h = setUpXdp({ ...base(), mode: "skb", zeroCopy: "auto" });
    try {
      expect(h.zeroCopy).toBe(false);
      expect(h.zeroCopyFallback).toBe("generic (skb) mode: no zero-copy");
    } finally {
      tearDownXdp(h);
    }
  });

  it("sets SO_PREFER_BUSY_POLL, SO_BUSY_POLL and SO_BUSY_POLL_BUDGET and reports what the kernel read back", () => {
    const h = setUpXdp({ ...base(), zeroCopy: "auto", busyPoll: { prefer: true, usecs: 20, budget: 64 } });
    try {
      expect(h.busyPoll).toEqual({ prefer: true, usecs: 20, budget: 64 });
    } finally {
      tearDownXdp(h);
    }
  });

  it("without busy-poll options the socket keeps the kernel's defaults (off)", () => {
    const h = setUpXdp(base());
    try {
      expect(h.busyPoll).toEqual({ prefer: false, usecs: 0, budget: 0 });
      expect(h.zeroCopyFallback).toBeUndefined();
    } finally {
      tearDownXdp(h);
    }
  });

  it("validates the busy-poll ranges before touching the kernel", () => {
    const before = openFdCount();
    expect(() => setUpXdp({ ...base(), busyPoll: { prefer: true, usecs: 0, budget: 70000 } })).toThrow(
      /busy-poll budget 70000 out of range/,
    );
    expect(() => setUpXdp({ ...base(), busyPoll: { prefer: true, usecs: -1, budget: 8 } })).toThrow(
      /busy-poll usecs -1 out of range/,
    );
    expect(openFdCount()).toBe(before);
  });
});
