// The IPv6 solicit encoder, behind a tiny adapter: helper v6-solicit adds
// `encodeSolicit6(view, offset, ifindex, a0, a1, a2, a3)` to shared/solicit/message.ts on its
// branch. Until that is merged the lookup below finds nothing and the net tile counts an IPv6
// neighbor miss without publishing (solicits6_unsupported). Once merged, this file may become
//   export { encodeSolicit6 } from "../../shared/solicit/message";
// (the lookup already picks it up as it is).

import type { SolicitView } from "../../shared/solicit/message";
import * as solicitMessage from "../../shared/solicit/message";

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

/** Looked up by name (a computed key: the bundler does not warn about the missing export). */
const EXPORT_NAME: string = "encodeSolicit6";
const found = (solicitMessage as unknown as Record<string, unknown>)[EXPORT_NAME];

export const encodeSolicit6: EncodeSolicit6 | undefined =
  typeof found === "function" ? (found as EncodeSolicit6) : undefined;
