// The app tile body with IPv6, the test playing the net tile on the channels: a datagram says
// its family, its IPv6 addresses are reused word views (nothing allocated per packet), the
// README's echo replies to IPv6 unchanged (swapped addresses, same interface, same bytes),
// send takes an IPv4 number, IPv6 words or text, and the address helpers format and parse.
import { describe, expect, it } from "vitest";
import { formatIp6, parseIp6 } from "../shared/ip6";
import { UDP6_PAYLOAD_ALIGN, UdpChannelReader, UdpChannelWriter, type UdpMessage } from "../shared/udp/channel";
import type { AppApi, AppModule, UdpPacket } from "../tiles/app/api";
import { AppTileBody } from "../tiles/app/body";
import { type AppTileConfig, appMetrics } from "../tiles/app/definition";
import { echoApp } from "../tiles/app/echo";
import { captureLog, ipv4, makeChannel, makeMetrics } from "./support/dataplane-helpers";

const ip6 = (t: string) => parseIp6(t) as Uint32Array;
const text6 = (w: ArrayLike<number>) => formatIp6(w[0], w[1], w[2], w[3]);

function harness(module: AppModule) {
  const config: AppTileConfig = {
    name: "t",
    modulePath: "builtin:echo",
    ports: [7000],
    settings: {},
    channelDepth: 64,
    maxPayload: 256,
  };
  const rx = makeChannel("rx", 64, 256);
  const tx = makeChannel("tx", 64, 256);
  const metrics = makeMetrics("app-t", "app", appMetrics);
  const body = new AppTileBody({ config, metrics, module, log: captureLog(), rx, tx });
  return {
    body,
    toApp: new UdpChannelWriter("to-app", "rx", rx, 64, 256),
    fromApp: new UdpChannelReader("from-app", "tx", tx, 64, 256),
  };
}
type Harness = ReturnType<typeof harness>;

function deliver6(h: Harness, src: string, dst: string, srcPort: number, text: string, ifindex = 2): void {
  const at = h.toApp.begin(6);
  const bytes = new TextEncoder().encode(text);
  h.toApp.data.u8.set(bytes, at);
  h.toApp.finish6(ip6(src), 0, ip6(dst), 0, srcPort, 7000, bytes.length, ifindex);
  h.toApp.flush();
}

function drain(h: Harness) {
  const out: {
    family: number;
    src: string;
    dst: string;
    ports: number[];
    ifindex: number;
    text: string;
    align: number;
  }[] = [];
  h.fromApp.poll(64, (m: UdpMessage) => {
    out.push({
      family: m.family,
      src: m.family === 6 ? text6(m.src6) : String(m.srcIp),
      dst: m.family === 6 ? text6(m.dst6) : String(m.dstIp),
      ports: [m.srcPort, m.dstPort],
      ifindex: m.ifindex,
      text: new TextDecoder().decode(h.fromApp.data.u8.subarray(m.offset, m.offset + m.length)),
      align: m.offset & 7,
    });
  });
  h.fromApp.release();
  return out;
}

describe("app tile body with IPv6", () => {
  it("the README's echo answers IPv6 unchanged: swapped addresses, same interface, same bytes, aligned", () => {
    const h = harness(echoApp);
    deliver6(h, "2001:2::2", "2001:2::1", 40000, "hello");
    deliver6(h, "fe80::9", "fe80::aa", 40001, "link-local", 5);
    h.body.poll(1);
    expect(drain(h)).toEqual([
      {
        family: 6,
        src: "2001:2::1",
        dst: "2001:2::2",
        ports: [7000, 40000],
        ifindex: 2,
        text: "hello",
        align: UDP6_PAYLOAD_ALIGN,
      },
      {
        family: 6,
        src: "fe80::aa",
        dst: "fe80::9",
        ports: [7000, 40001],
        ifindex: 5,
        text: "link-local",
        align: UDP6_PAYLOAD_ALIGN,
      },
    ]);
  });

  it("says the family, fills reused word views, and IPv4 datagrams keep working beside IPv6", () => {
    const seen: string[] = [];
    const views = new Set<Uint32Array>();
    const h = harness({
      onPacket(pkt: UdpPacket, app: AppApi) {
        views.add(pkt.src6 as Uint32Array);
        const from = pkt.family === 6 ? app.formatAddress(pkt.src6 as Uint32Array) : app.formatAddress(pkt.srcIp);
        seen.push(`${pkt.family} ${from} ${pkt.ifindex}`);
        app.reply(pkt, pkt.data, pkt.offset, pkt.length);
      },
    });
    deliver6(h, "2001:2::2", "2001:2::1", 1, "a");
    const at = h.toApp.begin();
    h.toApp.data.u8[at] = 98;
    h.toApp.finish(ipv4("198.18.5.2"), ipv4("198.18.5.1"), 2, 7000, 1, 3);
    h.toApp.flush();
    deliver6(h, "2001:2::3", "2001:2::1", 3, "c");
    h.body.poll(1);
    expect(seen).toEqual(["6 2001:2::2 2", "4 198.18.5.2 3", "6 2001:2::3 2"]);
    expect(views.size).toBe(1);
    const out = drain(h);
    expect(out.map((o) => [o.family, o.dst, o.text, o.align])).toEqual([
      [6, "2001:2::2", "a", 6],
      [4, String(ipv4("198.18.5.2")), "b", 2],
      [6, "2001:2::3", "c", 6],
    ]);
  });

  it("send takes an IPv4 number, IPv6 words, text of either, and a v4-mapped address as IPv4", () => {
    let api: AppApi | undefined;
    const h = harness({
      init: (a) => {
        api = a;
      },
      onPacket: () => {},
    });
    h.body.start();
    const app = api as AppApi;
    const p = new TextEncoder().encode("x");
    expect(app.send(ipv4("198.18.9.9"), 53, 7000, p)).toBe(true);
    expect(app.send(ip6("2001:2::53"), 53, 7000, p)).toBe(true);
    expect(app.send("2001:2::54", 53, 7000, p)).toBe(true);
    expect(app.send("198.18.9.10", 53, 7000, p)).toBe(true);
    expect(app.send(ip6("::ffff:198.18.9.11"), 53, 7000, p)).toBe(true);
    expect(() => app.send("2001:2::zz", 53, 7000, p)).toThrow(RangeError);
    expect(() => app.send(new Uint32Array(3), 53, 7000, p)).toThrow(RangeError);
    expect(() => app.send(ip6("2001:2::53"), 53, 7001, p)).toThrow(/not one of its ports/);
    h.body.poll(2);
    expect(drain(h).map((o) => [o.family, o.src, o.dst, o.ifindex])).toEqual([
      [4, "0", String(ipv4("198.18.9.9")), 0],
      [6, "::", "2001:2::53", 0],
      [6, "::", "2001:2::54", 0],
      [4, "0", String(ipv4("198.18.9.10")), 0],
      [4, "0", String(ipv4("198.18.9.11")), 0],
    ]);
    expect(app.formatAddress(ipv4("198.18.0.1"))).toBe("198.18.0.1");
    expect(app.formatAddress(ip6("2001:2::1"))).toBe("2001:2::1");
    expect(app.parseAddress("198.18.0.1")).toBe(ipv4("198.18.0.1"));
    expect([...(app.parseAddress("2001:2::1") as Uint32Array)]).toEqual([0x20010002, 0, 0, 1]);
    expect(app.parseAddress("nope")).toBeUndefined();
  });
});
