// Request/reply over the rtnetlink request socket: dumps (multi-part, retried when the kernel
// flags them inconsistent), acked requests, and a full snapshot of the state tilenet mirrors.
// Every wait is bounded by the request timeout; nothing here can spin forever.
import { getSystemErrorMap } from "node:util";
import { formatIp6 } from "../ip6";
import type {
  Addr6Record,
  AddrRecord,
  LinkRecord,
  Neigh6Record,
  NeighRecord,
  NetSnapshot,
  Route6Record,
  RouteRecord,
} from "../netmodel";
import { NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR } from "./constants";
import { createCounters, type NetlinkCounters } from "./counters";
import { type AckInfo, RecordDecoder } from "./decode";
import { DEFAULT_BUFFER_BYTES, type NetlinkIo, nativeNetlinkIo, RECV_FOREIGN_SENDER, RECV_OVERRUN } from "./io";
import { DUMP_TYPES, type DumpKind, dumpRequest, neighUseRequest } from "./requests";
import { MessageCursor } from "./wire";

const errnoNames = new Map<number, string>();
for (const [errno, [name]] of getSystemErrorMap()) errnoNames.set(-errno, name);

/** The kernel refused a request: errno plus its extended-ack explanation when it gave one. */
export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  /** NLMSGERR_ATTR_MSG, e.g. "Network address not specified". */
  readonly extAck: string | undefined;
  readonly attrOffset: number | undefined;

  constructor(what: string, ack: AckInfo) {
    const code = errnoNames.get(ack.errno) ?? `errno ${ack.errno}`;
    super(`${what}: kernel replied ${code}${ack.message ? `: ${ack.message}` : ""}`);
    this.name = "NetlinkError";
    this.errno = ack.errno;
    this.code = code;
    this.extAck = ack.message;
    this.attrOffset = ack.attrOffset;
  }
}

/** No (complete) reply within the request timeout. */
export class NetlinkTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetlinkTimeoutError";
  }
}

/** The state kept changing during every dump attempt (restarts or confirmations exhausted).
 *  The socket is fine: try again later, events keep arriving meanwhile. */
export class NetlinkDumpUnstableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetlinkDumpUnstableError";
  }
}

export interface NetlinkClientOptions {
  /** Bound on each wait for a complete reply (one dump attempt, one ack). Default 5000. */
  timeoutMs?: number;
  /** Dumps flagged NLM_F_DUMP_INTR (or overrun, or damaged) are restarted at most this often, and
   *  dumpConfirmed dumps at most this many times more. Default 32. */
  maxDumpRetries?: number;
  /** Receive buffer size. Default 256 KiB. */
  bufferBytes?: number;
  counters?: NetlinkCounters;
  /** The socket's port id when already known (saves a getsockname). */
  portId?: number;
  io?: NetlinkIo;
}

interface DumpRecordMap {
  links: LinkRecord;
  addrs: AddrRecord;
  routes: RouteRecord;
  neighs: NeighRecord;
  addrs6: Addr6Record;
  routes6: Route6Record;
  neighs6: Neigh6Record;
}

type ReceiveOutcome = "complete" | "overrun" | "damaged";
type RestartReason = "interrupted" | "overrun" | "damaged";
const RESTART_REASONS: Record<RestartReason, string> = {
  interrupted: "the kernel flagged it NLM_F_DUMP_INTR, state changing too fast",
  overrun: "ENOBUFS, part of it was lost",
  damaged: "a malformed datagram, see the malformed_* counters",
};

export class NetlinkClient {
  readonly counters: NetlinkCounters;
  readonly portId: number;
  private readonly io: NetlinkIo;
  private readonly timeoutMs: number;
  private readonly maxDumpRetries: number;
  private readonly cursor: MessageCursor;
  private readonly decoder: RecordDecoder;
  private seq: number;

  constructor(
    readonly fd: number,
    options: NetlinkClientOptions = {},
  ) {
    this.io = options.io ?? nativeNetlinkIo();
    this.counters = options.counters ?? createCounters();
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxDumpRetries = options.maxDumpRetries ?? 32;
    this.portId = options.portId ?? this.io.netlinkPortId(fd);
    this.cursor = new MessageCursor(new Uint8Array(options.bufferBytes ?? DEFAULT_BUFFER_BYTES));
    this.decoder = new RecordDecoder(this.cursor, this.counters);
    // Start away from 0 so replies to an earlier user of the same socket cannot match.
    this.seq = (Date.now() & 0xffffff) + 1;
  }

  /** All records of one kind (links of any family; addresses, local+main routes, neighbors of
   *  IPv4, or of IPv6 for the kinds ending in 6). */
  dump(kind: "links"): LinkRecord[];
  dump(kind: "addrs"): AddrRecord[];
  dump(kind: "routes"): RouteRecord[];
  dump(kind: "neighs"): NeighRecord[];
  dump(kind: "addrs6"): Addr6Record[];
  dump(kind: "routes6"): Route6Record[];
  dump(kind: "neighs6"): Neigh6Record[];
  dump(kind: DumpKind): DumpRecordMap[DumpKind][] {
    const d = this.decoder;
    switch (kind) {
      case "addrs6":
        return this.dumpRecords(kind, () => d.addr6());
      case "routes6":
        return this.dumpRecords(kind, () => d.route6());
      case "neighs6":
        return this.dumpRecords(kind, () => d.neigh6());
      case "links":
        return this.dumpRecords(kind, () => d.link());
      case "addrs":
        return this.dumpRecords(kind, () => d.addr());
      case "routes":
        return this.dumpRecords(kind, () => d.route());
      case "neighs":
        return this.dumpRecords(kind, () => d.neigh());
    }
  }

  /** A dump whose set of entries was seen twice in a row (compared by identity, not state), at
   *  most maxDumpRetries + 1 dumps. The kernel resumes address and neighbor dumps by position
   *  between parts; with its RCU dumps (6.x), a change between parts can shift positions without
   *  NLM_F_DUMP_INTR, so one entry is skipped or repeated (seen here: 1 dump in ~100 under churn).
   *  Two consecutive dumps with the same membership cannot both be damaged the same way. */
  dumpConfirmed(kind: "links"): LinkRecord[];
  dumpConfirmed(kind: "addrs"): AddrRecord[];
  dumpConfirmed(kind: "routes"): RouteRecord[];
  dumpConfirmed(kind: "neighs"): NeighRecord[];
  dumpConfirmed(kind: "addrs6"): Addr6Record[];
  dumpConfirmed(kind: "routes6"): Route6Record[];
  dumpConfirmed(kind: "neighs6"): Neigh6Record[];
  dumpConfirmed(kind: DumpKind): DumpRecordMap[DumpKind][] {
    switch (kind) {
      case "addrs6":
        return this.confirmed(kind, () => this.dump(kind), addr6Key);
      case "routes6":
        return this.confirmed(kind, () => this.dump(kind), route6Key);
      case "neighs6":
        return this.confirmed(kind, () => this.dump(kind), neigh6Key);
      case "links":
        return this.confirmed(
          kind,
          () => this.dump(kind),
          (l) => `${l.ifindex}`,
        );
      case "addrs":
        return this.confirmed(
          kind,
          () => this.dump(kind),
          (a) => `${a.ifindex}/${a.address}/${a.prefixLen}`,
        );
      case "routes":
        return this.confirmed(
          kind,
          () => this.dump(kind),
          (r) => `${r.table}/${r.dst}/${r.dstLen}/${r.tos}/${r.priority}`,
        );
      case "neighs":
        return this.confirmed(
          kind,
          () => this.dump(kind),
          (n) => `${n.ifindex}/${n.ip}`,
        );
    }
  }

  /** Links, then addresses, routes of tables local and main and neighbors of both families.
   *  Addresses, neighbors and IPv6 routes are confirmed dumps (see dumpConfirmed: the IPv6 route
   *  dump restarts from the root and skips by count when the tree changes between parts); links
   *  and IPv4 routes are resumed by key in the kernel (ifindex, prefix), so one dump is whole. The
   *  dumps are not one atomic view: subscribe to events before taking it and apply them afterwards. */
  fullSnapshot(): NetSnapshot {
    return {
      links: this.dump("links"),
      addrs: this.dumpConfirmed("addrs"),
      routes: this.dump("routes"),
      neighs: this.dumpConfirmed("neighs"),
      addrs6: this.dumpConfirmed("addrs6"),
      routes6: this.dumpConfirmed("routes6"),
      neighs6: this.dumpConfirmed("neighs6"),
    };
  }

  /** Kernel-side neighbor resolution (RTM_NEWNEIGH + NTF_USE). Needs CAP_NET_ADMIN. */
  neighUse(ip: number, ifindex: number): void {
    const seq = this.nextSeq();
    this.transact(neighUseRequest(ip, ifindex, seq), seq, `RTM_NEWNEIGH(NTF_USE) ifindex ${ifindex}`);
  }

  /** Sends one request carrying NLM_F_ACK with sequence number seq and waits for its ack;
   *  a refusal throws NetlinkError with the kernel's text. */
  transact(request: Uint8Array, seq: number, what: string): void {
    this.io.netlinkSend(this.fd, request);
    let failure: NetlinkError | undefined;
    const outcome = this.receive(seq, what, (c) => {
      if (c.type !== NLMSG_ERROR) {
        this.counters.ignored_type++;
        return false;
      }
      const ack = this.decoder.ack();
      if (ack === undefined) throw new Error(`${what}: malformed NLMSG_ERROR reply (counted)`);
      if (ack.errno === 0) this.counters.acks++;
      else {
        this.counters.errors++;
        failure = new NetlinkError(what, ack);
      }
      return true;
    });
    if (failure) throw failure;
    if (outcome !== "complete")
      throw new Error(`${what}: reply lost (${outcome}); the request may or may not have applied`);
  }

  /** Next request sequence number (never 0). */
  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  private confirmed<T>(kind: DumpKind, dump: () => T[], identity: (record: T) => string): T[] {
    let previous = dump();
    let previousKeys = previous.map(identity);
    for (let attempt = 0; attempt < this.maxDumpRetries; attempt++) {
      const current = dump();
      const currentKeys = current.map(identity);
      if (sameMembers(previousKeys, currentKeys)) return current;
      this.counters.dump_unconfirmed++;
      previous = current;
      previousKeys = currentKeys;
    }
    throw new NetlinkDumpUnstableError(
      `netlink dump of ${kind}: entries kept changing across ${this.maxDumpRetries + 1} consecutive dumps`,
    );
  }

  private dumpRecords<T>(kind: DumpKind, decode: () => T | undefined): T[] {
    const records = this.query(
      `netlink dump of ${kind}`,
      (seq) => dumpRequest(kind, seq),
      DUMP_TYPES[kind].reply,
      decode,
    );
    this.counters.dumps++;
    this.counters.dump_records += records.length;
    return records;
  }

  /** Sends build(seq) and returns decode() of every reply message of type replyType, until the
   *  kernel ends the exchange: NLMSG_DONE for a dump, the ack for a request carrying NLM_F_ACK.
   *  Attempts the kernel flags interrupted (or that overran, or were damaged) are sent again, at
   *  most maxDumpRetries times: use it only for requests that change nothing. A refusal throws
   *  NetlinkError with the kernel's errno and extended-ack text. */
  query<T>(
    what: string,
    build: (seq: number) => Uint8Array,
    replyType: number,
    decode: (c: MessageCursor) => T | undefined,
  ): T[] {
    for (let attempt = 0; ; attempt++) {
      const result = this.queryOnce(what, build, replyType, decode);
      if (typeof result !== "string") return result;
      if (attempt >= this.maxDumpRetries)
        throw new NetlinkDumpUnstableError(
          `${what}: still inconsistent after ${attempt + 1} attempts (last: ${RESTART_REASONS[result]})`,
        );
      this.counters.dump_retries++;
    }
  }

  /** One attempt: the records, or why it must be restarted. */
  private queryOnce<T>(
    what: string,
    build: (seq: number) => Uint8Array,
    replyType: number,
    decode: (c: MessageCursor) => T | undefined,
  ): T[] | RestartReason {
    const seq = this.nextSeq();
    this.io.netlinkSend(this.fd, build(seq));
    const records: T[] = [];
    let interrupted = false;
    const outcome = this.receive(seq, what, (c) => {
      if ((c.flags & NLM_F_DUMP_INTR) !== 0) interrupted = true;
      if (c.type === NLMSG_DONE) {
        const done = this.decoder.done();
        if (done === undefined) throw new Error(`${what}: malformed NLMSG_DONE (counted)`);
        if (done.errno !== 0) {
          this.counters.errors++;
          throw new NetlinkError(what, done);
        }
        return true;
      }
      if (c.type === NLMSG_ERROR) {
        const ack = this.decoder.ack();
        if (ack === undefined) throw new Error(`${what}: malformed NLMSG_ERROR reply (counted)`);
        if (ack.errno === 0) return true;
        this.counters.errors++;
        throw new NetlinkError(what, ack);
      }
      if (c.type !== replyType) {
        this.counters.ignored_type++;
        return false;
      }
      const record = decode(c);
      if (record !== undefined) records.push(record);
      return false;
    });
    if (outcome !== "complete") return outcome;
    if (interrupted) return "interrupted";
    return records;
  }

  /** Receives datagrams until onMessage reports the reply complete (true), for messages with our
   *  sequence number and port id only. Bounded by the request timeout. */
  private receive(seq: number, what: string, onMessage: (c: MessageCursor) => boolean): ReceiveOutcome {
    const c = this.cursor;
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) {
        this.counters.timeouts++;
        throw new NetlinkTimeoutError(`${what}: no complete reply within ${this.timeoutMs} ms`);
      }
      const n = this.io.netlinkRecv(this.fd, c.bytes, Math.ceil(left));
      if (n === 0) continue;
      if (n === RECV_OVERRUN) {
        this.counters.enobufs++;
        return "overrun";
      }
      if (n === RECV_FOREIGN_SENDER) {
        this.counters.foreign_datagrams++;
        continue;
      }
      this.counters.datagrams++;
      c.reset(n);
      while (c.next()) {
        this.counters.messages++;
        if (c.seq !== seq || c.pid !== this.portId) {
          this.counters.stale_replies++;
          continue;
        }
        if (onMessage(c)) return "complete";
      }
      if (c.malformed) {
        this.counters[`malformed_${c.malformed}`]++;
        return "damaged";
      }
    }
  }
}

/** How the kernel identifies IPv6 objects. Unlike IPv4, IPv6 keeps several routes of one table,
 *  prefix and metric apart when their next hops differ (fe80::/64 and ff00::/8 on every
 *  interface): a route's identity includes its output interface and gateway (the first hop's, for
 *  a multipath route; the source prefix is always empty here). */
export const addr6Key = (a: Addr6Record): string => `${a.ifindex}/${words(a.address)}/${a.prefixLen}`;
export const route6Key = (r: Route6Record): string =>
  `${r.table}/${words(r.dst)}/${r.dstLen}/${r.priority}/${r.oif}/${words(r.gateway)}`;
export const neigh6Key = (n: Neigh6Record): string => `${n.ifindex}/${words(n.ip)}`;
/** What an IPv6 route replace (isRoute6Replace) matches on: table, prefix and metric. */
export const route6ReplaceKey = (r: Route6Record): string => `${r.table}/${words(r.dst)}/${r.dstLen}/${r.priority}`;
const words = (w: Uint32Array): string => formatIp6(w[0] ?? 0, w[1] ?? 0, w[2] ?? 0, w[3] ?? 0);

/** Both lists hold the same keys, each exactly once. */
function sameMembers(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  if (set.size !== a.length) return false;
  const seen = new Set<string>();
  for (const key of b) {
    if (!set.has(key) || seen.has(key)) return false;
    seen.add(key);
  }
  return true;
}
