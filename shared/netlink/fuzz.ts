// Fuzz target for the rtnetlink decoder: any byte string, read as a datagram, must be walked and
// decoded (as its type says, then as every other record kind of both families, an error and a
// dump end) without throwing. The netstate library's decoders (links, addresses, routes, neighbors, rules, generic
// netlink and ethtool replies) are run on every message too: for links, addresses, routes and
// neighbors both sides project the same walk (LinkScan... in *-msg.ts), which is fuzzed twice over.

import { AddressDecoder } from "./addr-msg";
import { NLMSG_DONE, NLMSG_ERROR } from "./constants";
import { createCounters, type NetlinkCounters } from "./counters";
import { RecordDecoder } from "./decode";
import { CHANNEL_FIELDS, GenlDecoder, RING_FIELDS } from "./ethtool-msg";
import { LinkDecoder } from "./link-msg";
import { NeighborDecoder } from "./neigh-msg";
import { RouteDecoder } from "./route-msg";
import { RuleDecoder } from "./rule-msg";
import { MessageCursor } from "./wire";

/** The netstate decoders over one cursor; each call decodes the cursor's current message. */
export class NetstateDecoders {
  readonly link: LinkDecoder;
  readonly address: AddressDecoder;
  readonly route: RouteDecoder;
  readonly neighbor: NeighborDecoder;
  readonly rule: RuleDecoder;
  readonly genl: GenlDecoder;

  constructor(cursor: MessageCursor) {
    this.link = new LinkDecoder(cursor);
    this.address = new AddressDecoder(cursor);
    this.route = new RouteDecoder(cursor);
    this.neighbor = new NeighborDecoder(cursor);
    this.rule = new RuleDecoder(cursor);
    this.genl = new GenlDecoder(cursor);
  }

  /** Every decoder on the current message; the records that came out (for checks by tests). */
  all(): unknown[] {
    const g = this.genl;
    return [
      this.link.link(),
      this.address.address(),
      this.route.route(),
      this.neighbor.neighbor(),
      this.rule.rule(),
      g.familyId(),
      g.features(),
      g.counts(CHANNEL_FIELDS),
      g.counts(RING_FIELDS),
    ].filter((r) => r !== undefined);
  }
}

/** Decodes bytes every way the netlink tile could. Returns the counters of decoding each message
 *  as its type says (what the tile does); the cross-kind attempts count elsewhere. Never throws. */
export function fuzzDecodeCounted(bytes: Uint8Array): NetlinkCounters {
  const counters = createCounters();
  const cursor = new MessageCursor(bytes);
  const decoder = new RecordDecoder(cursor, counters);
  const crossKind = new RecordDecoder(cursor, createCounters());
  const netstate = new NetstateDecoders(cursor);
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
    crossKind.addr6();
    crossKind.route6();
    crossKind.neigh6();
    crossKind.ack();
    crossKind.done();
    netstate.all();
  }
  if (cursor.malformed) counters[`malformed_${cursor.malformed}`]++;
  return counters;
}

/** The fuzz target: must never throw for any input. */
export function fuzzDecode(bytes: Uint8Array): void {
  fuzzDecodeCounted(bytes);
}
