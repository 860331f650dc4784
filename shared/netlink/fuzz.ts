// Fuzz target for the rtnetlink decoder: any byte string, read as a datagram, must be walked and
// decoded (as its type says, then as every other record kind, an error and a dump end) without
// throwing.
import { NLMSG_DONE, NLMSG_ERROR } from "./constants";
import { createCounters, type NetlinkCounters } from "./counters";
import { RecordDecoder } from "./decode";
import { MessageCursor } from "./wire";

/** Decodes bytes every way the netlink tile could. Returns the counters of decoding each message
 *  as its type says (what the tile does); the cross-kind attempts count elsewhere. Never throws. */
export function fuzzDecodeCounted(bytes: Uint8Array): NetlinkCounters {
  const counters = createCounters();
  const cursor = new MessageCursor(bytes);
  const decoder = new RecordDecoder(cursor, counters);
  const crossKind = new RecordDecoder(cursor, createCounters());
  cursor.reset(bytes.byteLength);
  while (cursor.next()) {
    counters.messages++;
    if (cursor.type === NLMSG_ERROR) {
      if (decoder.ack()?.errno === 0) counters.acks++;
    } else if (cursor.type === NLMSG_DONE) decoder.done();
    else {
      const event = decoder.event();
      if (event) counters[`events_${event.kind}`]++;
    }
    crossKind.link();
    crossKind.addr();
    crossKind.route();
    crossKind.neigh();
    crossKind.ack();
    crossKind.done();
  }
  if (cursor.malformed) counters[`malformed_${cursor.malformed}`]++;
  return counters;
}

/** The fuzz target: must never throw for any input. */
export function fuzzDecode(bytes: Uint8Array): void {
  fuzzDecodeCounted(bytes);
}
