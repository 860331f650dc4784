// The `solicit` fuzz target's byte mode: arbitrary byte strings, cut into 32-byte messages, through
// the decoder and the handler in a fixed model world; the mutator's fix-up that makes a block a
// well-formed message, and the seed corpus.
import type { FuzzRng } from "../../../shared/fuzz/rng";
import { NeighState, type RouteRecord, RouteTable, RouteType } from "../../../shared/netmodel";
import { SOLICIT_BYTES, solicitCheck } from "../../../shared/solicit/message";
import {
  ipLiteral as ip,
  ip6Literal as ip6,
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
 * IPv6: ifindex 2 has 2001:2:0:1::1/64 and fe80::1/64 (default via fe80::fe, 2001:2:0:1:8000::/65
 * blackholed); ifindex 3 has 2001:2:0:3::1/64 and no link-local address; ifindex 4 (not a net
 * tile's) has 2001:2:0:4::1/64 and fe80::4/64.
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
  v6: {
    addrs: [
      { ifindex: 2, address: "2001:2:0:1::1", prefixLen: 64 },
      { ifindex: 2, address: "fe80::1", prefixLen: 64 },
      { ifindex: 3, address: "2001:2:0:3::1", prefixLen: 64 },
      { ifindex: 4, address: "2001:2:0:4::1", prefixLen: 64 },
      { ifindex: 4, address: "fe80::4", prefixLen: 64 },
      { ifindex: 1, address: "::1", prefixLen: 128 },
    ],
    routes: [
      { type: RouteType.unicast, dst: "::", dstLen: 0, oif: 2, gateway: "fe80::fe" },
      { type: RouteType.unicast, dst: "2001:2:0:30::", dstLen: 60, oif: 3, gateway: "2001:2:0:3::fe" },
      { type: RouteType.blackhole, dst: "2001:2:0:1:8000::", dstLen: 65, oif: 0 },
    ],
    neighs: [
      { ifindex: 2, ip: "fe80::fe", state: NeighState.reachable, withMac: true },
      { ifindex: 2, ip: "2001:2:0:1::7", state: NeighState.stale, withMac: true },
      { ifindex: 2, ip: "2001:2:0:1::8", state: NeighState.incomplete, withMac: false },
      { ifindex: 3, ip: "2001:2:0:3::fe", state: NeighState.failed, withMac: false },
    ],
  },
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
const BYTE_DICTIONARY_IP6S = [
  "2001:2:0:1::5",
  "2001:2:0:1::42",
  "2001:2:0:1::7",
  "2001:2:0:1::8",
  "2001:2:0:1::1",
  "2001:2:0:1:8000::9",
  "2001:2:0:3::5",
  "2001:2:0:3::fe",
  "2001:2:0:4::5",
  "2001:2:0:31::1",
  "2001:db8::1",
  "fe80::5",
  "fe80::fe",
  "fe80::1",
  "::",
  "::1",
  "ff02::1",
  "ff02::1:ff00:5",
  "::ffff:198.18.0.5",
].map(ip6);

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

/** Writes a version-2 message (head, ifindex, four address words, reserved) with its check. */
export function putSolicitWords(
  view: DataView,
  off: number,
  head: number,
  ifindex: number,
  a: ArrayLike<number>,
  reserved = 0,
): void {
  const w = [head >>> 0, ifindex >>> 0, a[0] ?? 0, a[1] ?? 0, a[2] ?? 0, a[3] ?? 0, reserved >>> 0];
  for (let i = 0; i < 7; i++) view.setUint32(off + i * 4, w[i] >>> 0, true);
  view.setUint32(off + 28, solicitCheck(w[0], w[1], w[2], w[3], w[4], w[5], w[6]), true);
}

/** Rewrites one 32-byte block as a well-formed message of either family, mostly to addresses the world knows. */
export function fixupSolicitBytes(bytes: Uint8Array, rng: FuzzRng): void {
  const blocks = Math.floor(bytes.length / SOLICIT_BYTES);
  if (blocks === 0) return;
  const off = rng.below(blocks) * SOLICIT_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const a = [0, 1, 2, 3].map((i) => view.getUint32(off + 8 + i * 4, true));
  const v6 = rng.oneIn(2);
  if (v6 && !rng.oneIn(4)) a.splice(0, 4, ...rng.pick(BYTE_DICTIONARY_IP6S));
  if (!v6) {
    if (!rng.oneIn(4)) a[0] = rng.pick(BYTE_DICTIONARY_IPS);
    if (!rng.oneIn(16)) a.fill(0, 1);
  }
  if (rng.oneIn(3)) a[v6 ? 3 : 0] = ((a[v6 ? 3 : 0] & 0xffffff00) | rng.below(256)) >>> 0;
  let ifindex = view.getUint32(off + 4, true);
  if (!rng.oneIn(4)) ifindex = rng.pick(BYTE_DICTIONARY_IFINDEXES);
  let head = v6 ? 0x206 : 0x204;
  if (rng.oneIn(16)) head = rng.oneIn(2) ? rng.u32() : 0x200 | rng.below(256);
  const reserved = rng.oneIn(16) ? rng.u32() : 0;
  putSolicitWords(view, off, head, ifindex, a, reserved);
}

type Part = [string, number] | { raw: Uint8Array };

/** Builds a byte input from messages (an IPv6 literal makes an IPv6 message); `raw` entries are copied as they are. */
export function solicitBytes(...parts: Part[]): Uint8Array {
  const chunks = parts.map((p) => {
    if ("raw" in p) return p.raw;
    const b = new Uint8Array(SOLICIT_BYTES);
    const v = new DataView(b.buffer);
    if (p[0].includes(":")) putSolicitWords(v, 0, 0x206, p[1], ip6(p[0]));
    else putSolicitWords(v, 0, 0x204, p[1], [ip(p[0]), 0, 0, 0]);
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

/** One message with every word given (head, ifindex, address words, reserved), check computed. */
function forged(head: number, ifindex: number, a: ArrayLike<number>, reserved = 0): Uint8Array {
  const b = new Uint8Array(SOLICIT_BYTES);
  putSolicitWords(new DataView(b.buffer), 0, head, ifindex, a, reserved);
  return b;
}

/**
 * The seed corpus: name = "<outcome of the last message>.<what it is>". test/fuzz/corpus/solicit
 * holds these as files; the corpus test checks every file still ends in its named outcome.
 */
export function solicitCorpusCases(): Array<{ name: string; bytes: Uint8Array }> {
  const filler = { raw: new Uint8Array(SOLICIT_BYTES) }; // all zero: bad_check, no state change
  const flipped = solicitBytes(["198.18.0.5", 2]);
  flipped[1] ^= 0x10;
  const reserved = forged(0x204, 2, [ip("198.18.0.5"), 0, 0, 0], 1);
  const a: [string, number] = ["198.18.0.5", 2];
  return [...solicit4Cases(a, filler, flipped, reserved), ...solicit6Cases(filler)];
}

function solicit4Cases(a: [string, number], filler: Part, flipped: Uint8Array, reserved: Uint8Array) {
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
    { name: "rejected_truncated.31-bytes", bytes: solicitBytes(a).subarray(0, 31) },
    { name: "rejected_truncated.one-and-a-half", bytes: solicitBytes(a, a).subarray(0, 48) },
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

/** IPv6 and version cases: every new outcome, mixed families, duplicates, limits. */
function solicit6Cases(filler: Part): Array<{ name: string; bytes: Uint8Array }> {
  const g: [string, number] = ["2001:2:0:1::5", 2];
  const fillers = (n: number) => Array.from({ length: n }, () => filler);
  const v4words = [ip("198.18.0.5"), 0, 0, 0];
  return [
    { name: "probe_sent.v6-onlink", bytes: solicitBytes(g) },
    { name: "probe_sent.v6-link-local", bytes: solicitBytes(["fe80::5", 2]) },
    { name: "probe_sent.v6-incomplete-neighbor", bytes: solicitBytes(["2001:2:0:1::8", 2]) },
    { name: "probe_sent.v6-failed-neighbor", bytes: solicitBytes(["2001:2:0:3::fe", 3]) },
    { name: "probe_sent.v6-after-v4-same-low-word", bytes: solicitBytes(["198.18.0.5", 2], ["::c612:5", 2], g) },
    { name: "probe_error.v6-probe-fails", bytes: solicitBytes(["2001:2:0:1::42", 2]) },
    { name: "already_known.v6-gateway-reachable", bytes: solicitBytes(["fe80::fe", 2]) },
    { name: "already_known.v6-stale", bytes: solicitBytes(["2001:2:0:1::7", 2]) },
    { name: "deduplicated.v6-same-twice", bytes: solicitBytes(g, g) },
    { name: "probe_sent.v4-and-v6-not-duplicates", bytes: solicitBytes(["198.18.0.5", 2], g) },
    { name: "rate_limited_host.v6-reprobe", bytes: solicitBytes(g, ...fillers(8), g) },
    {
      name: "rate_limited_global.v6-after-v4-burst",
      bytes: solicitBytes(["198.18.0.5", 2], ["198.18.0.6", 2], ["fe80::5", 2], g),
    },
    { name: "rejected_bad_version.v1-head", bytes: forged(0x104, 2, v4words) },
    { name: "rejected_bad_version.high-bits", bytes: forged(0x10204, 2, v4words) },
    { name: "rejected_bad_family.family-5", bytes: forged(0x205, 2, v4words) },
    { name: "rejected_reserved_nonzero.v6-reserved-set", bytes: forged(0x206, 2, ip6("2001:2:0:1::5"), 7) },
    { name: "rejected_padding_nonzero.v4-with-a3", bytes: forged(0x204, 2, [ip("198.18.0.5"), 0, 0, 1]) },
    { name: "rejected_unspecified6.zero", bytes: solicitBytes(["::", 2]) },
    { name: "rejected_loopback6.one", bytes: solicitBytes(["::1", 2]) },
    { name: "rejected_multicast6.all-nodes", bytes: solicitBytes(["ff02::1", 2]) },
    { name: "rejected_multicast6.solicited-node", bytes: solicitBytes(["ff02::1:ff00:5", 2]) },
    { name: "rejected_v4_mapped6.mapped", bytes: solicitBytes(["::ffff:198.18.0.5", 2]) },
    { name: "rejected_link_local_no_interface6.ifindex-0", bytes: solicitBytes(["fe80::5", 0]) },
    { name: "rejected_unknown_ifindex.v6-not-net-tile", bytes: solicitBytes(["2001:2:0:4::5", 4]) },
    { name: "rejected_local_address6.own", bytes: solicitBytes(["2001:2:0:1::1", 2]) },
    { name: "rejected_local_address6.own-link-local", bytes: solicitBytes(["fe80::1", 2]) },
    { name: "rejected_local_address6.other-interface", bytes: solicitBytes(["2001:2:0:4::1", 2]) },
    { name: "rejected_not_on_link6.via-default", bytes: solicitBytes(["2001:db8::1", 2]) },
    { name: "rejected_not_on_link6.via-gateway", bytes: solicitBytes(["2001:2:0:31::1", 3]) },
    { name: "rejected_not_on_link6.blackhole", bytes: solicitBytes(["2001:2:0:1:8000::9", 2]) },
    { name: "rejected_not_on_link6.wrong-interface", bytes: solicitBytes(["2001:2:0:1::5", 3]) },
    { name: "rejected_not_on_link6.link-local-without-own", bytes: solicitBytes(["fe80::5", 3]) },
  ];
}
