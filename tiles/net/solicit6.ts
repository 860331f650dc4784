// The IPv6 solicit encoder the net tile publishes with (a seam the tests replace).
export { encodeSolicit6 } from "../../shared/solicit/message";

import type { SolicitView } from "../../shared/solicit/message";

/** Writes one IPv6 solicit message (next hop a0..a3 on ifindex) at byteOffset; returns a
 *  SolicitCode (0 = ok). */
export type EncodeSolicit6 = (
  view: SolicitView,
  byteOffset: number,
  ifindex: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
) => number;
