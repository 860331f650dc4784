// The solicit handler's IPv6 path: the same classes as IPv4 (unspecified, loopback, multicast,
// v4-mapped, link-local without an interface, this host's addresses, on-link through a route of
// that interface), dedupe and limits keyed by (family, address, ifindex), IPv6 neighbor events.
// The netbase side is a fake Netbase6Lookups behind the production adapter (Netbase6SolicitEnv).
import { describe, expect, it } from "vitest";
import { isIp6LinkLocal, parseIp6 } from "../shared/ip6";
import type { NeighborResult } from "../shared/netbase/lookup-results";
import type { Netbase6Lookups, Route6Result } from "../shared/netbase/v6";
import { NeighState, RouteType } from "../shared/netmodel";
import { encodeSolicit, encodeSolicit6, SOLICIT_BYTES } from "../shared/solicit/message";
import { lookupRoute6Records, Snapshot6SolicitEnv } from "../tiles/netlink/fuzz/snapshot-env";
import { records6, type SolicitWorld6Spec } from "../tiles/netlink/fuzz/solicit-world";
import { asNetbase6Lookups, Netbase6SolicitEnv } from "../tiles/netlink/solicit-env6";
import {
  SolicitHandler,
  SolicitOutcome,
  type SolicitOutcomeName,
  solicitConfig,
  solicitCounterName,
} from "../tiles/netlink/solicit-handler";

function w(text: string): Uint32Array {
  const v = parseIp6(text);
  if (v === undefined) throw new Error(text);
  return v;
}

// Net tiles serve ifindex 2 (2001:2:0:1::1/64, fe80::1/64, default via fe80::fe) and 3
// (2001:2:0:3::1/64, no link-local); ifindex 4 (2001:2:0:4::1/64) is not a net tile's.
const WORLD: SolicitWorld6Spec = {
  addrs: [
    { ifindex: 2, address: "2001:2:0:1::1", prefixLen: 64 },
    { ifindex: 2, address: "fe80::1", prefixLen: 64 },
    { ifindex: 3, address: "2001:2:0:3::1", prefixLen: 64 },
    { ifindex: 4, address: "2001:2:0:4::1", prefixLen: 64 },
  ],
  routes: [
    { type: RouteType.unicast, dst: "::", dstLen: 0, oif: 2, gateway: "fe80::fe" },
    { type: RouteType.blackhole, dst: "2001:2:0:1:8000::", dstLen: 65, oif: 0 },
  ],
  neighs: [
    { ifindex: 2, ip: "fe80::fe", state: NeighState.reachable, withMac: true },
    { ifindex: 2, ip: "2001:2:0:1::8", state: NeighState.incomplete, withMac: false },
  ],
};

/** What NetbaseReader will answer, from records (the fake behind the production adapter). */
class FakeNetbase6 implements Netbase6Lookups {
  private readonly r = records6(WORLD);
  readonly neighs = new Snapshot6SolicitEnv(this.r);
  lookupRoute6(a0: number, a1: number, a2: number, a3: number, out: Route6Result): boolean {
    const a = Uint32Array.of(a0, a1, a2, a3);
    const route = lookupRoute6Records(this.r.routes6, a);
    if (!route) return false;
    out.rawMeta = route.type | (route.table << 16);
    out.ifindex = route.oif;
    out.gateway.set(route.gateway);
    out.nexthop.set(route.gateway.some((x) => x !== 0) ? route.gateway : a);
    return true;
  }
  lookupNeighbor6(ifindex: number, a0: number, a1: number, a2: number, a3: number, out: NeighborResult): boolean {
    const state = this.neighs.neighborState6(ifindex, a0, a1, a2, a3);
    out.state = state;
    out.hasMac = state !== 0;
    return state !== 0;
  }
  isLocalAddress6(a0: number, a1: number, a2: number, a3: number): boolean {
    return this.neighs.isLocalAddress6(a0, a1, a2, a3);
  }
  linkLocalAddress6(ifindex: number, out: Uint32Array): boolean {
    const a = this.r.addrs6.find((x) => x.ifindex === ifindex && isIp6LinkLocal(x.address[0]));
    if (a) out.set(a.address);
    return a !== undefined;
  }
}

function fixture(config = {}) {
  const probes: string[] = [];
  const fake = new FakeNetbase6();
  const lookups = asNetbase6Lookups(fake);
  if (!lookups) throw new Error("the fake does not narrow to Netbase6Lookups");
  const handler = new SolicitHandler({
    config: solicitConfig({ netIfindexes: [2, 3], ...config }),
    env: { isLocalAddress: () => false, isSubnetBroadcast: () => false, onLink: () => true, neighborState: () => 0 },
    probe: (ip, ifindex) => {
      probes.push(`v4 ${ip >>> 0} ${ifindex}`);
      return 0;
    },
    env6: new Netbase6SolicitEnv(lookups),
    probe6: (ifindex, a0, a1, a2, a3) => {
      probes.push(`${[a0, a1, a2, a3].map((x) => x.toString(16)).join(".")} ${ifindex}`);
      return 0;
    },
    hashSeed: 3,
  });
  const slot = new DataView(new ArrayBuffer(SOLICIT_BYTES));
  const name = (o: number) => Object.entries(SolicitOutcome).find(([, v]) => v === o)?.[0] as SolicitOutcomeName;
  return {
    handler,
    probes,
    send(text: string, ifindex: number, t: number): SolicitOutcomeName {
      const a = w(text);
      encodeSolicit6(slot, 0, ifindex, a[0], a[1], a[2], a[3]);
      const o = handler.handle(slot, 0, t);
      expect(handler.checkInvariants(t)).toBeNull();
      return name(o);
    },
    send4(ip: number, ifindex: number, t: number): SolicitOutcomeName {
      encodeSolicit(slot, 0, ip, ifindex);
      return name(handler.handle(slot, 0, t));
    },
  };
}

describe("solicit handler: IPv6 validation", () => {
  it("rejects each invalid IPv6 solicit with its own counter, never probing", () => {
    const f = fixture();
    const cases: Array<[SolicitOutcomeName, string, number]> = [
      ["rejected_unspecified6", "::", 2],
      ["rejected_loopback6", "::1", 2],
      ["rejected_multicast6", "ff02::1", 2],
      ["rejected_multicast6", "ff02::1:ff00:5", 2],
      ["rejected_v4_mapped6", "::ffff:198.18.0.5", 2],
      ["rejected_link_local_no_interface6", "fe80::5", 0],
      ["rejected_unknown_ifindex", "2001:2:0:4::5", 4],
      ["rejected_unknown_ifindex", "2001:2:0:1::5", 0],
      ["rejected_local_address6", "2001:2:0:1::1", 2],
      ["rejected_local_address6", "fe80::1", 2],
      ["rejected_local_address6", "2001:2:0:4::1", 2], // another interface's address
      ["rejected_not_on_link6", "2001:db8::1", 2], // through the default gateway
      ["rejected_not_on_link6", "2001:2:0:1:8000::9", 2], // blackhole
      ["rejected_not_on_link6", "2001:2:0:1::5", 3], // on-link, through the other interface
      ["rejected_not_on_link6", "fe80::5", 3], // link-local on an interface without one of its own
      ["already_known", "fe80::fe", 2],
    ];
    for (const [expected, text, ifindex] of cases)
      expect(f.send(text, ifindex, 0), `${text} on ${ifindex}`).toBe(expected);
    expect(f.probes).toEqual([]);
    const m = f.handler.metrics();
    expect(m.received).toBe(cases.length);
    for (const name of new Set(cases.map((c) => c[0]))) {
      const n = cases.filter((c) => c[0] === name).length;
      expect(m[solicitCounterName(SolicitOutcome[name])], name).toBe(n);
    }
  });

  it("probes on-link global and link-local neighbors with the interface", () => {
    const f = fixture();
    expect(f.send("2001:2:0:1::5", 2, 0)).toBe("probe_sent");
    expect(f.send("2001:2:0:3::ffff:8000:1", 3, 0)).toBe("probe_sent");
    expect(f.send("fe80::5", 2, 0)).toBe("probe_sent");
    expect(f.send("2001:2:0:1::8", 2, 0)).toBe("probe_sent"); // INCOMPLETE: no MAC yet
    expect(f.probes).toEqual([
      "20010002.1.0.5 2",
      "20010002.3.ffff.80000001 3",
      "fe800000.0.0.5 2",
      "20010002.1.0.8 2",
    ]);
  });

  it("without IPv6 state (a netbase without IPv6) refuses IPv6 as not on-link", () => {
    const handler = new SolicitHandler({
      config: solicitConfig({ netIfindexes: [2] }),
      env: { isLocalAddress: () => false, isSubnetBroadcast: () => false, onLink: () => true, neighborState: () => 0 },
      probe: () => 0,
    });
    const slot = new DataView(new ArrayBuffer(SOLICIT_BYTES));
    encodeSolicit6(slot, 0, 2, 0x20010002, 1, 0, 5);
    expect(handler.handle(slot, 0, 0)).toBe(SolicitOutcome.rejected_not_on_link6);
    expect(asNetbase6Lookups({ lookupRoute6: () => false })).toBeUndefined();
  });
});

describe("solicit handler: IPv6 dedupe, limits and neighbor events", () => {
  it("deduplicates per (family, address, ifindex): v4 and v6 with the same low word are different hosts", () => {
    const f = fixture();
    expect(f.send("2001:2:0:1::5", 2, 0)).toBe("probe_sent");
    expect(f.send("2001:2:0:1::5", 2, 10)).toBe("deduplicated");
    // IPv4 198.18.0.5 keys as words [0xc6120005, 0, 0, 0]; so would IPv6 c612:5:: (family differs).
    expect(f.send4(0xc6120005, 2, 10)).toBe("probe_sent");
    expect(f.send("2001:2:0:1::c612:5", 2, 10)).toBe("probe_sent");
    expect(f.send4(0xc6120005, 2, 20)).toBe("deduplicated");
    expect(f.handler.tracked).toBe(3);
  });

  it("suppresses re-probes per host and shares the global bucket with IPv4", () => {
    const f = fixture({ burst: 2, ratePerS: 1, dedupeIntervalMs: 100, perHostIntervalMs: 1000 });
    expect(f.send("2001:2:0:1::5", 2, 0)).toBe("probe_sent");
    expect(f.send("2001:2:0:1::5", 2, 200)).toBe("rate_limited_host");
    expect(f.send4(0xc6120007, 2, 200)).toBe("probe_sent");
    expect(f.send("2001:2:0:1::6", 2, 200)).toBe("rate_limited_global");
    expect(f.send("2001:2:0:1::5", 2, 1200)).toBe("probe_sent");
  });

  it("ends the wait on a usable IPv6 neighbor event, not on a deletion or an IPv4 event", () => {
    const f = fixture();
    const a = w("2001:2:0:1::5");
    expect(f.send("2001:2:0:1::5", 2, 0)).toBe("probe_sent");
    f.handler.onNeighbor6Event(2, a[0], a[1], a[2], a[3], NeighState.reachable, true);
    f.handler.onNeighborEvent(2, a[3], NeighState.reachable);
    f.handler.onNeighbor6Event(3, a[0], a[1], a[2], a[3], NeighState.reachable);
    expect(f.handler.pending).toBe(1);
    f.handler.onNeighbor6Event(2, a[0], a[1], a[2], a[3], NeighState.stale);
    expect(f.handler.pending).toBe(0);
    expect(f.handler.tracked).toBe(1); // per-host suppression stays
    expect(f.send("2001:2:0:1::5", 2, 10)).toBe("rate_limited_host");
    expect(f.handler.checkInvariants(10)).toBeNull();
    f.handler.tick(5000);
    expect(f.handler.tracked).toBe(0);
  });

  it("fails IPv6 probes as probe_error (EAFNOSUPPORT) when the tile has no IPv6 probe socket", () => {
    const fake = new FakeNetbase6();
    const handler = new SolicitHandler({
      config: solicitConfig({ netIfindexes: [2] }),
      env: { isLocalAddress: () => false, isSubnetBroadcast: () => false, onLink: () => true, neighborState: () => 0 },
      probe: () => 0,
      env6: new Netbase6SolicitEnv(fake),
    });
    const slot = new DataView(new ArrayBuffer(SOLICIT_BYTES));
    encodeSolicit6(slot, 0, 2, 0x20010002, 1, 0, 5);
    expect(handler.handle(slot, 0, 0)).toBe(SolicitOutcome.probe_error);
  });
});
