// The netbase region's declared layout: sizes from capacities, the header every mapper validates
// (with clear errors), the constants group for C, and a reader over a real read-only mapping.
import { describe, expect, it } from "vitest";
import { native } from "../shared/native";
import {
  DEFAULT_NETBASE_CAPACITIES,
  H_CAP_ROUTES,
  H_MAGIC,
  H_OFF_TBL8,
  H_VERSION,
  initNetbase,
  NETBASE_HEADER_BYTES,
  NETBASE_LAYOUT_CONSTANTS,
  NETBASE_VERSION,
  netbaseCapacities,
  netbaseLayout,
  netbaseRegionSize,
  validateNetbase,
} from "../shared/netbase/layout";
import { NetbaseReader, RouteResult } from "../shared/netbase/reader";
import { NetbaseWriter } from "../shared/netbase/writer";
import { ip, route } from "./support/netbase-helpers";

const MiB = 2 ** 20;

describe("netbase region layout", () => {
  it("derives sizes from capacities: default and a full Internet table", () => {
    expect(DEFAULT_NETBASE_CAPACITIES).toMatchObject({
      routes: 65536,
      neighbors: 65536,
      interfaces: 256,
      addrsPerInterface: 16,
    });
    const def = netbaseRegionSize({});
    const full = netbaseRegionSize({ routes: 1_000_000 });
    // tbl24 alone is 64 MiB; the rest grows with the capacities.
    expect(def).toBeGreaterThan(64 * MiB);
    expect(def).toBeLessThan(96 * MiB);
    expect(full).toBeGreaterThan(def);
    // Sized so that any 1M routes fit (a tbl8 group and row of 64 bytes per route longer than /24,
    // plus headroom): address space; memory is used only where written.
    expect(full).toBeLessThan(288 * MiB);
    const l = netbaseLayout({ routes: 1_000_000 });
    expect(l.caps.nexthops).toBe(1_125_000);
    expect(l.caps.tbl8Groups).toBe(1_125_000);
    expect(l.caps.tbl8Rows).toBe(1_125_000);
    const offsets = [
      l.interfacesOffset,
      l.neighborsOffset,
      l.tbl24Offset,
      l.tbl8Offset,
      l.nexthopsOffset,
      l.routesOffset,
    ];
    expect(offsets.every((o) => o % 4096 === 0)).toBe(true);
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    expect(l.tbl8Offset - l.tbl24Offset).toBe(64 * MiB);
  });

  it("rejects capacities out of range with the offending name", () => {
    expect(() => netbaseCapacities({ routes: 0 })).toThrow(
      /capacity routes must be an integer from 1 to 4000000 \(got 0\)/,
    );
    expect(() => netbaseCapacities({ neighbors: 1.5 })).toThrow(/capacity neighbors/);
    expect(() => netbaseCapacities({ tbl8Groups: 2 ** 23 })).toThrow(/capacity tbl8Groups/);
    expect(() => initNetbase(new ArrayBuffer(4096), { routes: 16 })).toThrow(
      /smaller than the \d+ bytes these capacities need/,
    );
  });

  it("validates the header of every mapping with clear errors", () => {
    const caps = { routes: 16, neighbors: 16, interfaces: 4 };
    const buf = new ArrayBuffer(netbaseRegionSize(caps));
    expect(() => validateNetbase(buf)).toThrow(/bad magic 0x0 .*not an initialized netbase region/);
    expect(() => validateNetbase(new ArrayBuffer(100))).toThrow(/smaller than the 4096-byte header/);
    initNetbase(buf, caps);
    expect(validateNetbase(buf).caps.routes).toBe(16);
    const h = new Int32Array(buf, 0, NETBASE_HEADER_BYTES / 4);
    h[H_VERSION] = 99;
    expect(() => new NetbaseReader(buf)).toThrow(
      new RegExp(`layout version 99 but this build reads version ${NETBASE_VERSION}`),
    );
    initNetbase(buf, caps);
    h[H_OFF_TBL8] += 4096;
    expect(() => new NetbaseWriter(buf)).toThrow(/header tbl8 offset is \d+ but the capacities give \d+/);
    initNetbase(buf, caps);
    h[H_CAP_ROUTES] = 100_000; // capacities of a bigger region than this header describes
    expect(() => validateNetbase(buf)).toThrow(/header region size is \d+ but the capacities give \d+/);
    initNetbase(buf, caps);
    expect(() => validateNetbase(buf.slice(0, buf.byteLength - 4096))).toThrow(
      /mapping of \d+ bytes is smaller than the region/,
    );
    h[H_CAP_ROUTES] = -5;
    expect(() => validateNetbase(buf)).toThrow(/invalid capacities: .*routes/);
    h[H_MAGIC] = 0x12345678;
    expect(() => validateNetbase(buf)).toThrow(/bad magic 0x12345678/);
  });

  it("exports its constants as one prefixed group (for a generated C header)", () => {
    expect(NETBASE_LAYOUT_CONSTANTS.prefix).toBe("TN_NETBASE_");
    const entries = Object.entries(NETBASE_LAYOUT_CONSTANTS.constants);
    expect(entries.length).toBeGreaterThan(50);
    for (const [name, value] of entries) {
      expect(name).toMatch(/^[A-Z0-9_]+$/);
      expect(Number.isInteger(value)).toBe(true);
    }
  });

  it("serves lookups through a read-only mapping of a sealed memfd (the tiles' view)", () => {
    const addon = native();
    const caps = { routes: 64, neighbors: 16, interfaces: 4 };
    const fd = addon.memfdCreate("tn-netbase-layout-test", netbaseRegionSize(caps));
    try {
      const rw = addon.mapFd(fd, 0, true);
      initNetbase(rw, caps);
      const writer = new NetbaseWriter(rw);
      addon.sealReadOnly(fd);
      const roFd = addon.openPath(`/proc/self/fd/${fd}`, false);
      expect(() => addon.mapFd(roFd, 0, true)).toThrow(/EACCES|EPERM/);
      const reader = new NetbaseReader(addon.mapFd(roFd, 0, false));
      addon.closeFd(roFd);
      const out = new RouteResult();
      expect(reader.lookupRoute(ip("10.1.2.3"), out)).toBe(false);
      writer.upsertRoute(route({ dst: ip("10.0.0.0"), dstLen: 8, gateway: ip("192.0.2.1") }));
      expect(reader.lookupRoute(ip("10.1.2.3"), out) && out.gateway).toBe(ip("192.0.2.1"));
      expect(reader.syncGeneration()).toBeGreaterThan(0);
      expect(reader.counters().routes_main).toBe(1);
    } finally {
      addon.closeFd(fd);
    }
  });
});
