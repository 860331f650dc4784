// What an app module sees. An app module is a single CommonJS file (bundle your app first if it
// has dependencies) exporting:
//   ports?: number[]                     the UDP ports it owns (must equal the config's ports)
//   init?(app: AppApi): void             once, inside the sandbox, before the first packet
//   onPacket(pkt: UdpPacket, app: AppApi): void   for every datagram to one of its ports
// `pkt` and `pkt.payload` are reused between calls: copy what you keep.

export interface UdpPacket {
  /** Source and destination IPv4 as host-order numbers (see ipToString in the README). */
  srcIp: number;
  srcPort: number;
  dstIp: number;
  dstPort: number;
  /** The datagram's payload (valid only during onPacket). */
  payload: Uint8Array;
}

export interface AppApi {
  /** App name from the config. */
  name: string;
  /** The [[app]].settings table from the config. */
  settings: Record<string, unknown>;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
  /** Sends payload back to the packet's source, from the port it arrived on. False if the TX ring is full. */
  reply(pkt: UdpPacket, payload: Uint8Array): boolean;
  /** Sends a datagram; false if the TX ring is full (counted). */
  send(dstIp: number, dstPort: number, srcPort: number, payload: Uint8Array): boolean;
}

export interface AppModule {
  ports?: number[];
  init?(app: AppApi): void;
  onPacket(pkt: UdpPacket, app: AppApi): void;
}

export function isAppModule(m: unknown): m is AppModule {
  return typeof m === "object" && m !== null && typeof (m as { onPacket?: unknown }).onPacket === "function";
}
