import { describe, expect, it } from "vitest";
import { type AddrRecord, NeighState, parseIp, type RouteRecord, RouteTable, RouteType } from "../shared/netmodel";
import { encodeSolicit, SOLICIT_BYTES, solicitCheck } from "../shared/solicit/message";
import { routesForAddress, SnapshotSolicitEnv } from "../tiles/netlink/fuzz/snapshot-env";
import { solicitHandlerDefaults } from "../tiles/netlink/solicit-config";
import {
  SOLICIT_METRIC_NAMES,
  type SolicitConfig,
  SolicitHandler,
  SolicitOutcome,
  type SolicitOutcomeName,
  solicitConfig,
  solicitCounterName,
} from "../tiles/netlink/solicit-handler";

function ip(text: string): number {
  const v = parseIp(text);
  if (v === undefined) throw new Error(text);
  return v;
}

// Net tiles serve ifindex 2 (198.18.0.1/24, brd .255, 198.18.0.192/27 blackholed, default gateway
// .254) and 3 (198.18.1.1/24); ifindex 4 (198.19.0.1/24) is not a net-tile interface.
const ADDRS: AddrRecord[] = [
  { ifindex: 2, address: ip("198.18.0.1"), prefixLen: 24, broadcast: ip("198.18.0.255"), scope: 0 },
  { ifindex: 3, address: ip("198.18.1.1"), prefixLen: 24, broadcast: 0, scope: 0 },
  { ifindex: 4, address: ip("198.19.0.1"), prefixLen: 24, broadcast: 0, scope: 0 },
];

function mainRoute(type: number, dst: string, dstLen: number, oif: number, gateway = 0): RouteRecord {
  return {
    table: RouteTable.main,
    type,
    dst: ip(dst),
    dstLen,
    gateway,
    oif,
    prefsrc: 0,
    priority: 0,
    scope: 0,
    protocol: 4,
    tos: 0,
  };
}

function makeEnv(extraAddrs: AddrRecord[] = []): SnapshotSolicitEnv {
  const addrs = [...ADDRS, ...extraAddrs];
  return new SnapshotSolicitEnv({
    addrs,
    routes: [
      ...addrs.flatMap(routesForAddress),
      mainRoute(RouteType.unicast, "0.0.0.0", 0, 2, ip("198.18.0.254")),
      mainRoute(RouteType.blackhole, "198.18.0.192", 27, 0),
    ],
    neighs: [{ ifindex: 2, ip: ip("198.18.0.254"), mac: Uint8Array.of(2, 0, 0, 0, 0, 1), state: 2, flags: 0 }],
  });
}

interface Fixture {
  handler: SolicitHandler;
  env: SnapshotSolicitEnv;
  probes: Array<[string, number]>;
  /** Sends a well-formed message for (address, ifindex) at time t; returns the outcome's name. */
  send(address: string | number, ifindex: number, t: number): SolicitOutcomeName;
  setProbeResult(rc: number): void;
}

function fixture(config: Partial<SolicitConfig> = {}, env = makeEnv(), faults = {}): Fixture {
  const probes: Array<[string, number]> = [];
  let rc = 0;
  const handler = new SolicitHandler({
    config: solicitConfig({ netIfindexes: [2, 3], ...config }),
    env,
    probe: (addr, ifindex) => {
      probes.push([`${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`, ifindex]);
      return rc;
    },
    hashSeed: 1,
    plantedFaults: faults,
  });
  const slot = new DataView(new ArrayBuffer(SOLICIT_BYTES));
  return {
    handler,
    env,
    probes,
    send(address, ifindex, t) {
      encodeSolicit(slot, 0, typeof address === "number" ? address : ip(address), ifindex);
      const outcome = handler.handle(slot, 0, t);
      expect(handler.checkInvariants(t)).toBeNull();
      return nameOf(outcome);
    },
    setProbeResult(value) {
      rc = value;
    },
  };
}

function nameOf(outcome: number): SolicitOutcomeName {
  const entry = Object.entries(SolicitOutcome).find(([, v]) => v === outcome);
  if (!entry) throw new Error(`unknown outcome ${outcome}`);
  return entry[0] as SolicitOutcomeName;
}

function raw(words: [number, number, number, number, number, number, number, number]): DataView {
  const view = new DataView(new ArrayBuffer(SOLICIT_BYTES));
  words.forEach((w, i) => {
    view.setUint32(i * 4, w >>> 0, true);
  });
  return view;
}

describe("solicit handler: validation", () => {
  it("rejects each invalid solicit with its own counter, never probing and never throwing", () => {
    const f = fixture();
    const good = ip("198.18.0.5");
    const decodeCases: Array<[SolicitOutcomeName, () => SolicitOutcomeName]> = [
      ["rejected_truncated", () => nameOf(f.handler.handle(new DataView(new ArrayBuffer(31)), 0, 0))],
      ["rejected_misaligned", () => nameOf(f.handler.handle(new Int32Array(16), 2, 0))],
      ["rejected_bad_check", () => nameOf(f.handler.handle(raw([0x204, 2, good, 0, 0, 0, 0, 0]), 0, 0))],
      [
        "rejected_reserved_nonzero",
        () =>
          nameOf(f.handler.handle(raw([0x204, 2, good, 0, 0, 0, 1, solicitCheck(0x204, 2, good, 0, 0, 0, 1)]), 0, 0)),
      ],
      [
        "rejected_bad_version",
        () =>
          nameOf(f.handler.handle(raw([0x104, 2, good, 0, 0, 0, 0, solicitCheck(0x104, 2, good, 0, 0, 0, 0)]), 0, 0)),
      ],
      [
        "rejected_bad_family",
        () =>
          nameOf(f.handler.handle(raw([0x207, 2, good, 0, 0, 0, 0, solicitCheck(0x207, 2, good, 0, 0, 0, 0)]), 0, 0)),
      ],
      [
        "rejected_padding_nonzero",
        () =>
          nameOf(f.handler.handle(raw([0x204, 2, good, 1, 0, 0, 0, solicitCheck(0x204, 2, good, 1, 0, 0, 0)]), 0, 0)),
      ],
    ];
    for (const [expected, run] of decodeCases) expect(run()).toBe(expected);
    const cases: Array<[SolicitOutcomeName, string, number]> = [
      ["rejected_unknown_ifindex", "198.19.0.5", 4], // an interface no net tile serves
      ["rejected_unknown_ifindex", "198.18.0.5", 0],
      ["rejected_unknown_ifindex", "198.18.0.5", 0xffffffff],
      ["rejected_zero_address", "0.0.0.0", 2],
      ["rejected_this_network", "0.200.0.1", 2],
      ["rejected_loopback", "127.0.0.53", 2],
      ["rejected_multicast", "239.255.255.250", 2],
      ["rejected_limited_broadcast", "255.255.255.255", 2],
      ["rejected_reserved_address", "250.1.2.3", 2],
      ["rejected_local_address", "198.18.0.1", 2],
      ["rejected_local_address", "198.19.0.1", 2], // an address of another interface of this host
      ["rejected_subnet_broadcast", "198.18.0.255", 2],
      ["rejected_subnet_broadcast", "198.18.1.255", 3], // computed from the prefix (no IFA_BROADCAST)
      ["rejected_not_on_link", "8.8.8.8", 2], // reached through the gateway
      ["rejected_not_on_link", "198.18.0.200", 2], // blackhole route
      ["rejected_not_on_link", "198.18.0.5", 3], // on-link, but through the other interface
      ["rejected_not_on_link", "198.18.2.1", 3],
    ];
    for (const [expected, address, ifindex] of cases) {
      expect(f.send(address, ifindex, 0), `${address} on ${ifindex}`).toBe(expected);
    }
    expect(f.probes).toEqual([]);
    const m = f.handler.metrics();
    const total = decodeCases.length + cases.length;
    expect(m.received).toBe(total);
    for (const name of new Set([...decodeCases.map((c) => c[0]), ...cases.map((c) => c[0])])) {
      const expected = [...decodeCases, ...cases].filter((c) => c[0] === name).length;
      expect(m[solicitCounterName(SolicitOutcome[name])], name).toBe(expected);
    }
    expect(m.pending + m.tracked + m.probes_sent).toBe(0);
  });

  it("probes an on-link address once it passes every check, gateways included", () => {
    const f = fixture();
    expect(f.send("198.18.0.5", 2, 0)).toBe("probe_sent");
    expect(f.send("198.18.1.77", 3, 0)).toBe("probe_sent");
    // A gateway is itself on-link; this one is unknown to the kernel until resolved.
    const env = makeEnv();
    env.applyNeighbor({ ifindex: 2, ip: ip("198.18.0.254"), mac: null, state: 0x20, flags: 0 }, true);
    const g = fixture({}, env);
    expect(g.send("198.18.0.254", 2, 0)).toBe("probe_sent");
    expect([...f.probes, ...g.probes]).toEqual([
      ["198.18.0.5", 2],
      ["198.18.1.77", 3],
      ["198.18.0.254", 2],
    ]);
  });

  it("skips neighbors the kernel can already use, and probes unresolved ones", () => {
    const usable = [NeighState.reachable, NeighState.stale, NeighState.delay, NeighState.probe, NeighState.permanent];
    const unusable = [NeighState.incomplete, NeighState.failed];
    const f = fixture();
    usable.forEach((state, i) => {
      const addr = ip("198.18.0.10") + i;
      f.env.applyNeighbor({ ifindex: 2, ip: addr, mac: Uint8Array.of(2, 0, 0, 0, 0, i), state, flags: 0 }, false);
      expect(f.send(addr, 2, 0), `state ${state}`).toBe("already_known");
    });
    unusable.forEach((state, i) => {
      const addr = ip("198.18.0.20") + i;
      f.env.applyNeighbor({ ifindex: 2, ip: addr, mac: null, state, flags: 0 }, false);
      expect(f.send(addr, 2, 0), `state ${state}`).toBe("probe_sent");
    });
    expect(f.handler.metrics().already_known).toBe(usable.length);
  });
});

describe("solicit handler: deduplication and expiry", () => {
  it("handles the same (ifindex, ip) at most once per dedupe interval", () => {
    const f = fixture({ dedupeIntervalMs: 1000, perHostIntervalMs: 1000 });
    expect(f.send("198.18.0.5", 2, 0)).toBe("probe_sent");
    expect(f.send("198.18.0.5", 2, 1)).toBe("deduplicated");
    expect(f.send("198.18.0.5", 2, 999)).toBe("deduplicated");
    expect(f.send("198.18.0.6", 2, 999)).toBe("probe_sent"); // another host is not held back
    expect(f.send("198.18.0.5", 2, 1000)).toBe("probe_sent");
    expect(f.probes.map((p) => p[0])).toEqual(["198.18.0.5", "198.18.0.6", "198.18.0.5"]);
    expect(f.handler.metrics().deduplicated).toBe(2);
  });

  it("expires entries the rate limiter refused, so the address can be solicited again (no PR 11211 leak)", () => {
    // One token, refilled every 2 s; dedupe and per-host intervals of 1 s.
    const f = fixture({ burst: 1, ratePerS: 0.5 });
    expect(f.send("198.18.0.5", 2, 0)).toBe("probe_sent");
    expect(f.send("198.18.0.6", 2, 0)).toBe("rate_limited_global");
    expect(f.send("198.18.0.6", 2, 500)).toBe("deduplicated");
    expect(f.handler.pending).toBe(2);
    f.handler.tick(1000);
    expect(f.handler.metrics()).toMatchObject({ pending: 0, tracked: 0 });
    expect(f.send("198.18.0.6", 2, 1000)).toBe("rate_limited_global"); // bucket holds 0.5 token
    expect(f.send("198.18.0.6", 2, 2000)).toBe("probe_sent"); // expired again, and a token is back
    expect(f.probes.map((p) => p[0])).toEqual(["198.18.0.5", "198.18.0.6"]);
  });

  it("shows the leak when the PR 11211 fault is planted (the previous test can fail)", () => {
    const f = fixture({ burst: 1, ratePerS: 0.5 }, makeEnv(), { leakRefusedEntries: true });
    const slot = new DataView(new ArrayBuffer(SOLICIT_BYTES));
    encodeSolicit(slot, 0, ip("198.18.0.5"), 2);
    f.handler.handle(slot, 0, 0);
    encodeSolicit(slot, 0, ip("198.18.0.6"), 2);
    expect(nameOf(f.handler.handle(slot, 0, 0))).toBe("rate_limited_global");
    expect(f.handler.checkInvariants(0)).toBe("heap holds 1 entries, table 2"); // one entry never expires
    f.handler.tick(1_000_000);
    expect(f.handler.pending).toBe(1);
    expect(nameOf(f.handler.handle(slot, 0, 1_000_000))).toBe("deduplicated"); // never solicited again
  });

  it("lets a kernel neighbor event with a usable state clear the pending entry", () => {
    const f = fixture({ dedupeIntervalMs: 5000, perHostIntervalMs: 100 });
    expect(f.send("198.18.0.5", 2, 0)).toBe("probe_sent");
    expect(f.send("198.18.0.6", 2, 0)).toBe("probe_sent");
    for (const state of [NeighState.incomplete, NeighState.failed])
      f.handler.onNeighborEvent(2, ip("198.18.0.5"), state);
    f.handler.onNeighborEvent(2, ip("198.18.0.5"), NeighState.reachable, true); // a deletion resolves nothing
    f.handler.onNeighborEvent(3, ip("198.18.0.5"), NeighState.reachable); // another interface's entry
    expect(f.handler.pending).toBe(2);
    f.handler.onNeighborEvent(2, ip("198.18.0.5"), NeighState.reachable);
    expect(f.handler.pending).toBe(1);
    expect(f.handler.checkInvariants(0)).toBeNull();
    // The neighbor then fails: it can be solicited again before the 5 s dedupe interval, once the
    // per-host suppression (100 ms) is over.
    expect(f.send("198.18.0.5", 2, 50)).toBe("rate_limited_host");
    expect(f.send("198.18.0.5", 2, 60)).toBe("deduplicated");
    f.handler.onNeighborEvent(2, ip("198.18.0.5"), NeighState.stale);
    expect(f.send("198.18.0.5", 2, 150)).toBe("probe_sent");
    f.handler.tick(150 + 5000);
    expect(f.handler.metrics()).toMatchObject({ pending: 0, tracked: 0 });
  });
});

describe("solicit handler: rate limits", () => {
  it("keeps probes within the global token bucket (burst, then rate), never above burst", () => {
    const f = fixture({ burst: 3, ratePerS: 10 });
    const hosts = (from: number, n: number) => Array.from({ length: n }, (_, i) => ip("198.18.0.10") + from + i);
    const outcomes = hosts(0, 10).map((h) => f.send(h, 2, 0));
    expect(outcomes.filter((o) => o === "probe_sent")).toHaveLength(3);
    expect(outcomes.filter((o) => o === "rate_limited_global")).toHaveLength(7);
    expect(f.send(hosts(10, 1)[0], 2, 99)).toBe("rate_limited_global"); // 0.99 token
    expect(f.send(hosts(11, 1)[0], 2, 100)).toBe("probe_sent"); // 1 token after 100 ms at 10/s
    // A long idle period refills to burst, not beyond.
    const later = hosts(20, 10).map((h) => f.send(h, 2, 1_000_000));
    expect(later.filter((o) => o === "probe_sent")).toHaveLength(3);
    expect(f.handler.metrics().rate_limited_global).toBe(7 + 1 + 7);
  });

  it("suppresses a host for the per-host interval even when the dedupe interval is shorter", () => {
    const f = fixture({ dedupeIntervalMs: 100, perHostIntervalMs: 1000 });
    expect(f.send("198.18.0.5", 2, 0)).toBe("probe_sent");
    expect(f.send("198.18.0.5", 2, 150)).toBe("rate_limited_host");
    expect(f.send("198.18.0.5", 2, 200)).toBe("deduplicated");
    expect(f.send("198.18.0.5", 2, 250)).toBe("rate_limited_host");
    expect(f.send("198.18.0.5", 2, 999)).toBe("rate_limited_host"); // dedupe expired at 350
    expect(f.send("198.18.0.5", 2, 1000)).toBe("deduplicated"); // handled at 999: at most once per 100 ms
    expect(f.send("198.18.0.5", 2, 1099)).toBe("probe_sent");
    expect(f.probes).toHaveLength(2);
    // Suppression is per (ifindex, ip): the same address on the other interface is its own host.
    const g = fixture({ dedupeIntervalMs: 100, perHostIntervalMs: 1000 }, makeEnv());
    expect(g.send("198.18.1.5", 3, 0)).toBe("probe_sent");
    expect(g.send("198.18.0.5", 2, 0)).toBe("probe_sent");
  });

  it("counts probe errors, keeps the entry pending, and stays whole when the probe throws", () => {
    const f = fixture();
    f.setProbeResult(-105); // ENOBUFS
    expect(f.send("198.18.0.5", 2, 0)).toBe("probe_error");
    expect(f.send("198.18.0.5", 2, 10)).toBe("deduplicated");
    const thrower = new SolicitHandler({
      config: solicitConfig({ netIfindexes: [2] }),
      env: makeEnv(),
      probe: () => {
        throw new Error("probe bug");
      },
    });
    const slot = new DataView(new ArrayBuffer(SOLICIT_BYTES));
    encodeSolicit(slot, 0, ip("198.18.0.5"), 2);
    expect(() => thrower.handle(slot, 0, 0)).toThrow("probe bug");
    expect(thrower.metrics()).toMatchObject({ received: 1, probe_errors: 1 });
    expect(thrower.checkInvariants(0)).toBeNull();
  });
});

describe("solicit handler: bounded table", () => {
  it("stays bounded under a flood of distinct on-link addresses and recovers after expiry", () => {
    const env = makeEnv([{ ifindex: 3, address: ip("198.18.128.1"), prefixLen: 17, broadcast: 0, scope: 0 }]);
    const f = fixture({ capacity: 64, ratePerS: 1e6, burst: 1e6 }, env);
    const slot = new DataView(new ArrayBuffer(SOLICIT_BYTES));
    let full = 0;
    let maxTracked = 0;
    for (let i = 0; i < 20_000; i++) {
      encodeSolicit(slot, 0, ip("198.18.128.2") + i, 3);
      if (f.handler.handle(slot, 0, i * 0.01) === SolicitOutcome.pending_full_drop) full++;
      maxTracked = Math.max(maxTracked, f.handler.tracked);
    }
    expect(maxTracked).toBe(64);
    expect(full).toBe(20_000 - 64);
    expect(f.handler.metrics()).toMatchObject({ probes_sent: 64, pending_full_drops: 20_000 - 64, tracked: 64 });
    expect(f.handler.checkInvariants(200)).toBeNull();
    // Due entries are expired before a solicit is dropped for lack of room.
    expect(f.send("198.18.200.1", 3, 1000)).toBe("probe_sent");
    f.handler.tick(2000);
    expect(f.handler.metrics()).toMatchObject({ pending: 0, tracked: 0 });
  });

  it("keeps the default 4096-entry table consistent under heavy churn", () => {
    const env = makeEnv([{ ifindex: 3, address: ip("198.18.128.1"), prefixLen: 17, broadcast: 0, scope: 0 }]);
    const f = fixture({ ratePerS: 5000, burst: 50, dedupeIntervalMs: 400, perHostIntervalMs: 700 }, env);
    expect(f.handler.config.capacity).toBe(solicitHandlerDefaults().capacity);
    const slot = new DataView(new ArrayBuffer(SOLICIT_BYTES));
    let seed = 12345;
    let t = 0;
    let maxTracked = 0;
    for (let i = 0; i < 60_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      t += (seed >>> 28) * 0.01;
      encodeSolicit(slot, 0, ip("198.18.128.2") + ((seed >>> 8) % 8000), 3);
      f.handler.handle(slot, 0, t);
      if ((seed & 7) === 0)
        f.handler.onNeighborEvent(3, ip("198.18.128.2") + ((seed >>> 3) % 8000), NeighState.reachable);
      maxTracked = Math.max(maxTracked, f.handler.tracked);
      if (i % 5000 === 0) expect(f.handler.checkInvariants(t)).toBeNull();
    }
    expect(maxTracked).toBe(4096); // the table did fill up and churn at capacity
    expect(f.handler.metrics().pending_full_drops).toBeGreaterThan(0);
    expect(f.handler.checkInvariants(t)).toBeNull();
    f.handler.tick(t + 700);
    expect(f.handler.metrics()).toMatchObject({ pending: 0, tracked: 0 });
  });
});

describe("solicit handler: clock, metrics and config", () => {
  it("holds its clock when time goes backwards or is not a number, and counts it", () => {
    const f = fixture({ dedupeIntervalMs: 100 });
    expect(f.send("198.18.0.5", 2, 1000)).toBe("probe_sent");
    f.handler.tick(Number.NaN);
    f.handler.tick(5);
    expect(f.send("198.18.0.5", 2, 1050)).toBe("deduplicated");
    expect(f.send("198.18.0.5", 2, 0)).toBe("deduplicated"); // handled at the held time 1050
    expect(f.handler.metrics().clock_regressions).toBe(3);
  });

  it("exposes stable snake_case metrics whose outcomes add up to received", () => {
    const f = fixture();
    f.send("198.18.0.5", 2, 0);
    f.send("198.18.0.5", 2, 0);
    f.send("127.0.0.1", 2, 0);
    const m = f.handler.metrics();
    expect(Object.keys(m)).toEqual([...SOLICIT_METRIC_NAMES]);
    for (const name of SOLICIT_METRIC_NAMES) expect(name).toMatch(/^[a-z][a-z0-9_]*$/);
    const values = new Float64Array(SOLICIT_METRIC_NAMES.length);
    f.handler.readMetrics(values);
    expect([...values]).toEqual(Object.values(m));
    const outcomes = Object.entries(m)
      .filter(([k]) => !["received", "pending", "tracked", "clock_regressions"].includes(k))
      .reduce((n, [, v]) => n + v, 0);
    expect(m).toMatchObject({ received: 3, probes_sent: 1, deduplicated: 1, rejected_loopback: 1, pending: 1 });
    expect(outcomes).toBe(m.received);
  });

  it("fills defaults and names the offending key (the config file's) in config errors", () => {
    expect(solicitConfig({ netIfindexes: [2] })).toEqual({ ...solicitHandlerDefaults(), netIfindexes: [2] });
    expect(solicitConfig({ netIfindexes: [2], ratePerS: 3, burst: 128, perHostIntervalMs: 15000 })).toMatchObject({
      ratePerS: 3,
      burst: 128,
      perHostIntervalMs: 15000,
      capacity: 4096,
    });
    const bad: Array<[Partial<SolicitConfig>, RegExp]> = [
      [{ ratePerS: 0 }, /^solicit\.rate_per_s must be a number from 0\.001 to 1000000$/],
      [{ ratePerS: -1 }, /^solicit\.rate_per_s must be a number from/],
      [{ ratePerS: "fast" as unknown as number }, /^solicit\.rate_per_s must be a number/],
      [{ burst: 0.5 }, /^solicit\.burst must be a number from 1 to/],
      [{ capacity: 0 }, /^solicit\.pending_capacity must be an integer from 1 to/],
      [{ capacity: 10.5 }, /^solicit\.pending_capacity must be an integer/],
      [{ dedupeIntervalMs: -5 }, /^solicit\.dedupe_interval_ms must be an integer from 1 to/],
      [{ perHostIntervalMs: 0 }, /^solicit\.per_host_interval_ms must be an integer from 1 to/],
      [{ perHostIntervalMs: Number.POSITIVE_INFINITY }, /^solicit\.per_host_interval_ms must be an integer/],
    ];
    for (const [over, message] of bad) expect(() => solicitConfig({ netIfindexes: [2], ...over })).toThrow(message);
    expect(() => solicitConfig({ netIfindexes: [0] })).toThrow(/^solicit\.net_ifindexes must hold interface indexes/);
    expect(() => solicitConfig({ netIfindexes: [2], ratePerS: Number.NaN })).toThrow(/solicit\.rate_per_s/);
  });
});
