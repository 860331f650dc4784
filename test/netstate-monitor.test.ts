// monitor(): typed change events for links, addresses, routes, neighbors and rules (IPv4 and
// IPv6), an initial snapshot taken after subscribing (nothing falls between them), and a resync
// event (with a fresh snapshot) when the socket overruns.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetns, deleteNetns, monitor, NetState, type NetstateEvent } from "../shared/netstate";
import { isRoot, uniqueNetnsName } from "./support/netlink-netns";

/** Collects events until `until` says enough (or timeoutMs). */
async function collect(
  it: AsyncGenerator<NetstateEvent>,
  until: (seen: NetstateEvent[]) => boolean,
  timeoutMs: number,
): Promise<NetstateEvent[]> {
  const seen: NetstateEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (!until(seen) && Date.now() < deadline) {
    const next = await Promise.race([
      it.next(),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), Math.max(1, deadline - Date.now()))),
    ]);
    if (next === undefined || next.done) break;
    seen.push(next.value);
  }
  return seen;
}

describe.skipIf(!isRoot)("netstate monitor", () => {
  const a = uniqueNetnsName("mon");
  let ns: NetState;
  beforeAll(async () => {
    await createNetns(a);
    ns = await NetState.open({ netns: a });
    await ns.setLink("lo", { up: true });
  });
  afterAll(async () => {
    ns?.close();
    await deleteNetns(a).catch(() => undefined);
  });

  it("yields a snapshot, then typed events of every kind", async () => {
    const abort = new AbortController();
    const events = monitor({ netns: a, snapshot: true, signal: abort.signal });
    const [first] = await collect(events, (s) => s.length >= 1, 5000);
    expect(first).toMatchObject({ kind: "snapshot" });
    if (first?.kind === "snapshot") expect(first.links.map((l) => l.name)).toEqual(["lo"]);
    await ns.addVeth({ name: "m0" }, { name: "m1" });
    await ns.setLink("m0", { up: true });
    await ns.setLink("m1", { up: true });
    await ns.addAddress("m0", "198.18.30.1/24");
    await ns.addAddress("m0", "2001:2:0:30::1/64", { flags: 0x02 });
    await ns.addRoute({ dst: "198.18.31.0/24", gateway: "198.18.30.2", dev: "m0", table: 50, onlink: true });
    await ns.addRoute({ dst: "2001:2:0:31::/64", gateway: "2001:2:0:30::2" });
    await ns.addNeighbor({ dst: "198.18.30.9", dev: "m0", lladdr: "02:00:00:00:30:09" });
    await ns.addRule({ priority: 500, from: "198.18.30.0/24", table: 50 });
    await ns.deleteRoute({ dst: "198.18.31.0/24", table: 50 });
    const has = (s: NetstateEvent[], f: (e: NetstateEvent) => boolean): boolean => s.some(f);
    const want = [
      (e: NetstateEvent) => e.kind === "link" && e.op === "new" && e.link.name === "m0",
      (e: NetstateEvent) => e.kind === "address" && e.address.local === "198.18.30.1",
      (e: NetstateEvent) => e.kind === "address" && e.address.local === "2001:2:0:30::1",
      (e: NetstateEvent) =>
        e.kind === "route" && e.op === "new" && e.route.dst === "198.18.31.0" && e.route.table === 50,
      (e: NetstateEvent) => e.kind === "route" && e.route.family === 6 && e.route.dst === "2001:2:0:31::",
      (e: NetstateEvent) => e.kind === "neighbor" && e.neighbor.dst === "198.18.30.9",
      (e: NetstateEvent) => e.kind === "rule" && e.op === "new" && e.rule.priority === 500,
      (e: NetstateEvent) => e.kind === "route" && e.op === "del" && e.route.dst === "198.18.31.0",
    ];
    const seen = await collect(events, (s) => want.every((w) => has(s, w)), 10_000);
    abort.abort();
    await events.return(undefined);
    for (const [i, w] of want.entries()) expect(has(seen, w), `expected event ${i}`).toBe(true);
  });

  it("signals a resync with a fresh snapshot when the socket overruns", async () => {
    const events = monitor({ netns: a, objects: ["route"], snapshot: true, rcvbufBytes: 4096 });
    await collect(events, (s) => s.length >= 1, 5000);
    // Thousands of notifications while nobody reads: a 4 KiB buffer cannot hold them.
    for (let i = 0; i < 2000; i++)
      await ns.addRoute({ dst: `198.19.${i >> 8}.${i & 255}/32`, type: "blackhole", table: 60 });
    const seen = await collect(
      events,
      (s) => s.some((e) => e.kind === "resync") && s.at(-1)?.kind === "snapshot",
      10_000,
    );
    await events.return(undefined);
    const resync = seen.findIndex((e) => e.kind === "resync");
    expect(resync).toBeGreaterThanOrEqual(0);
    const after = seen.slice(resync).find((e) => e.kind === "snapshot");
    expect(after?.kind === "snapshot" && after.routes.filter((r) => r.table === 60).length).toBe(2000);
  });

  it("refuses unknown objects by name", async () => {
    const events = monitor({ objects: ["links" as "link"] });
    await expect(events.next()).rejects.toThrow(/monitor: objects\[\]/);
  });
});
