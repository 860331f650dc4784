// The request client against a scripted kernel: multi-part reassembly, sequence/port checks,
// dump restarts on NLM_F_DUMP_INTR and ENOBUFS, bounded retries and waits, and errors with the
// kernel's extended-ack text.
import { describe, expect, it } from "vitest";
import { NetlinkClient, NetlinkDumpUnstableError, NetlinkError, NetlinkTimeoutError } from "../shared/netlink/client";
import { NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST, RTM_GETROUTE } from "../shared/netlink/constants";
import { RECV_FOREIGN_SENDER, RECV_OVERRUN } from "../shared/netlink/io";
import { HOST_LITTLE_ENDIAN, viewOf } from "../shared/netlink/wire";
import {
  addressed,
  concat,
  doneMessage,
  errorMessage,
  ipv4,
  neighMessage,
  routeMessage,
  ScriptedSocket,
} from "./support/netlink-messages";

const PORT = 4242;

function routes(seq: number, first: number, count: number, extraFlags = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = first; i < first + count; i++) {
    parts.push(addressed(routeMessage({ dst: ipv4(`198.18.${i}.0`), oif: 2 }), seq, PORT, NLM_F_MULTI | extraFlags));
  }
  return concat(...parts);
}

function done(seq: number, extraFlags = 0, errno = 0): Uint8Array {
  return addressed(doneMessage(NLM_F_MULTI, errno), seq, PORT, extraFlags);
}

describe("NetlinkClient against a scripted kernel", () => {
  it("sends a route dump request and reassembles a multi-part reply, skipping stale and foreign datagrams", () => {
    const socket = new ScriptedSocket(
      (_req, seq) => [
        routes(seq - 1, 100, 2), // left over from an earlier, abandoned request
        concat(routes(seq, 1, 2), addressed(routeMessage({ dst: ipv4("198.18.99.0") }), seq, PORT + 1, NLM_F_MULTI)),
        RECV_FOREIGN_SENDER,
        routes(seq, 3, 3),
        done(seq),
      ],
      PORT,
    );
    const client = new NetlinkClient(7, { io: socket });
    const got = client.dump("routes");
    expect(got.map((r) => r.dst >>> 8)).toEqual([1, 2, 3, 4, 5].map((i) => ipv4(`198.18.${i}.0`) >>> 8));
    const sent = viewOf(socket.sent[0]);
    expect(sent.getUint16(4, HOST_LITTLE_ENDIAN)).toBe(RTM_GETROUTE);
    expect(sent.getUint16(6, HOST_LITTLE_ENDIAN)).toBe(NLM_F_REQUEST | NLM_F_DUMP);
    expect(client.counters).toMatchObject({
      stale_replies: 3,
      foreign_datagrams: 1,
      dumps: 1,
      dump_records: 5,
      dump_retries: 0,
    });
  });

  it("restarts a dump the kernel flagged NLM_F_DUMP_INTR and one that lost messages (ENOBUFS)", () => {
    let attempt = 0;
    const socket = new ScriptedSocket((_req, seq) => {
      attempt++;
      if (attempt === 1)
        return [routes(seq, 1, 2), concat(routes(seq, 3, 1, NLM_F_DUMP_INTR), done(seq, NLM_F_DUMP_INTR))];
      if (attempt === 2) return [routes(seq, 1, 2), RECV_OVERRUN];
      return [routes(seq, 10, 2), done(seq)];
    }, PORT);
    const client = new NetlinkClient(7, { io: socket });
    const got = client.dump("routes");
    expect(got.map((r) => (r.dst >>> 8) & 255)).toEqual([10, 11]);
    expect(socket.sent).toHaveLength(3);
    expect(client.counters.dump_retries).toBe(2);
    expect(client.counters.enobufs).toBe(1);
  });

  it("gives up with a clear error after the bounded number of restarts", () => {
    const socket = new ScriptedSocket((_req, seq) => [done(seq, NLM_F_DUMP_INTR)], PORT);
    const client = new NetlinkClient(7, { io: socket, maxDumpRetries: 3 });
    expect(() => client.dump("links")).toThrow(
      /dump of links: still inconsistent after 4 attempts \(last: the kernel flagged it NLM_F_DUMP_INTR/,
    );
    expect(() => client.dump("links")).toThrow(NetlinkDumpUnstableError);
    expect(socket.sent).toHaveLength(8);
  });

  it("confirms a dump by taking it until two in a row hold the same entries (a skip or repeat without DUMP_INTR)", () => {
    let attempt = 0;
    const socket = new ScriptedSocket((_req, seq) => {
      attempt++;
      if (attempt === 1) return [routes(seq, 1, 2), routes(seq, 4, 1), done(seq)]; // 3 skipped, no flag
      if (attempt === 2) return [routes(seq, 1, 3), routes(seq, 3, 2), done(seq)]; // 3 repeated
      return [routes(seq, 1, 4), done(seq)];
    }, PORT);
    const client = new NetlinkClient(7, { io: socket });
    const got = client.dumpConfirmed("routes");
    expect(got.map((r) => (r.dst >>> 8) & 255)).toEqual([1, 2, 3, 4]);
    expect(socket.sent).toHaveLength(4);
    expect(client.counters.dump_unconfirmed).toBe(2);
    expect(client.counters.dump_retries).toBe(0);

    let n = 0;
    const churning = new ScriptedSocket((_req, seq) => [routes(seq, 1, 1 + (n++ % 2)), done(seq)], PORT);
    expect(() => new NetlinkClient(7, { io: churning, maxDumpRetries: 4 }).dumpConfirmed("routes")).toThrow(
      NetlinkDumpUnstableError,
    );
    expect(churning.sent).toHaveLength(5);
  });

  it("turns NLMSG_ERROR and a failed NLMSG_DONE into errors carrying errno and the extended-ack text", () => {
    const refusing = new ScriptedSocket(
      (_req, seq) => [addressed(errorMessage(22, "Invalid prefix for given prefix length", 20), seq, PORT)],
      PORT,
    );
    const client = new NetlinkClient(7, { io: refusing });
    let error: unknown;
    try {
      client.dump("neighs");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NetlinkError);
    const ne = error as NetlinkError;
    expect(ne.code).toBe("EINVAL");
    expect(ne.errno).toBe(22);
    expect(ne.extAck).toBe("Invalid prefix for given prefix length");
    expect(ne.attrOffset).toBe(20);
    expect(ne.message).toBe("netlink dump of neighs: kernel replied EINVAL: Invalid prefix for given prefix length");

    const failingDone = new ScriptedSocket((_req, seq) => [done(seq, 0, 12)], PORT);
    expect(() => new NetlinkClient(7, { io: failingDone }).dump("addrs")).toThrow(
      /dump of addrs: kernel replied ENOMEM/,
    );
  });

  it("waits a bounded time for a reply that never comes", () => {
    const silent = new ScriptedSocket(() => [], PORT);
    const client = new NetlinkClient(7, { io: silent, timeoutMs: 30 });
    const t0 = performance.now();
    expect(() => client.dump("routes")).toThrow(NetlinkTimeoutError);
    expect(() => client.neighUse(ipv4("198.18.0.9"), 2)).toThrow(/no complete reply within 30 ms/);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(client.counters.timeouts).toBe(2);
  });

  it("waits for the ack of an acked request, ignoring unrelated messages", () => {
    const socket = new ScriptedSocket(
      (_req, seq) => [concat(addressed(neighMessage({ ip: 1 }), seq, PORT), addressed(errorMessage(0), seq, PORT))],
      PORT,
    );
    const client = new NetlinkClient(7, { io: socket });
    client.neighUse(ipv4("198.18.0.9"), 2);
    expect(client.counters.acks).toBe(1);
    expect(client.counters.ignored_type).toBe(1);
    // Sequence numbers advance and skip 0.
    const seqs = socket.sent.map((m) => viewOf(m).getUint32(8, HOST_LITTLE_ENDIAN));
    client.neighUse(ipv4("198.18.0.9"), 2);
    expect(viewOf(socket.sent[1]).getUint32(8, HOST_LITTLE_ENDIAN)).toBe(seqs[0] + 1);
  });
});
