// Which data plane runs and why, as an operator reads it: the status table's provider line and
// Prometheus' tilenet_net_provider_info (labels provider, configured, reason; value 1). Without a
// net tile (no netProvider in the manifest) neither appears.
import { describe, expect, it } from "vitest";
import { renderPrometheus } from "../launcher/health/prometheus";
import { renderStatusTable, type StatusReport } from "../launcher/health/status";

function report(netProvider?: StatusReport["netProvider"]): StatusReport {
  return {
    instance: "prov",
    launcherPid: 1,
    launcher: { pid: 1, keeperPid: null, dropped: null, sandbox: null, sandboxed: false, problems: [] },
    tiles: [],
    ...(netProvider ? { netProvider } : {}),
  };
}

const fellBack = {
  provider: "socket" as const,
  configured: "auto" as const,
  reason: 'auto: XDP attach failed: bpf(BPF_MAP_CREATE): EPERM "quoted"',
};

describe("net provider in status and Prometheus", () => {
  it("status prints the provider and the reason", () => {
    expect(renderStatusTable(report(fellBack))).toContain(
      'provider: socket (auto: XDP attach failed: bpf(BPF_MAP_CREATE): EPERM "quoted")',
    );
    expect(renderStatusTable(report())).not.toContain("provider:");
  });

  it("Prometheus has tilenet_net_provider_info with escaped labels", () => {
    const text = renderPrometheus([report(fellBack)]);
    expect(text).toContain("# TYPE tilenet_net_provider_info gauge");
    expect(text).toContain(
      'tilenet_net_provider_info{tilenet_instance="prov",provider="socket",configured="auto",reason="auto: XDP attach failed: bpf(BPF_MAP_CREATE): EPERM \\"quoted\\""} 1',
    );
    expect(renderPrometheus([report()])).not.toContain("net_provider_info");
  });
});
