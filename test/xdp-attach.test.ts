// Launcher-side XDP set-up on a veth in a fresh namespace: mode selection, failure clean-up and
// argument validation.
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  attachXdpInterface,
  bindXskQueue,
  setUpXdp,
  setUpXdpInterface,
  tearDownXdp,
  tearDownXdpInterface,
  tearDownXdpQueue,
  type XdpSetupOptions,
} from "../shared/xdp/attach";
import { xskGeometryOf } from "../shared/xdp/geometry";
import { describeAsRoot } from "./support/root";
import {
  destroyVethPair,
  makeVethPair,
  openFdCount,
  smallXdpOptions,
  type VethPair,
  xdpAttachment,
} from "./support/xdp-netns";

describeAsRoot("XDP set-up and tear-down (needs root)", () => {
  let pair: VethPair | undefined;
  const base = (): XdpSetupOptions => smallXdpOptions(pair, "auto");

  beforeAll(async () => {
    pair = await makeVethPair("xa", 4);
  });
  afterAll(() => destroyVethPair(pair));

  it("auto mode attaches natively on veth, and closing the link detaches", () => {
    const p = pair as VethPair;
    const h = setUpXdp(base());
    try {
      expect(h.mode).toBe("drv");
      expect(h.zeroCopy).toBe(false);
      expect(xdpAttachment(p.nsA, p.ifA)).toMatch(/prog\/xdp id \d+/);
      expect(xdpAttachment(p.nsA, p.ifA)).not.toMatch(/xdpgeneric/);
    } finally {
      tearDownXdp(h);
    }
    expect(xdpAttachment(p.nsA, p.ifA)).toBe("");
  });

  it("refuses zero-copy on veth (EOPNOTSUPP, named ENOTSUP: same number on Linux) and leaves no attachment or open fd behind", () => {
    const p = pair as VethPair;
    const before = openFdCount();
    expect(() => setUpXdp({ ...base(), zeroCopy: true })).toThrow(
      /bind\(AF_XDP, ifindex \d+, queue 0, zero-copy\): ENOTSUP /,
    );
    expect(openFdCount()).toBe(before);
    expect(xdpAttachment(p.nsA, p.ifA)).toBe("");
  });

  it("names a missing interface and validates geometry and ports before touching the kernel", () => {
    const before = openFdCount();
    expect(() => setUpXdp({ ...base(), ifname: "nope0" })).toThrow(/no interface 'nope0' in \/run\/netns\/tn-/);
    expect(() => setUpXdp({ ...base(), frameSize: 3000 })).toThrow(/frameSize 3000 must be a power of two/);
    expect(() => setUpXdp({ ...base(), rxDepth: 100 })).toThrow(/rxDepth 100/);
    expect(() => setUpXdp({ ...base(), ports: [] })).toThrow(/0 ports/);
    expect(() => setUpXdp({ ...base(), ports: Array.from({ length: 17 }, (_, i) => 1000 + i) })).toThrow(/17 ports/);
    expect(() => setUpXdp({ ...base(), ports: [53, 53] })).toThrow(/duplicate ports/);
    expect(() => setUpXdp({ ...base(), ports: [70000] })).toThrow(/bad UDP port 70000/);
    expect(openFdCount()).toBe(before);
  });

  it("a second attachment on the same interface fails while the first stays", () => {
    const p = pair as VethPair;
    const h = setUpXdp({ ...base(), mode: "skb" });
    try {
      const t0 = Date.now();
      // The queue is held by the first socket: bind keeps failing with EBUSY through the retry window.
      expect(() => setUpXdp({ ...base(), mode: "skb" })).toThrow(/EBUSY/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
      expect(xdpAttachment(p.nsA, p.ifA)).toMatch(/xdpgeneric/);
    } finally {
      tearDownXdp(h);
    }
    expect(xdpAttachment(p.nsA, p.ifA)).toBe("");
  });

  it("per interface and per queue: a refused bind closes its socket and UMEM, the interface stays, nothing attaches before attachXdpInterface", () => {
    const p = pair as VethPair;
    const o = base();
    const before = openFdCount();
    expect(() => setUpXdpInterface({ ...o, queueCount: 0 })).toThrow(/queueCount 0 must be in 1\.\.1024/);
    expect(() => setUpXdpInterface({ ...o, ifname: "nope0", queueCount: 1 })).toThrow(
      /setUpXdpInterface: no interface 'nope0'/,
    );
    expect(openFdCount()).toBe(before);
    const iface = setUpXdpInterface({ ...o, queueCount: 1 });
    try {
      const withIface = openFdCount();
      expect(() => bindXskQueue(iface, { queueId: 0, ...xskGeometryOf(o), zeroCopy: true })).toThrow(/zero-copy/);
      expect(() => bindXskQueue(iface, { queueId: 1, ...xskGeometryOf(o) })).toThrow(/queueId 1 out of range/);
      expect(openFdCount()).toBe(withIface);
      const q = bindXskQueue(iface, { queueId: 0, ...xskGeometryOf(o) });
      expect(xdpAttachment(p.nsA, p.ifA)).toBe("");
      expect(attachXdpInterface(iface).mode).toBe("drv");
      expect(() => attachXdpInterface(iface)).toThrow(/already attached/);
      expect(xdpAttachment(p.nsA, p.ifA)).toMatch(/prog\/xdp id \d+/);
      tearDownXdpQueue(q);
    } finally {
      tearDownXdpInterface(iface);
    }
    expect(xdpAttachment(p.nsA, p.ifA)).toBe("");
    expect(openFdCount()).toBe(before);
  });
});
