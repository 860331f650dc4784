// Metric keys are typed from the declaration: a tile's lookups are checked by the compiler
// (the @ts-expect-error lines fail `npm run lint` if a misspelt name ever type-checks), and at
// run time every declared name maps to its index in the region.
import { describe, expect, it } from "vitest";
import { metricIndexes } from "../shared/metrics/keys";
import { appMetrics } from "../tiles/app/definition";
import { netMetrics, RX_PARSE_DROP_NAMES } from "../tiles/net/definition";
import { makeMetrics } from "./support/dataplane-helpers";

describe("typed metric keys", () => {
  it("index every declared metric by its declared name", () => {
    const writer = makeMetrics("app-t", "app", appMetrics);
    const ix = metricIndexes(writer, appMetrics);
    for (const d of appMetrics) expect(ix[d.name]).toBe(writer.index(d.name));
    writer.add(ix.tx_packets, 3);
    expect(writer.get(writer.index("tx_packets"))).toBe(3);
    // @ts-expect-error: not a declared app metric
    expect(ix.tx_packetz).toBeUndefined();
  });

  it("type families by their template (rx_drop_<reason>)", () => {
    const writer = makeMetrics("net-t", "net", netMetrics);
    const ix = metricIndexes(writer, netMetrics);
    for (const reason of RX_PARSE_DROP_NAMES) expect(ix[`rx_drop_${reason}`]).toBe(writer.index(`rx_drop_${reason}`));
    const reason = RX_PARSE_DROP_NAMES[0] ?? "";
    // @ts-expect-error: no such family
    expect(ix[`rx_dorp_${reason}`]).toBeUndefined();
  });

  it("refuse a writer whose region lacks a declared metric (a stale region fails at start-up)", () => {
    const writer = makeMetrics("app-t", "app", appMetrics.slice(1));
    expect(() => metricIndexes(writer, appMetrics)).toThrow(/no metric named "rx_packets"/);
  });
});
