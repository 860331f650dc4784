// The `solicit` fuzz target's byte mode: arbitrary byte strings, cut into 16-byte messages, through
// the decoder and the handler in a fixed model world; the mutator's fix-up that makes a block a
// well-formed message, and the seed corpus.
import type { FuzzRng } from "../../../shared/fuzz/rng";
import { NeighState, type RouteRecord, RouteTable, RouteType } from "../../../shared/netmodel";
import { SOLICIT_BYTES, solicitCheck } from "../../../shared/solicit/message";
import {
  ipLiteral as ip,
  SolicitCheckedRun,
  type SolicitEnvironmentModel,
  type SolicitOutcomeTotals,
  type SolicitPlantedFaults,
  type SolicitWorldSpec,
} from "./solicit-world";

/**
 * The byte phase's world: net tiles on ifindex 2 (198.18.0.1/24 with 198.18.0.192/27 blackholed, default
 * gateway .254) and 3 (198.18.1.10/29, plus an on-link 198.18.2.0/24 and 10/8 via a gateway);
 * ifindex 4 (198.19.0.1/24) and lo are not net-tile interfaces. Limits are small so short inputs
 * reach every outcome: 6 entries, burst 3 at 20/s, dedupe 40 ms, per-host 100 ms.
 */
export const SOLICIT_BYTE_WORLD: SolicitWorldSpec = {
  config: {
    netIfindexes: [2, 3],
    capacity: 6,
    dedupeIntervalMs: 40,
    perHostIntervalMs: 100,
    ratePerS: 20,
    burst: 3,
  },
  addrs: [
    { ifindex: 2, address: ip("198.18.0.1"), prefixLen: 24, broadcast: ip("198.18.0.255"), scope: 0 },
    { ifindex: 3, address: ip("198.18.1.10"), prefixLen: 29, broadcast: 0, scope: 0 },
    { ifindex: 4, address: ip("198.19.0.1"), prefixLen: 24, broadcast: ip("198.19.0.255"), scope: 0 },
    { ifindex: 1, address: ip("127.0.0.1"), prefixLen: 8, broadcast: 0, scope: 254 },
  ],
  extraRoutes: [
    route(RouteType.unicast, "0.0.0.0", 0, 2, "198.18.0.254"),
    route(RouteType.unicast, "10.0.0.0", 8, 3, "198.18.1.9"),
    route(RouteType.unicast, "198.18.2.0", 24, 3),
    route(RouteType.blackhole, "198.18.0.192", 27, 0),
  ],
  neighs: [
    { ifindex: 2, ip: ip("198.18.0.254"), state: NeighState.reachable, withMac: true },
    { ifindex: 2, ip: ip("198.18.0.7"), state: NeighState.stale, withMac: true },
    { ifindex: 2, ip: ip("198.18.0.8"), state: NeighState.incomplete, withMac: false },
    { ifindex: 3, ip: ip("198.18.1.9"), state: NeighState.failed, withMac: false },
    { ifindex: 3, ip: ip("198.18.2.1"), state: NeighState.permanent, withMac: true },
  ],
  hashSeed: 0x5eed,
  failingLastByte: 66,
};
/** Clock step between two messages of a byte input. */
export const SOLICIT_BYTE_STEP_MS = 5;

function route(type: number, dst: string, dstLen: number, oif: number, gateway?: string): RouteRecord {
  return {
    table: RouteTable.main,
    type,
    dst: ip(dst),
    dstLen,
    gateway: gateway ? ip(gateway) : 0,
    oif,
    prefsrc: 0,
    priority: 0,
    scope: 0,
    protocol: 4,
    tos: 0,
  };
}

const BYTE_DICTIONARY_IPS = [
  "198.18.0.5",
  "198.18.0.6",
  "198.18.0.66",
  "198.18.0.254",
  "198.18.0.7",
  "198.18.0.8",
  "198.18.0.1",
  "198.18.0.255",
  "198.18.0.200",
  "198.18.1.9",
  "198.18.1.12",
  "198.18.1.15",
  "198.18.2.77",
  "198.18.2.1",
  "198.19.0.5",
  "10.1.2.3",
  "8.8.8.8",
  "0.0.0.0",
  "0.1.2.3",
  "127.0.0.1",
  "224.0.0.251",
  "240.0.0.1",
  "255.255.255.255",
].map(ip);
const BYTE_DICTIONARY_IFINDEXES = [2, 2, 2, 3, 3, 4, 1, 0, 99, 0xffffffff];

/** Runs one byte input through a fresh handler; throws SolicitCheckError on a violation. */
export function runSolicitBytes(
  bytes: Uint8Array,
  faults: SolicitPlantedFaults = {},
  totals?: SolicitOutcomeTotals,
  env?: SolicitEnvironmentModel,
): SolicitCheckedRun {
  const run = new SolicitCheckedRun(SOLICIT_BYTE_WORLD, faults, totals, env);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off < bytes.length; off += SOLICIT_BYTES) {
    if (off > 0) run.advance(SOLICIT_BYTE_STEP_MS);
    run.message(view, off);
  }
  run.finish();
  return run;
}

/** Rewrites one 16-byte block as a well-formed message, mostly to addresses the world knows. */
export function fixupSolicitBytes(bytes: Uint8Array, rng: FuzzRng): void {
  const blocks = Math.floor(bytes.length / SOLICIT_BYTES);
  if (blocks === 0) return;
  const off = rng.below(blocks) * SOLICIT_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let addr = view.getUint32(off, true);
  if (!rng.oneIn(4)) addr = rng.pick(BYTE_DICTIONARY_IPS);
  if (rng.oneIn(3)) addr = ((addr & 0xffffff00) | rng.below(256)) >>> 0;
  let ifindex = view.getUint32(off + 4, true);
  if (!rng.oneIn(4)) ifindex = rng.pick(BYTE_DICTIONARY_IFINDEXES);
  const reserved = rng.oneIn(16) ? rng.u32() : 0;
  view.setUint32(off, addr, true);
  view.setUint32(off + 4, ifindex, true);
  view.setUint32(off + 8, reserved, true);
  view.setUint32(off + 12, solicitCheck(addr, ifindex, reserved), true);
}

/** Builds a byte input from messages; `raw` entries are copied as they are. */
export function solicitBytes(...parts: Array<[string, number] | { raw: Uint8Array }>): Uint8Array {
  const chunks = parts.map((p) => {
    if ("raw" in p) return p.raw;
    const b = new Uint8Array(SOLICIT_BYTES);
    const v = new DataView(b.buffer);
    const addr = ip(p[0]);
    v.setUint32(0, addr, true);
    v.setUint32(4, p[1], true);
    v.setUint32(12, solicitCheck(addr, p[1], 0), true);
    return b;
  });
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The seed corpus: name = "<outcome of the last message>.<what it is>". test/fuzz/corpus/solicit
 * holds these as files; the corpus test checks every file still ends in its named outcome.
 */
export function solicitCorpusCases(): Array<{ name: string; bytes: Uint8Array }> {
  const filler = { raw: new Uint8Array(SOLICIT_BYTES) }; // all zero: bad_check, no state change
  const flipped = solicitBytes(["198.18.0.5", 2]);
  flipped[1] ^= 0x10;
  const reserved = new Uint8Array(SOLICIT_BYTES);
  const rv = new DataView(reserved.buffer);
  rv.setUint32(0, ip("198.18.0.5"), true);
  rv.setUint32(4, 2, true);
  rv.setUint32(8, 1, true);
  rv.setUint32(12, solicitCheck(ip("198.18.0.5"), 2, 1), true);
  const a: [string, number] = ["198.18.0.5", 2];
  const fillers = (n: number) => Array.from({ length: n }, () => filler);
  return [
    { name: "none.empty", bytes: new Uint8Array(0) },
    { name: "probe_sent.valid-onlink", bytes: solicitBytes(a) },
    { name: "probe_sent.incomplete-neighbor", bytes: solicitBytes(["198.18.0.8", 2]) },
    { name: "probe_sent.failed-neighbor", bytes: solicitBytes(["198.18.1.9", 3]) },
    { name: "probe_sent.onlink-route-without-address", bytes: solicitBytes(["198.18.2.77", 3]) },
    { name: "probe_sent.after-dedupe-and-per-host-expiry", bytes: solicitBytes(a, ...fillers(20), a) },
    { name: "probe_error.probe-fails", bytes: solicitBytes(["198.18.0.66", 2]) },
    { name: "already_known.gateway-reachable", bytes: solicitBytes(["198.18.0.254", 2]) },
    { name: "already_known.stale", bytes: solicitBytes(["198.18.0.7", 2]) },
    { name: "already_known.permanent", bytes: solicitBytes(["198.18.2.1", 3]) },
    { name: "deduplicated.same-twice", bytes: solicitBytes(a, a) },
    {
      name: "rate_limited_global.burst-exhausted",
      bytes: solicitBytes(a, ["198.18.0.6", 2], ["198.18.0.9", 2], ["198.18.0.10", 2]),
    },
    {
      name: "pending_full_drop.table-full",
      bytes: solicitBytes(
        a,
        ["198.18.0.6", 2],
        ["198.18.0.9", 2],
        ["198.18.0.10", 2],
        ["198.18.0.11", 2],
        ["198.18.0.12", 2],
        ["198.18.0.13", 2],
      ),
    },
    { name: "rate_limited_host.reprobe-within-per-host", bytes: solicitBytes(a, ...fillers(8), a) },
    { name: "rejected_truncated.15-bytes", bytes: solicitBytes(a).subarray(0, 15) },
    { name: "rejected_truncated.one-and-a-half", bytes: solicitBytes(a, a).subarray(0, 24) },
    { name: "rejected_bad_check.all-zero", bytes: new Uint8Array(SOLICIT_BYTES) },
    { name: "rejected_bad_check.all-ones", bytes: new Uint8Array(SOLICIT_BYTES).fill(0xff) },
    { name: "rejected_bad_check.flipped-bit", bytes: flipped },
    { name: "rejected_reserved_nonzero.reserved-set", bytes: reserved },
    { name: "rejected_unknown_ifindex.not-net-tile", bytes: solicitBytes(["198.19.0.5", 4]) },
    { name: "rejected_unknown_ifindex.zero", bytes: solicitBytes(["198.18.0.5", 0]) },
    { name: "rejected_unknown_ifindex.max", bytes: solicitBytes(["198.18.0.5", 0xffffffff]) },
    { name: "rejected_zero_address.zero", bytes: solicitBytes(["0.0.0.0", 2]) },
    { name: "rejected_this_network.0-8", bytes: solicitBytes(["0.1.2.3", 2]) },
    { name: "rejected_loopback.127-0-0-1", bytes: solicitBytes(["127.0.0.1", 2]) },
    { name: "rejected_multicast.mdns", bytes: solicitBytes(["224.0.0.251", 2]) },
    { name: "rejected_limited_broadcast.all-ones-address", bytes: solicitBytes(["255.255.255.255", 2]) },
    { name: "rejected_reserved_address.class-e", bytes: solicitBytes(["240.0.0.1", 2]) },
    { name: "rejected_local_address.own-address", bytes: solicitBytes(["198.18.0.1", 2]) },
    { name: "rejected_local_address.other-interface-address", bytes: solicitBytes(["198.19.0.1", 2]) },
    { name: "rejected_subnet_broadcast.brd", bytes: solicitBytes(["198.18.0.255", 2]) },
    { name: "rejected_subnet_broadcast.computed", bytes: solicitBytes(["198.18.1.15", 3]) },
    { name: "rejected_not_on_link.via-gateway", bytes: solicitBytes(["8.8.8.8", 2]) },
    { name: "rejected_not_on_link.blackhole", bytes: solicitBytes(["198.18.0.200", 2]) },
    { name: "rejected_not_on_link.wrong-interface", bytes: solicitBytes(["198.18.0.5", 3]) },
  ];
}
