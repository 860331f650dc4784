// The resync controller's rules with scripted sockets: a dump that keeps changing (or fails) is
// retried with bounded backoff and never thrown; an overrun after the dump means not converged; a
// request that arrives during an attempt (a link went down mid-dump) forces another attempt; an
// event that arrives after the dump is applied over it (a route deleted during the dump stays
// deleted).
import { describe, expect, it } from "vitest";
import type { EventReader, NetlinkClient } from "../shared/netlink";
import { NetlinkDumpUnstableError } from "../shared/netlink/client";
import type { NetEvent, NetSnapshot } from "../shared/netmodel";
import { ResyncController } from "../tiles/netlink/resync";
import { ip, newWriter, route } from "./support/netbase-helpers";

interface Script {
  snapshot: NetSnapshot;
  /** Thrown by the next dumps while > 0. */
  failDumps: number;
  /** Per drain call: events to hand over and whether to report an overrun (an empty entry ends a
   *  drain-until-empty: it reads no datagram). */
  drains: { events: NetEvent[]; overrun: boolean }[];
}

function fakes(script: Script): { client: NetlinkClient; events: EventReader } {
  const client = {
    dump(kind: keyof NetSnapshot) {
      if (script.failDumps > 0) {
        script.failDumps--;
        throw new NetlinkDumpUnstableError("entries kept changing");
      }
      return script.snapshot[kind] ?? [];
    },
  } as unknown as NetlinkClient;
  const events = {
    drain(_max: number, onEvent: (ev: NetEvent) => void) {
      const d = script.drains.shift();
      if (!d) return { events: 0, datagrams: 0, overrun: false };
      for (const ev of d.events) onEvent(ev);
      return { events: d.events.length, datagrams: d.events.length, overrun: d.overrun };
    },
  } as unknown as EventReader;
  return { client, events };
}

const r1 = route({ dst: ip("198.19.1.0"), dstLen: 24 });
const r2 = route({ dst: ip("198.19.2.0"), dstLen: 24 });
const empty: NetSnapshot = { links: [], addrs: [], routes: [], neighs: [] };

describe("resync controller", () => {
  it("retries a dump that keeps failing with bounded backoff, never throwing, then converges", () => {
    const w = newWriter({ routes: 64 });
    const script: Script = { snapshot: { ...empty, routes: [r1] }, failDumps: 40, drains: [] };
    const { client, events } = fakes(script);
    const c = new ResyncController(client, events, w, (ev) => w.applyEvent(ev), {
      minBackoffMs: 10,
      maxBackoffMs: 200,
    });
    let now = 0;
    let attempts = 0;
    while (c.pending && attempts < 100) {
      if (c.due(now)) {
        const r = c.attempt(now);
        attempts++;
        if (c.pending) expect(r.outcome).toBe("dump-failed");
      }
      now += 5;
    }
    expect(c.pending).toBe(false);
    expect(c.retries).toBe(40);
    expect(w.diff(script.snapshot)).toEqual([]);
    // Backoff is bounded: 40 failures took at most 40 * 200 ms of waiting.
    expect(now).toBeLessThan(40 * 205);
  });

  it("applies events that arrive after the dump over it: a route deleted meanwhile stays deleted", () => {
    const w = newWriter({ routes: 64 });
    // The dump still has r2; its delete event is queued behind the dump.
    const script: Script = {
      snapshot: { ...empty, routes: [r1, r2] },
      failDumps: 0,
      drains: [
        { events: [], overrun: false },
        { events: [{ kind: "route", op: "del", route: r2 }], overrun: false },
      ],
    };
    const { client, events } = fakes(script);
    const c = new ResyncController(client, events, w, (ev) => w.applyEvent(ev));
    // The drain before the dump reads nothing; the delete arrives in the drain after it.
    expect(c.attempt(0).outcome).toBe("converged");
    expect(w.diff({ ...empty, routes: [r1] })).toEqual([]);
  });

  it("does not count an attempt as converged when events were lost after the dump, or a link went down", () => {
    const w = newWriter({ routes: 64 });
    const script: Script = {
      snapshot: { ...empty, routes: [r1] },
      failDumps: 0,
      drains: [
        { events: [], overrun: false },
        { events: [], overrun: true },
      ],
    };
    const { client, events } = fakes(script);
    const c = new ResyncController(client, events, w, () => c.request("link down", 0));
    expect(c.attempt(0).outcome).toBe("overrun");
    expect(c.pending).toBe(true);
    expect(c.attempt(1000).outcome).toBe("converged");
    expect(c.pending).toBe(false);
    // An event during the attempt asks for another one (its handler requests a resync).
    script.drains.push(
      { events: [], overrun: false },
      { events: [{ kind: "route", op: "new", route: r1 }], overrun: false },
    );
    c.request("test", 2000);
    expect(c.attempt(2000).outcome).toBe("converged");
    expect(c.pending).toBe(true);
    expect(c.due(3000)).toBe(true); // at once (no backoff): due as soon as this attempt ended
  });
});
