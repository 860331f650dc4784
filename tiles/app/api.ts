// What an app module sees (the README's "App tiles" section is copied from this comment).
//
// An app is one CommonJS file (bundle it first if it has dependencies), configured as
//
//   [[app]]
//   name = "echo2"
//   module = "/path/to/echo2.js"     # or "builtin:echo"
//   ports = [7001]
//   settings = { greeting = "hi" }    # free-form, handed to the module as app.settings
//
// and exporting (module.exports = { ... }, or a default export holding them):
//
//   ports?: number[]                              the UDP ports it owns; when present they must
//                                                 equal the config's ports (else the tile refuses
//                                                 to start, naming both lists)
//   init?(app: AppApi): void                      once, inside the sandbox, before the first packet;
//                                                 a throw stops the tile
//   onPacket(pkt: UdpPacket, app: AppApi): void   for every datagram to one of its ports
//
// Life cycle and sandbox: the launcher stages the file; the tile reads its text before the
// sandbox but compiles and runs it only after its seccomp filter is installed on every thread, so
// no line of the module (top level included) runs unsandboxed. `require` inside the module gives
// Node's built-in modules only (bundle any dependency into the one file). The top level, init and
// onPacket run under the filter: no files, no sockets, no child processes, no new threads
// (computing, memory and the AppApi below are fine). A forbidden system call kills the tile with
// SIGSYS, and the launcher says which call. A throw in the top level or in init stops the tile
// with the error logged as it is.
// An exception thrown by onPacket is caught and counted (metric handler_exceptions) and logged
// at most once per second; the tile keeps running.
//
// Packets: `pkt` is one object reused for every call, and its bytes live in the tile's receive
// region, which is read-only memory: reading is free, writing to it kills the tile (SIGSEGV).
// The payload is pkt.data[pkt.offset, pkt.offset + pkt.length); pkt.payload gives the same bytes
// as a fresh view (one small allocation per access). Both are valid only during onPacket: copy
// what you keep.
//
// Sending: reply() and send() copy the payload into the tile's transmit region and queue it for
// the net tile; they return false when the transmit ring is full (counted as tx_ring_full; the
// datagram is not sent). Payloads longer than app.maxPayload, or a source port the app does not
// own, throw a RangeError.
//
// Addresses, IPv4 and IPv6: pkt.family is 4 or 6. IPv4 addresses are host-order numbers:
// 198.18.0.1 is 0xc6120001 (`(198 << 24 | 18 << 16 | 0 << 8 | 1) >>> 0`), in pkt.srcIp /
// pkt.dstIp. IPv6 addresses are four 32-bit words, word i = bytes 4i..4i+3 big-endian
// (2001:2::1 is [0x20010002, 0, 0, 1]), in pkt.src6 / pkt.dst6: Uint32Array(4)s reused for every
// packet (copy what you keep; an IPv4 packet has [ip, 0, 0, 0] there). Nothing is allocated per
// packet for either family. app.formatAddress(pkt.src6 or pkt.srcIp) gives text (allocates: for
// logs); app.parseAddress(text) gives a number (IPv4) or a new Uint32Array(4) (IPv6), to parse once
// and keep. reply(pkt, ...) answers either family the same way (a link-local IPv6 source is
// answered out of the interface it arrived on, pkt.ifindex). send(dst, ...) takes an IPv4 number,
// an IPv6 Uint32Array(4) (words), or text (parsed on every call, which allocates: parse once
// instead on a hot path); a link-local IPv6 destination leaves through the interface of the
// channel send picks (the only one unless the app spans several interfaces: reply() then).
//
// Data, randomness, timers (README, "Data files, randomness, timers"): app.files.KEY holds the
// bytes of each file named in [[app]].files, read by the launcher; crypto.randomBytes and
// getRandomValues work (getrandom is allowed); setTimeout/setInterval run between polling slices.
// State per flow lives in the module, keyed by numbers, bounded, swept by a timer (README,
// "Per-flow state and work that spans datagrams").
//
// Fastest echo (no allocation per packet):
//   exports.onPacket = (pkt, app) => { app.reply(pkt, pkt.data, pkt.offset, pkt.length); };

export interface UdpPacket {
  /** 4 or 6 (absent on an app's own packet-like object: 4). */
  readonly family?: 4 | 6;
  /** Source and destination IPv4 as host-order numbers (IPv6: the addresses' first words). */
  readonly srcIp: number;
  readonly srcPort: number;
  readonly dstIp: number;
  readonly dstPort: number;
  /** The addresses as four words each (IPv6; IPv4: [ip, 0, 0, 0]); reused for every packet. */
  readonly src6?: Uint32Array;
  readonly dst6?: Uint32Array;
  /** The interface the datagram arrived on (the scope of a link-local address). */
  readonly ifindex?: number;
  /** The whole receive region (read-only memory). The payload is data[offset, offset + length). */
  readonly data: Uint8Array;
  readonly offset: number;
  readonly length: number;
  /** The payload as a new view over `data` (allocates; valid only during onPacket). */
  readonly payload: Uint8Array;
}

export interface AppLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface AppApi {
  /** App name from the config. */
  readonly name: string;
  /** Which replica this tile is (0-based) of `replicas` ([[app]] replicas; a flow always reaches
   *  the same one): state sharded by flow needs no sharing between replicas. */
  readonly replica: number;
  readonly replicas: number;
  /** The UDP ports this app owns. */
  readonly ports: readonly number[];
  /** The [[app]].settings table from the config. */
  readonly settings: Readonly<Record<string, unknown>>;
  /**
   * The [[app]].files table: each key's file, read by the launcher before the sandbox (a regular
   * file, at most 16 MiB) and handed over as bytes. The app's own copy: it may change it.
   */
  readonly files: Readonly<Record<string, Uint8Array>>;
  /** Largest payload reply/send accept (and the largest that can arrive). */
  readonly maxPayload: number;
  readonly log: AppLog;
  /**
   * Sends bytes [offset, offset + length) of payload (default: all of it) back to the packet's
   * source, from the address and port it arrived on. False if the transmit ring is full.
   */
  reply(pkt: UdpPacket, payload: Uint8Array, offset?: number, length?: number): boolean;
  /**
   * Sends a datagram from srcPort (one of this app's ports) to dst:dstPort; the source address
   * is the route's. dst: an IPv4 host-order number, an IPv6 address as a Uint32Array(4) of words,
   * or text of either (parsed per call: allocates). False if the transmit ring is full; a
   * malformed dst throws a RangeError.
   */
  send(
    dst: number | Uint32Array | string,
    dstPort: number,
    srcPort: number,
    payload: Uint8Array,
    offset?: number,
    length?: number,
  ): boolean;
  /** Text of an address: an IPv4 number, or IPv6 words (a Uint32Array(4), e.g. pkt.src6). */
  formatAddress(addr: number | Uint32Array): string;
  /** An IPv4 number or a new IPv6 Uint32Array(4) from text; undefined when malformed. */
  parseAddress(text: string): number | Uint32Array | undefined;
}

export interface AppModule {
  ports?: number[];
  init?(app: AppApi): void;
  onPacket(pkt: UdpPacket, app: AppApi): void;
}

export function isAppModule(m: unknown): m is AppModule {
  return typeof m === "object" && m !== null && typeof (m as { onPacket?: unknown }).onPacket === "function";
}
