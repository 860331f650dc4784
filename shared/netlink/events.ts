// Reading the subscription socket (RTMGRP_TILENET: links, neighbors, IPv4 and IPv6 addresses and
// routes): decodes
// every event of the datagrams waiting, into one reused buffer. An ENOBUFS means the kernel
// dropped events for us: drain reports overrun and the caller must resynchronise everything.
// Beware: the kernel sends no RTM_DELROUTE for the IPv4 routes it flushes when a link goes down
// (or loses its last address); a link event with up=false must be followed by a route resync.
import type { NetEvent } from "../netmodel";
import { NLM_F_REPLACE } from "./constants";
import { createCounters, type NetlinkCounters } from "./counters";
import { RecordDecoder } from "./decode";
import {
  BATCH_FOREIGN_SENDER,
  BATCH_OVERRUN,
  BATCH_TRUNCATED,
  DEFAULT_BUFFER_BYTES,
  type NetlinkIo,
  nativeNetlinkIo,
} from "./io";
import { align4, HOST_LITTLE_ENDIAN, MessageCursor } from "./wire";

/** Room for a batch record header and a small message; real use wants DEFAULT_BUFFER_BYTES. */
const MIN_BUFFER_BYTES = 64;

export interface DrainResult {
  /** Events decoded and handed to onEvent. */
  events: number;
  /** Datagrams received. */
  datagrams: number;
  /** Events were lost (ENOBUFS, or a datagram larger than the buffer): dump the state again. */
  overrun: boolean;
}

export interface EventReaderOptions {
  bufferBytes?: number;
  counters?: NetlinkCounters;
  io?: NetlinkIo;
}

export class EventReader {
  readonly counters: NetlinkCounters;
  private readonly io: NetlinkIo;
  private readonly cursor: MessageCursor;
  private readonly decoder: RecordDecoder;

  constructor(
    readonly fd: number,
    options: EventReaderOptions = {},
  ) {
    this.io = options.io ?? nativeNetlinkIo();
    this.counters = options.counters ?? createCounters();
    const bufferBytes = options.bufferBytes ?? DEFAULT_BUFFER_BYTES;
    if (!Number.isInteger(bufferBytes) || bufferBytes < MIN_BUFFER_BYTES)
      throw new RangeError(`EventReader: bufferBytes must be an integer >= ${MIN_BUFFER_BYTES}, got ${bufferBytes}`);
    this.cursor = new MessageCursor(new Uint8Array(bufferBytes));
    this.decoder = new RecordDecoder(this.cursor, this.counters);
  }

  /** Reads at most maxDatagrams datagrams (in batches: one native call for many datagrams),
   *  waiting up to timeoutMs for the first one only (0 = do not wait), and calls onEvent for each
   *  decoded event in kernel order, with its message's nlmsg_flags (NLM_F_REPLACE on an IPv6
   *  route event: the kernel replaced a route of the same table, prefix and metric and sends no
   *  RTM_DELROUTE for it, see isRoute6Replace). */
  drain(maxDatagrams: number, onEvent: (event: NetEvent, nlmsgFlags: number) => void, timeoutMs = 0): DrainResult {
    const c = this.cursor;
    const view = c.view;
    const counters = this.counters;
    let events = 0;
    let datagrams = 0;
    let records = 0;
    let overrun = false;
    let first = true;
    while (records < maxDatagrams) {
      const used = this.io.netlinkRecvBatch(this.fd, c.bytes, first ? timeoutMs : 0, maxDatagrams - records);
      first = false;
      if (used === 0) break;
      let at = 0;
      while (at + 4 <= used) {
        const length = view.getUint32(at, HOST_LITTLE_ENDIAN);
        at += 4;
        records++;
        if (length === BATCH_OVERRUN) {
          // The socket stays usable; keep reading what is queued after the loss.
          counters.enobufs++;
          overrun = true;
          continue;
        }
        if (length === BATCH_TRUNCATED) {
          // A datagram larger than the room left was consumed and lost: same remedy as ENOBUFS.
          counters.truncated++;
          overrun = true;
          continue;
        }
        if (length === BATCH_FOREIGN_SENDER) {
          counters.foreign_datagrams++;
          continue;
        }
        datagrams++;
        counters.datagrams++;
        c.resetRange(at, at + length);
        at += align4(length);
        while (c.next()) {
          counters.messages++;
          const event = this.decoder.event();
          if (event === undefined) continue;
          countEvent(counters, event);
          events++;
          onEvent(event, c.flags);
        }
        if (c.malformed) counters[`malformed_${c.malformed}`]++;
      }
    }
    return { events, datagrams, overrun };
  }
}

/** An IPv6 route event that replaced the first route of its (table, prefix, metric) in the kernel
 *  (NLM_F_REPLACE), whatever that one's next hop was: no RTM_DELROUTE follows for the route it
 *  replaced. (IPv4 identifies routes by table, prefix, TOS and metric, so there a replace is an
 *  upsert; IPv6 keeps same-metric routes through different next hops apart.) */
export function isRoute6Replace(event: NetEvent, nlmsgFlags: number): boolean {
  return event.kind === "route6" && event.op === "new" && (nlmsgFlags & NLM_F_REPLACE) !== 0;
}

function countEvent(counters: NetlinkCounters, event: NetEvent): void {
  // Plain property increments: a computed key would build a string per event.
  switch (event.kind) {
    case "link":
      counters.events_link++;
      break;
    case "addr":
      counters.events_addr++;
      break;
    case "route":
      counters.events_route++;
      break;
    case "neigh":
      counters.events_neigh++;
      break;
    case "addr6":
      counters.events_addr6++;
      break;
    case "route6":
      counters.events_route6++;
      break;
    case "neigh6":
      counters.events_neigh6++;
      break;
  }
}
