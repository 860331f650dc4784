// Property: the fuzz target fuzzDecode never throws, for arbitrary bytes and for valid messages
// mutated (bit flips, length fields rewritten, truncation, splicing). The corpus itself must
// decode cleanly, so the target is known to reach the record decoders.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NLM_F_DUMP_INTR, NLM_F_MULTI, NTF_PROXY, RTM_DELLINK } from "../shared/netlink/constants";
import { malformedTotal } from "../shared/netlink/counters";
import { EventReader } from "../shared/netlink/events";
import { fuzzDecode, fuzzDecodeCounted } from "../shared/netlink/fuzz";
import { HOST_LITTLE_ENDIAN, viewOf } from "../shared/netlink/wire";
import { prefixMask } from "../shared/netmodel";
import {
  addressed,
  addrMessage,
  concat,
  doneMessage,
  errorMessage,
  ipv4,
  linkMessage,
  neighMessage,
  routeMessage,
  ScriptedSocket,
} from "./support/netlink-messages";

const corpus: Uint8Array[] = [
  linkMessage({ ifindex: 3, name: "veth-a", mtu: 9000 }),
  linkMessage({ msgType: RTM_DELLINK, arphrd: 768, mac: Uint8Array.of(198, 18, 0, 1) }),
  addrMessage({ local: ipv4("198.18.0.1"), address: ipv4("198.18.0.1"), broadcast: ipv4("198.18.0.255") }),
  routeMessage({
    dst: ipv4("198.18.10.0"),
    gateway: ipv4("198.18.0.2"),
    oif: 3,
    priority: 7,
    prefsrc: ipv4("198.18.0.1"),
  }),
  routeMessage({ rtmTable: 252, rtaTable: 255, dst: ipv4("198.18.0.1"), dstLen: 32, type: 2 }),
  routeMessage({ dst: ipv4("198.18.9.0"), hops: [{ oif: 3, gateway: ipv4("198.18.1.2") }, { oif: 4 }] }),
  neighMessage({ ip: ipv4("198.18.0.2"), mac: Uint8Array.of(2, 0, 0, 0, 0, 2) }),
  neighMessage({ ip: ipv4("198.18.0.3"), flags: NTF_PROXY }),
  errorMessage(22, "Invalid prefix for given prefix length", 28),
  errorMessage(0),
  addressed(doneMessage(NLM_F_MULTI), 5, 6, NLM_F_DUMP_INTR),
];

const datagram = fc.array(fc.constantFrom(...corpus), { minLength: 1, maxLength: 4 }).map((parts) => concat(...parts));

/** A mutation of a valid datagram. */
const mutated = fc.oneof(
  // flip bytes
  fc
    .tuple(datagram, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }))
    .map(([d, flips]) => {
      const out = d.slice();
      for (const [at, value] of flips) out[at % out.length] = value;
      return out;
    }),
  // rewrite a 16-bit or 32-bit length-like field anywhere (rtattr len, nlmsg_len, rtnh_len)
  fc.tuple(datagram, fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), fc.boolean()).map(([d, at, value, wide]) => {
    const out = d.slice();
    const v = viewOf(out);
    if (wide && out.length >= 4) v.setUint32((at % (out.length - 3)) & ~3, value, HOST_LITTLE_ENDIAN);
    else if (out.length >= 2) v.setUint16((at % (out.length - 1)) & ~1, value & 0xffff, HOST_LITTLE_ENDIAN);
    return out;
  }),
  // cut one message short and make its nlmsg_len agree, so its last attribute runs past the end
  fc.tuple(fc.constantFrom(...corpus), fc.nat()).map(([m, cut]) => {
    const out = m.slice(0, 16 + (cut % (m.length - 15)));
    viewOf(out).setUint32(0, out.length, HOST_LITTLE_ENDIAN);
    return out;
  }),
  // truncate, or splice two datagrams at arbitrary points
  fc.tuple(datagram, fc.nat()).map(([d, cut]) => d.slice(0, cut % (d.length + 1))),
  fc
    .tuple(datagram, datagram, fc.nat(), fc.nat())
    .map(([a, b, i, j]) => concat(a.slice(0, i % (a.length + 1)), b.slice(j % (b.length + 1)))),
);

describe("fuzzDecode (rtnetlink decoder fuzz target)", () => {
  it("decodes the valid corpus cleanly (the target reaches every record decoder)", () => {
    const counters = fuzzDecodeCounted(concat(...corpus));
    expect(counters.messages).toBe(corpus.length);
    expect(malformedTotal(counters)).toBe(0);
    expect(counters).toMatchObject({ events_link: 2, events_addr: 1, events_route: 3, events_neigh: 1, acks: 1 });
    expect(counters.ignored_proxy_neigh).toBe(1);
  });

  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        fuzzDecode(bytes);
      }),
      { numRuns: 10_000 },
    );
  });

  it("never throws on mutated valid messages", () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        fuzzDecode(bytes);
      }),
      { numRuns: 10_000 },
    );
  });

  it("only ever yields well-formed records from mutated input", () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        const socket = new ScriptedSocket();
        socket.push(bytes);
        new EventReader(0, { io: socket, bufferBytes: Math.max(64, bytes.length + 8) }).drain(1, (e) => {
          const okIndex = (i: number) => Number.isInteger(i) && i >= 1 && i <= 0x7fffffff;
          const okIp = (ip: number) => Number.isInteger(ip) && ip >= 0 && ip <= 0xffffffff;
          const okMac = (mac: Uint8Array | null) => mac === null || mac.length === 6;
          switch (e.kind) {
            case "link":
              expect(okIndex(e.link.ifindex) && e.link.name.length > 0 && e.link.name.length < 16).toBe(true);
              expect(okMac(e.link.mac)).toBe(true);
              break;
            case "addr":
              expect(okIndex(e.addr.ifindex) && okIp(e.addr.address) && e.addr.prefixLen <= 32).toBe(true);
              break;
            case "route": {
              const r = e.route;
              expect(r.table === 254 || r.table === 255).toBe(true);
              expect(r.dstLen <= 32 && okIp(r.dst) && okIp(r.gateway) && okIp(r.prefsrc)).toBe(true);
              expect((r.dst & ~prefixMask(r.dstLen)) >>> 0).toBe(0);
              break;
            }
            case "neigh":
              expect(okIndex(e.neigh.ifindex) && okIp(e.neigh.ip) && okMac(e.neigh.mac)).toBe(true);
              break;
          }
        });
      }),
      { numRuns: 10_000 },
    );
  });

  it("never throws on unaligned views into a larger buffer", () => {
    fc.assert(
      fc.property(datagram, fc.integer({ min: 1, max: 7 }), (d, shift) => {
        const big = new Uint8Array(d.length + shift);
        big.set(d, shift);
        fuzzDecode(big.subarray(shift));
      }),
      { numRuns: 2_000 },
    );
  });
});
