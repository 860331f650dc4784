// The library's errors: a refused argument (before anything is sent) names it; a refusal by the
// kernel is a NetlinkError carrying its errno and extended-ack text.
export { NetlinkDumpUnstableError, NetlinkError, NetlinkTimeoutError } from "../netlink/client";

/** A user argument was refused before anything was sent to the kernel. */
export class NetstateArgumentError extends TypeError {
  /** The name of the refused argument, e.g. "name" or "peer.numTxQueues". */
  readonly argument: string;

  constructor(operation: string, argument: string, problem: string) {
    super(`${operation}: ${argument} ${problem}`);
    this.name = "NetstateArgumentError";
    this.argument = argument;
  }
}
