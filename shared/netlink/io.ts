// The socket operations the rtnetlink client and event reader need, and the special results of
// netlinkRecv. Normally the native addon; tests can stand in a scripted kernel.
import { type NativeAddon, native } from "../native";

/** netlinkRecv: the kernel dropped messages for this socket (ENOBUFS). */
export const RECV_OVERRUN = -1;
/** netlinkRecv: a datagram from a sender other than the kernel was discarded. */
export const RECV_FOREIGN_SENDER = -2;

/** netlinkRecvBatch record markers, in place of a datagram length. */
export const BATCH_OVERRUN = 0xffffffff;
export const BATCH_FOREIGN_SENDER = 0xfffffffe;
export const BATCH_TRUNCATED = 0xfffffffd;

export type NetlinkIo = Pick<NativeAddon, "netlinkSend" | "netlinkRecv" | "netlinkPortId" | "netlinkRecvBatch">;

export function nativeNetlinkIo(): NetlinkIo {
  return native();
}

/** Receive buffer size that holds any rtnetlink datagram (the kernel sizes dump parts to at most 32 KiB). */
export const DEFAULT_BUFFER_BYTES = 256 * 1024;
