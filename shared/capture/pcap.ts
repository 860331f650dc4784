// Classic libpcap file format (what tcpdump -w writes, what Wireshark and tshark read):
// a 24-byte global header, then per packet a 16-byte record header and the captured bytes.
// Little-endian, the nanosecond-resolution magic (the ring keeps nanoseconds).

export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_GLOBAL_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;

export function pcapGlobalHeader(snapLenBytes: number): Buffer {
  const b = Buffer.alloc(PCAP_GLOBAL_HEADER_BYTES);
  b.writeUInt32LE(PCAP_MAGIC_NANOSECONDS, 0);
  b.writeUInt16LE(2, 4); // version 2.4
  b.writeUInt16LE(4, 6);
  b.writeInt32LE(0, 8); // thiszone: timestamps are UTC
  b.writeUInt32LE(0, 12); // sigfigs
  b.writeUInt32LE(snapLenBytes, 16);
  b.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return b;
}

/** One packet: record header and a copy of its bytes (the source may be reused afterwards). */
export function pcapRecord(tsSec: number, tsNsec: number, origLenBytes: number, bytes: Uint8Array): Buffer {
  const b = Buffer.alloc(PCAP_RECORD_HEADER_BYTES + bytes.length);
  b.writeUInt32LE(tsSec >>> 0, 0);
  b.writeUInt32LE(tsNsec >>> 0, 4);
  b.writeUInt32LE(bytes.length, 8);
  b.writeUInt32LE(origLenBytes >>> 0, 12);
  b.set(bytes, PCAP_RECORD_HEADER_BYTES);
  return b;
}
