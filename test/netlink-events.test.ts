// The subscription socket (links, neighbors, IPv4 addresses and routes), opened inside a fresh
// namespace, delivers decoded events for changes made with iproute2 there; a tiny receive buffer
// under a burst of 5,000 route adds reports overrun (ENOBUFS) and keeps working; and decoding
// keeps up with the kernel (events per second measured).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE, RTMGRP_TILENET } from "../shared/netlink/constants";
import { EventReader } from "../shared/netlink/events";
import { ipToString, macToString, NeighState, type NetEvent, parseIp } from "../shared/netmodel";
import { addon, createNetns, deleteNetns, ifindexIn, ipBatch, ipn, openNetlinkIn } from "./support/netlink-netns";
import { describeAsRoot } from "./support/root";

const ip4 = (text: string) => parseIp(text) ?? Number.NaN;
const ratesFixture = join(__dirname, "..", "dist", "test", "fixtures", "netlink-rates.js");

/** Drains until `match` finds what it wants in the events so far, or throws after timeoutMs. */
function collectUntil(reader: EventReader, match: (events: NetEvent[]) => boolean, timeoutMs = 5000): NetEvent[] {
  const events: NetEvent[] = [];
  const deadline = performance.now() + timeoutMs;
  while (!match(events)) {
    if (performance.now() > deadline) {
      throw new Error(
        `expected events did not arrive within ${timeoutMs} ms; got ${JSON.stringify(events.map(describeEvent))}`,
      );
    }
    reader.drain(64, (e) => events.push(e), 50);
  }
  return events;
}

function describeEvent(e: NetEvent): string {
  switch (e.kind) {
    case "link":
      return `${e.op} link ${e.link.name} up=${e.link.up}`;
    case "addr":
      return `${e.op} addr ${ipToString(e.addr.address)}/${e.addr.prefixLen}`;
    case "route":
      return `${e.op} route t${e.route.table} ${ipToString(e.route.dst)}/${e.route.dstLen} gw ${ipToString(e.route.gateway)}`;
    case "neigh":
      return `${e.op} neigh ${ipToString(e.neigh.ip)} ${macToString(e.neigh.mac)} ${e.neigh.state}`;
    default:
      return `${e.op} ${e.kind}`;
  }
}

describeAsRoot("rtnetlink events from a fresh namespace (needs root: network namespaces)", () => {
  let ns: string | undefined;
  const fds: number[] = [];
  let reader: EventReader;
  let va = 0;

  /** A socket on the tile's groups; ipv4Only leaves out the IPv6 ones (a count of IPv4 events must
   *  not meet the link-local routes and addresses the kernel adds when links come up). */
  function open(rcvbuf: number, ipv4Only = false): number {
    const groups = ipv4Only ? RTMGRP_TILENET & ~(RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE) : RTMGRP_TILENET;
    const fd = openNetlinkIn(ns ?? "", groups, rcvbuf);
    fds.push(fd);
    return fd;
  }

  beforeAll(() => {
    ns = createNetns("nlev");
    ipn(ns, "link", "add", "va", "type", "veth", "peer", "name", "vb");
    ipn(ns, "link", "set", "vb", "up");
    ipn(ns, "link", "set", "va", "up");
    ipn(ns, "addr", "add", "198.18.1.1/24", "dev", "va");
    va = ifindexIn(ns, "va");
    reader = new EventReader(open(1 << 20), { io: addon() });
  });

  afterAll(() => {
    for (const fd of fds) addon().closeFd(fd);
    deleteNetns(ns);
  });

  it("link down and up", () => {
    reader.drain(1000, () => {});
    ipn(ns ?? "", "link", "set", "va", "down");
    const down = collectUntil(reader, (es) => es.some((e) => e.kind === "link" && e.link.ifindex === va && !e.link.up));
    const link = down.find((e) => e.kind === "link" && e.link.ifindex === va);
    expect(link).toMatchObject({ kind: "link", op: "new", link: { name: "va", up: false, lowerUp: false, mtu: 1500 } });
    ipn(ns ?? "", "link", "set", "va", "up");
    collectUntil(reader, (es) => es.some((e) => e.kind === "link" && e.link.ifindex === va && e.link.up));
    // Taking a link down drops its IPv4 address routes without RTM_DELROUTE events: restore the address.
    ipn(ns ?? "", "addr", "replace", "198.18.1.1/24", "dev", "va");
  });

  it("address add and delete", () => {
    ipn(ns ?? "", "addr", "add", "198.18.5.1/24", "dev", "va");
    const isNew51 = (e: NetEvent) => e.kind === "addr" && e.op === "new" && e.addr.address === ip4("198.18.5.1");
    const isPrefix = (e: NetEvent) =>
      e.kind === "route" && e.route.table === 254 && e.route.dst === ip4("198.18.5.0") && e.route.dstLen === 24;
    // The kernel's own routes for the address arrive too: local /32 in table local, prefix in main.
    const added = collectUntil(reader, (es) => es.some(isNew51) && es.some(isPrefix));
    expect(added.find(isNew51)).toEqual({
      kind: "addr",
      op: "new",
      addr: { ifindex: va, address: ip4("198.18.5.1"), prefixLen: 24, broadcast: 0, scope: 0 },
    });
    ipn(ns ?? "", "addr", "del", "198.18.5.1/24", "dev", "va");
    collectUntil(reader, (es) =>
      es.some((e) => e.kind === "addr" && e.op === "del" && e.addr.address === ip4("198.18.5.1")),
    );
  });

  it("route add, replace (gateway change) and delete", () => {
    const is20 = (e: NetEvent) => e.kind === "route" && e.route.dst === ip4("198.18.20.0") && e.route.dstLen === 24;
    ipn(ns ?? "", "route", "add", "198.18.20.0/24", "via", "198.18.1.2", "metric", "7");
    const added = collectUntil(reader, (es) => es.some(is20));
    expect(added.find(is20)).toMatchObject({
      op: "new",
      route: { table: 254, type: 1, gateway: ip4("198.18.1.2"), oif: va, priority: 7 },
    });
    ipn(ns ?? "", "route", "replace", "198.18.20.0/24", "via", "198.18.1.3", "metric", "7");
    const viaNew = (e: NetEvent) => is20(e) && e.kind === "route" && e.route.gateway === ip4("198.18.1.3");
    const replaced = collectUntil(reader, (es) => es.some(viaNew));
    expect(replaced.find(viaNew)).toMatchObject({ op: "new", route: { oif: va, priority: 7 } });
    ipn(ns ?? "", "route", "del", "198.18.20.0/24", "metric", "7");
    const deleted = collectUntil(reader, (es) => es.some((e) => is20(e) && e.op === "del"));
    expect(deleted.find((e) => is20(e) && e.op === "del")).toMatchObject({ route: { gateway: ip4("198.18.1.3") } });
  });

  it("neighbor add, replace and delete", () => {
    const is70 = (e: NetEvent) => e.kind === "neigh" && e.neigh.ip === ip4("198.18.1.70");
    ipn(ns ?? "", "neigh", "add", "198.18.1.70", "lladdr", "02:00:00:00:00:70", "dev", "va");
    const added = collectUntil(reader, (es) => es.some(is70));
    const first = added.find(is70);
    expect(first?.kind === "neigh" && macToString(first.neigh.mac)).toBe("02:00:00:00:00:70");
    expect(first).toMatchObject({ op: "new", neigh: { ifindex: va, state: NeighState.permanent } });
    ipn(ns ?? "", "neigh", "replace", "198.18.1.70", "lladdr", "02:00:00:00:00:71", "dev", "va", "nud", "reachable");
    const has71 = (e: NetEvent) => is70(e) && e.kind === "neigh" && macToString(e.neigh.mac) === "02:00:00:00:00:71";
    const replaced = collectUntil(reader, (es) => es.some(has71)).find(has71);
    expect(replaced?.kind === "neigh" && macToString(replaced.neigh.mac)).toBe("02:00:00:00:00:71");
    expect(replaced).toMatchObject({ op: "new", neigh: { state: NeighState.reachable } });
    ipn(ns ?? "", "neigh", "del", "198.18.1.70", "dev", "va");
    const gone = collectUntil(reader, (es) => es.some((e) => is70(e) && e.op === "del"));
    expect(gone.find((e) => is70(e) && e.op === "del")).toMatchObject({ neigh: { ifindex: va } });
  });

  it("pollIn reports the subscription socket readable once an event is queued", () => {
    const fd = open(1 << 16);
    expect(addon().pollIn(fd, 0)).toBe(false);
    ipn(ns ?? "", "route", "add", "198.18.21.0/24", "via", "198.18.1.2");
    expect(addon().pollIn(fd, 2000)).toBe(true);
  });

  it("receives many datagrams with one native call (netlinkRecvBatch), each record framed and padded", () => {
    const fd = open(1 << 20);
    const lines: string[] = [];
    for (let i = 0; i < 50; i++) lines.push(`route add 198.18.${30 + i}.0/24 via 198.18.1.2`);
    ipBatch(ns ?? "", lines);
    const buf = new Uint8Array(256 * 1024);
    const used = addon().netlinkRecvBatch(fd, buf, 2000, 1000);
    const view = new DataView(buf.buffer);
    const lengths: number[] = [];
    for (let at = 0; at + 4 <= used; ) {
      const length = view.getUint32(at, true);
      lengths.push(length);
      at += 4 + ((length + 3) & ~3);
    }
    expect(lengths).toHaveLength(50);
    expect(lengths.every((n) => n >= 16 && n < 1000)).toBe(true);
    expect(addon().netlinkRecvBatch(fd, buf, 0, 1000)).toBe(0);
    // maxDatagrams bounds one call.
    ipn(ns ?? "", "route", "add", "198.18.90.0/24", "via", "198.18.1.2");
    ipn(ns ?? "", "route", "add", "198.18.91.0/24", "via", "198.18.1.2");
    const one = addon().netlinkRecvBatch(fd, buf, 2000, 1);
    expect(one).toBe(4 + ((view.getUint32(0, true) + 3) & ~3));
  });

  it("reports overrun (ENOBUFS) when a tiny buffer misses a burst of 5,000 route adds, then keeps working", () => {
    const small = new EventReader(open(4096), { io: addon() });
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(`route add 198.19.${i >> 8}.${i & 255}/32 via 198.18.1.2`);
    ipBatch(ns ?? "", lines);
    let overrun = false;
    let events = 0;
    for (let round = 0; round < 100 && !overrun; round++) {
      const r = small.drain(1000, () => events++);
      overrun ||= r.overrun;
      if (r.datagrams === 0 && !r.overrun) break;
    }
    expect(overrun).toBe(true);
    expect(small.counters.enobufs).toBeGreaterThanOrEqual(1);
    expect(events).toBeLessThan(5000);
    // Empty what is left, then a new change is still delivered.
    while (small.drain(1000, () => {}).datagrams > 0) {}
    ipn(ns ?? "", "route", "add", "198.18.22.0/24", "via", "198.18.1.2");
    collectUntil(small, (es) => es.some((e) => e.kind === "route" && e.route.dst === ip4("198.18.22.0")));
  });

  it("reports a datagram larger than the buffer: an EMSGSIZE error natively, an overrun for the event reader", () => {
    const rawFd = open(1 << 16);
    const readerFd = open(1 << 16);
    ipn(ns ?? "", "link", "set", "va", "mtu", "1400");
    expect(() => addon().netlinkRecv(rawFd, new Uint8Array(64), 2000)).toThrow(
      /64-byte buffer was truncated: EMSGSIZE/,
    );
    const tiny = new EventReader(readerFd, { io: addon(), bufferBytes: 64 });
    const result = tiny.drain(100, () => {}, 2000);
    expect(result.overrun).toBe(true);
    expect(tiny.counters.truncated).toBeGreaterThanOrEqual(1);
    ipn(ns ?? "", "link", "set", "va", "mtu", "1500");
  });

  it("decodes events as fast as the kernel produces them (measured in a child running the bundle)", () => {
    if (!existsSync(ratesFixture)) throw new Error(`${ratesFixture} is missing: run \`npm run build\` first`);
    const count = 20_000;
    const fd = open(64 << 20, true);
    const lines: string[] = [];
    for (let i = 0; i < count; i++) lines.push(`route add 198.19.${128 + (i >> 8)}.${i & 255}/32 via 198.18.1.2`);
    const t0 = performance.now();
    ipBatch(ns ?? "", lines);
    const produced = performance.now() - t0;
    // All 20,000 events are queued now; the child drains and decodes them.
    const r = spawnSync(process.execPath, [ratesFixture, "events", String(count)], {
      stdio: ["ignore", "pipe", "pipe", fd],
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      events: number;
      overrun: boolean;
      datagrams: number;
      drainMs: number;
      decoded: number;
      decodeMs: number;
    };
    expect(out.overrun).toBe(false);
    expect(out.events).toBe(count);
    expect(out.decoded).toBe(count);
    const rate = (n: number, ms: number) => ((n / ms) * 1000).toFixed(0);
    console.log(
      `[netlink] ${count} route events: ip -batch produced them in ${produced.toFixed(0)} ms ` +
        `(${rate(count, produced)}/s); recv+decode ${out.drainMs.toFixed(1)} ms (${rate(count, out.drainMs)} events/s, ` +
        `${out.datagrams} datagrams); decode alone ${out.decodeMs.toFixed(1)} ms (median of 5, ` +
        `${rate(count, out.decodeMs)} events/s)`,
    );
  });
});
