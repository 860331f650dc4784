// Fuzz target for the rtnetlink decoder: any byte string, read as a datagram, must be walked and
// decoded (as every record kind, as an error and as a dump end) without throwing.
import { NLMSG_DONE, NLMSG_ERROR } from "./constants";
import { createCounters, type NetlinkCounters } from "./counters";
import { RecordDecoder } from "./decode";
import { MessageCursor } from "./wire";

/** Decodes bytes every way the netlink tile could; returns the counters. Never throws. */
export function fuzzDecodeCounted(bytes: Uint8Array): NetlinkCounters {
  const counters = createCounters();
  const cursor = new MessageCursor(bytes);
  const decoder = new RecordDecoder(cursor, counters);
  cursor.reset(bytes.byteLength);
  while (cursor.next()) {
    counters.messages++;
    // As the type says (what the event reader does)...
    if (cursor.type === NLMSG_ERROR) decoder.ack();
    else if (cursor.type === NLMSG_DONE) decoder.done();
    else decoder.event();
    // ...and as every other kind too, to reach every field check whatever the type.
    decoder.link();
    decoder.addr();
    decoder.route();
    decoder.neigh();
    decoder.ack();
    decoder.done();
  }
  if (cursor.malformed) counters[`malformed_${cursor.malformed}`]++;
  return counters;
}

/** The fuzz target: must never throw for any input. */
export function fuzzDecode(bytes: Uint8Array): void {
  fuzzDecodeCounted(bytes);
}
