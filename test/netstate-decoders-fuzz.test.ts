// The netstate decoders (links, addresses, routes, neighbors, rules, generic netlink, ethtool)
// never throw on arbitrary bytes or on mutations of valid messages (the library's own requests,
// which have the layout of the kernel's replies), and what they return is well-formed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { addressRequest } from "../shared/netlink/addr-msg";
import { parseIp } from "../shared/netlink/address-text";
import { familyIdRequest, featuresSetRequest } from "../shared/netlink/ethtool-msg";
import { fuzzDecode, NetstateDecoders } from "../shared/netlink/fuzz";
import { linkAddRequest, linkSetRequest } from "../shared/netlink/link-msg";
import { neighborRequest } from "../shared/netlink/neigh-msg";
import { routeRequest } from "../shared/netlink/route-msg";
import { ruleRequest } from "../shared/netlink/rule-msg";
import { MessageCursor } from "../shared/netlink/wire";

const ip = (t: string): Uint8Array => parseIp(t) as Uint8Array;

/** Valid messages of every kind the decoders read. */
const SEEDS: Uint8Array[] = [
  linkAddRequest(1, { name: "v0", mtu: 1400, numTxQueues: 4 }, { kind: "veth", peer: { name: "v1", netnsFd: 3 } }),
  linkSetRequest(2, 7, { up: true, address: new Uint8Array([2, 0, 0, 0, 0, 1]), name: "x" }),
  addressRequest(3, "add", { ifindex: 2, local: ip("198.18.0.1"), prefixLen: 24, label: "v0", validLifetime: 60 }),
  addressRequest(4, "add", { ifindex: 2, local: ip("2001:2::1"), prefixLen: 64, flags: 0x202 }),
  routeRequest(5, "add", {
    family: 4,
    dst: ip("198.18.1.0"),
    dstLen: 24,
    table: 1000,
    protocol: 4,
    scope: 0,
    type: 1,
    metric: 5,
    metrics: new Map([[2, 1400]]),
    nexthops: [
      { gateway: ip("198.18.0.2"), oif: 2, weight: 2, flags: 4 },
      { gateway: ip("198.18.0.3"), weight: 1, flags: 0 },
    ],
  }),
  routeRequest(6, "add", {
    family: 6,
    dst: ip("2001:2:1::"),
    dstLen: 64,
    table: 254,
    protocol: 3,
    scope: 0,
    type: 1,
    gateway: ip("2001:2::2"),
    pref: 1,
  }),
  neighborRequest(7, "add", { ifindex: 2, dst: ip("198.18.0.9"), lladdr: new Uint8Array(6), state: 0x80, flags: 0x80 }),
  neighborRequest(8, "replace", { ifindex: 2, dst: ip("2001:2::9"), state: 0x04, flags: 0 }),
  ruleRequest(9, "add", {
    family: 4,
    priority: 100,
    table: 300,
    action: 1,
    src: ip("198.18.0.0"),
    srcLen: 16,
    dstLen: 0,
    iifname: "v0",
    fwmark: 1,
  }),
  familyIdRequest(10, "ethtool"),
  featuresSetRequest(
    20,
    11,
    "v0",
    new Map([
      ["tx-checksum-ip-generic", false],
      ["rx-gro", true],
    ]),
  ),
];

function decodeAll(bytes: Uint8Array): unknown[] {
  const cursor = new MessageCursor(bytes);
  const decoders = new NetstateDecoders(cursor);
  cursor.reset(bytes.byteLength);
  const out: unknown[] = [];
  while (cursor.next()) out.push(...decoders.all());
  return out;
}

describe("netstate decoders under fuzzing", () => {
  it("decode the valid seeds", () => {
    expect(decodeAll(SEEDS[1] as Uint8Array)).toContainEqual(
      expect.objectContaining({ ifindex: 7, name: "x", up: true, address: "02:00:00:00:00:01" }),
    );
    expect(decodeAll(SEEDS[4] as Uint8Array)).toContainEqual(
      expect.objectContaining({ dst: "198.18.1.0", table: 1000, metrics: { mtu: 1400 }, nexthops: expect.any(Array) }),
    );
    expect(decodeAll(SEEDS[8] as Uint8Array)).toContainEqual(
      expect.objectContaining({ priority: 100, table: 300, iifname: "v0" }),
    );
  });

  it("never throw on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        fuzzDecode(bytes);
        decodeAll(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it("never throw on mutated valid messages, and return only well-formed records", () => {
    const mutated = fc
      .tuple(
        fc.constantFrom(...SEEDS),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      )
      .map(([seed, edits]) => {
        const copy = seed.slice();
        for (const [at, value] of edits) copy[at % copy.length] = value;
        return copy;
      });
    fc.assert(
      fc.property(mutated, (bytes) => {
        for (const record of decodeAll(bytes)) {
          if (typeof record !== "object" || record === null) continue;
          for (const [key, value] of Object.entries(record)) {
            if (typeof value === "number") expect(Number.isFinite(value), key).toBe(true);
            if (typeof value === "string" && (key === "dst" || key === "gateway" || key === "local"))
              expect(parseIp(value), `${key} ${value}`).toBeDefined();
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});
