// The pcap writer: the classic libpcap bytes (nanosecond magic, version 2.4, LINKTYPE_ETHERNET),
// byte for byte, so Wireshark and tshark open the output (the live test reads it with tshark).
import { describe, expect, it } from "vitest";
import { pcapGlobalHeader, pcapRecord } from "../shared/capture/pcap";

describe("pcap writer", () => {
  it("writes the 24-byte global header", () => {
    expect(pcapGlobalHeader(2048).toString("hex")).toBe(
      "4d3cb2a1" + "0200" + "0400" + "00000000" + "00000000" + "00080000" + "01000000",
    );
  });

  it("writes a record: seconds, nanoseconds, captured and original lengths, then the bytes", () => {
    const bytes = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);
    const record = pcapRecord(1_700_000_000, 123_456_789, 60, bytes);
    expect(record.toString("hex")).toBe("00f15365" + "15cd5b07" + "04000000" + "3c000000" + "deadbeef");
    bytes[0] = 0; // the record holds a copy
    expect(record[16]).toBe(0xde);
  });
});
