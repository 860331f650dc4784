// The netlink tile's body (in this process, against a fresh namespace) takes IPv6 events: it
// counts them in events_addr6 / events_route6 / events_neigh6, hands them to the writer, passes
// IPv6 neighbor events to the solicit handler's onNeighbor6Event when it has one (the words of
// the address, the state, deleted), and applies an IPv6 route replace through the writer's
// replaceRoute6 (the kernel sends no delete for the route it replaced) without a resync.
import { afterAll, beforeAll, expect, it } from "vitest";
import { BodyWorld } from "../bench/netbase-churn-world";
import type { Neighbor6EventSink } from "../tiles/netlink/body";
import { SolicitHandler } from "../tiles/netlink/solicit-handler";
import { ipn } from "./support/netlink-netns";
import { describeAsRoot } from "./support/root";

type Call = [number, number, number, number, number, number, boolean];
const calls: Call[] = [];
const proto = SolicitHandler.prototype as unknown as Neighbor6EventSink;
const had = Object.hasOwn(SolicitHandler.prototype, "onNeighbor6Event");
const original = proto.onNeighbor6Event;

describeAsRoot("netlink tile body with IPv6 events (needs root: network namespaces)", () => {
  let w: BodyWorld | undefined;

  beforeAll(() => {
    // Stands in for (or wraps) the v6-solicit helper's method.
    proto.onNeighbor6Event = function (this: unknown, ...args: Call) {
      calls.push(args);
      original?.apply(this, args);
    };
    w = new BodyWorld("nl6body", { rcvbufBytes: 1 << 20 });
  });

  afterAll(() => {
    w?.close();
    if (had) proto.onNeighbor6Event = original;
    else delete proto.onNeighbor6Event;
  });

  async function until(what: string, ok: () => boolean): Promise<void> {
    const world = w as BodyWorld;
    for (let i = 0; i < 200 && !ok(); i++) await world.runFor(20);
    expect(ok(), what).toBe(true);
  }

  it("counts IPv6 events, and passes IPv6 neighbor events to onNeighbor6Event", async () => {
    const world = w as BodyWorld;
    await world.runFor(50);
    const before = { a: world.metric("events_addr6"), r: world.metric("events_route6") };
    ipn(world.ns, "addr", "add", "2001:2:30::1/64", "dev", world.dev, "nodad");
    ipn(world.ns, "-6", "route", "add", "2001:2:31::/48", "via", "2001:2:30::2");
    ipn(world.ns, "-6", "neigh", "add", "2001:2:30::7", "lladdr", "02:00:00:00:30:07", "dev", world.dev);
    await until("IPv6 address, route and neighbor events counted", () => {
      return (
        world.metric("events_addr6") > before.a &&
        world.metric("events_route6") >= before.r + 3 && // prefix, local, the route
        calls.some((c) => c[1] === 0x20010002 && c[2] === 0x00300000 && c[4] === 7)
      );
    });
    const call = calls.find((c) => c[4] === 7 && c[1] === 0x20010002);
    expect(call).toEqual([world.ifindex, 0x20010002, 0x00300000, 0, 7, 0x80, false]);
    expect(world.metric("events_neigh6")).toBeGreaterThan(0);
    ipn(world.ns, "-6", "neigh", "del", "2001:2:30::7", "dev", world.dev);
    await until("the delete reaches the handler", () => calls.some((c) => c[4] === 7 && c[6]));
  });

  it("applies an IPv6 route replace in place (the writer tells the replaced route), and a plain add without a resync", async () => {
    const world = w as BodyWorld;
    await world.runFor(50);
    const syncs = world.metric("full_syncs");
    const before = world.metric("events_route6");
    ipn(world.ns, "-6", "route", "replace", "2001:2:31::/48", "via", "2001:2:30::3");
    await until("the replace's event", () => world.metric("events_route6") > before);
    await world.runFor(50);
    expect(world.metric("full_syncs")).toBe(syncs);
    expect(world.logs.some((l) => l.includes("IPv6 route replaced"))).toBe(false);
    // A plain add is no replace: no resync for it.
    await world.runFor(50);
    const after = world.metric("full_syncs");
    const routes = world.metric("events_route6");
    ipn(world.ns, "-6", "route", "add", "2001:2:32::/48", "via", "2001:2:30::2");
    await until("the add's event", () => world.metric("events_route6") > routes);
    await world.runFor(50);
    expect(world.metric("full_syncs")).toBe(after);
  });
});
