// `routes = N` means any N routes, whatever their prefix lengths: /32s each in its own /24 block
// (the common case for host routes to peers, which used to overflow the tbl8 groups silently at
// N / 32 blocks), /25-/32 nested in one block, and the memory that takes grows with the routes
// held (a 64-byte group per block and a 64-byte row per /28 holding longer prefixes).
import { describe, expect, it } from "vitest";
import { initNetbase, netbaseRegionSize } from "../shared/netbase/layout";
import { RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { netbaseFullness } from "../tiles/netlink/capacity";
import { newWriter, route } from "./support/netbase-helpers";

const N = 4096;

describe("netbase capacity", () => {
  it("holds N /32 routes in N distinct /24 blocks, then frees every group and row", () => {
    const w = newWriter({ routes: N });
    const dsts = Array.from({ length: N }, (_, i) => (0x0b000000 + i * 256 + 77) >>> 0);
    for (const dst of dsts)
      expect(w.upsertRoute(route({ dst, dstLen: 32, gateway: 0x0a000001 + (dst & 3) }))).toBe(true);
    const c = w.counters();
    expect(c.routes_main).toBe(N);
    expect([c.drop_routes_full, c.drop_tbl8_full, c.drop_tbl8_rows_full, c.drop_nexthops_full]).toEqual([0, 0, 0, 0]);
    expect([c.tbl8_groups_used, c.tbl8_rows_used]).toEqual([N, N]);
    const out = new RouteResult();
    for (const dst of dsts) {
      expect(w.reader.lookupRoute(dst, out)).toBe(true);
      expect(out.gateway).toBe(0x0a000001 + (dst & 3));
      expect(w.reader.lookupRoute(dst + 1, out)).toBe(false);
      expect(w.reader.lookupRoute(dst - 1, out)).toBe(false);
    }
    const use = netbaseFullness(w);
    expect(use.routePct).toBeCloseTo(100);
    expect(use.structures.find((s) => s.name === "tbl8_groups")?.pct).toBeLessThan(100);
    for (const dst of dsts) expect(w.deleteRoute(route({ dst, dstLen: 32 }))).toBe(true);
    expect([w.counters().tbl8_groups_used, w.counters().tbl8_rows_used]).toEqual([0, 0]);
  });

  it("holds /25 to /32 nested in one block and answers each address by the longest", () => {
    const w = newWriter({ routes: 64 });
    const block = 0x0b000100;
    const rs = [25, 26, 27, 28, 29, 30, 31, 32].map((len, i) =>
      route({ dst: block, dstLen: len, gateway: 0x0a000001 + i }),
    );
    rs.push(route({ dst: block, dstLen: 24, gateway: 0x0a0000ff }));
    for (const r of rs) expect(w.upsertRoute(r)).toBe(true);
    const out = new RouteResult();
    for (let a = 0; a < 256; a++) {
      // The longest of these prefixes covering block + a: /L covers a when a < 2^(32 - L).
      const len = a === 0 ? 32 : Math.clz32(a);
      const want = len > 24 ? 0x0a000001 + (len - 25) : 0x0a0000ff;
      expect(w.reader.lookupRoute(block + a, out)).toBe(true);
      expect(out.gateway, `address .${a}`).toBe(want >>> 0);
    }
    expect([w.counters().tbl8_groups_used, w.counters().tbl8_rows_used]).toEqual([1, 1]);
    for (const r of rs.slice(0, 8).reverse()) expect(w.deleteRoute(r)).toBe(true);
    expect([w.counters().tbl8_groups_used, w.counters().tbl8_rows_used]).toEqual([0, 0]);
    expect(w.reader.lookupRoute(block + 3, out) && out.gateway).toBe(0x0a0000ff);
  });

  it("a restarted writer adopts groups and rows, and frees them when their routes go", () => {
    const caps = { routes: 256 };
    const buf = new ArrayBuffer(netbaseRegionSize(caps));
    initNetbase(buf, caps);
    const first = new NetbaseWriter(buf);
    const rs = Array.from({ length: 100 }, (_, i) =>
      route({ dst: 0x0b000000 + i * 256 + (i & 15) * 16, dstLen: 28 + (i & 3) }),
    );
    for (const r of rs) expect(first.upsertRoute(r)).toBe(true);
    const before = first.counters();
    const second = new NetbaseWriter(buf);
    expect([second.counters().tbl8_groups_used, second.counters().tbl8_rows_used]).toEqual([
      before.tbl8_groups_used,
      before.tbl8_rows_used,
    ]);
    expect(before.tbl8_rows_used).toBe(75); // the /28s need no row
    for (const r of rs) expect(second.deleteRoute(r)).toBe(true);
    expect([second.counters().tbl8_groups_used, second.counters().tbl8_rows_used]).toEqual([0, 0]);
  });

  it("counts what does not fit, and names the structure that filled first", () => {
    const w = newWriter({ routes: 16, tbl8Rows: 4 });
    let dropped = 0;
    for (let i = 0; i < 8; i++) if (!w.upsertRoute(route({ dst: 0x0b000000 + i * 256, dstLen: 32 }))) dropped++;
    expect(dropped).toBe(4);
    expect(w.counters().drop_tbl8_rows_full).toBe(4);
    const use = netbaseFullness(w);
    expect(use.drops).toBe(4);
    expect(use.routePct).toBe(100);
    expect(use.structures.filter((s) => s.pct >= 100).map((s) => s.name)).toEqual(["tbl8_rows"]);
  });
});
