// The builtin:dns module as the app tile runs it: settings and files checked in init with errors
// naming the key, answers through app.reply, nothing sent for datagrams that get no answer.
import { describe, expect, it } from "vitest";
import type { AppApi, UdpPacket } from "../tiles/app/api";
import { createDnsApp, dnsSettings } from "../tiles/app/builtin/dns/app";
import { decodeMessage, encodeQuery } from "../tiles/app/builtin/dns/decode";
import { loadAppModule } from "../tiles/app/loader";
import { exampleZoneBytes } from "./support/dns-zone";

function fakeApp(files: Record<string, Uint8Array>, settings: Record<string, unknown>) {
  const sent: Uint8Array[] = [];
  const api = {
    name: "dns",
    replica: 0,
    replicas: 1,
    ports: [53],
    settings,
    files,
    maxPayload: 2048,
    log: { info: () => {}, warn: () => {}, error: () => {} },
    reply: (_pkt: UdpPacket, payload: Uint8Array) => {
      sent.push(payload.slice());
      return true;
    },
    send: () => true,
    formatAddress: () => "",
    parseAddress: () => undefined,
  } as AppApi;
  return { api, sent };
}

function packet(bytes: Uint8Array): UdpPacket {
  return {
    srcIp: 1,
    srcPort: 5000,
    dstIp: 2,
    dstPort: 53,
    data: bytes,
    offset: 0,
    length: bytes.length,
    payload: bytes,
  };
}

describe("builtin:dns module", () => {
  it("is the loader's builtin:dns", () => {
    expect(typeof loadAppModule({ name: "d", modulePath: "builtin:dns", ports: [53] }).onPacket).toBe("function");
  });

  it("answers through app.reply and sends nothing for a datagram that gets no answer", () => {
    const { api, sent } = fakeApp({ zone: exampleZoneBytes() }, { origin: "example.test.", stats_interval_s: 0 });
    const app = createDnsApp();
    app.init?.(api);
    app.onPacket(packet(encodeQuery(9, "www.example.test", 1)), api);
    app.onPacket(packet(new Uint8Array(5)), api);
    expect(sent).toHaveLength(1);
    expect(decodeMessage(sent[0] as Uint8Array).answer).toHaveLength(2);
  });

  it.each([
    [{ origin: 5 }, /settings\.origin: expected a domain name/],
    [{ origin: "example.test.", max_udp_size: 100 }, /settings\.max_udp_size: expected an integer 512\.\.2048/],
    [{ stats_interval_s: -1 }, /settings\.stats_interval_s/],
    [{ oringin: "x." }, /settings\.oringin: unknown \(known: origin, max_udp_size, stats_interval_s\)/],
  ])("refuses settings %j naming the key", (settings, message) => {
    expect(() => dnsSettings(settings, 2048)).toThrow(message);
  });

  it("init fails clearly without a zone file, or with a broken zone (line number)", () => {
    const none = fakeApp({}, { origin: "example.test." });
    expect(() => createDnsApp().init?.(none.api)).toThrow(/no zone: add files = \{ zone = /);
    const broken = fakeApp(
      { zone: new TextEncoder().encode("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nx MX 1\n") },
      {
        origin: "z.test.",
      },
    );
    expect(() => createDnsApp().init?.(broken.api)).toThrow(/^zone line 4: MX takes 2 fields, got 1$/);
  });
});
