// The net and app tiles' declared surfaces: region roles in grant order with their mapping,
// config validation with errors naming the field, metric declarations the runtime accepts, and
// seccomp policies that allow exactly the AF_XDP calls native/xsk.cc makes on the granted socket
// (checked on the compiled filter with the BPF interpreter, not just the policy object).
import { describe, expect, it } from "vitest";
import { tileFdLayout } from "../launcher/tile-process";
import { withCommonMetrics } from "../shared/metrics/common";
import { validateMetricDecls } from "../shared/metrics/schema";
import { compilePolicy } from "../shared/seccomp/compile";
import { nodeBaselinePolicy } from "../shared/seccomp/node-baseline";
import { mergePolicies } from "../shared/seccomp/policy";
import { syscallNumbers } from "../shared/seccomp/syscalls-x86_64";
import { SOLICIT_BYTES } from "../shared/solicit/message";
import { appMetrics, appPolicy, appRegions } from "../tiles/app/definition";
import { type NetTileConfig, netMetrics, netPolicy, netRegions, validateNetTileConfig } from "../tiles/net/definition";
import {
  interpret,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  type SeccompData,
} from "./support/seccomp-helpers";

const AUDIT_ARCH_X86_64 = 0xc000003e;
const MSG_DONTWAIT = 0x40;

function config(over: Partial<NetTileConfig> = {}): NetTileConfig {
  return {
    ifindex: 3,
    queueId: 0,
    frameSize: 2048,
    frameCount: 4096,
    fillDepth: 2048,
    completionDepth: 2048,
    rxDepth: 2048,
    txDepth: 2048,
    apps: [
      { name: "echo", ports: [7000] },
      { name: "dns", ports: [5353, 5354] },
    ],
    channelDepth: 4096,
    maxPayload: 1472,
    solicitRing: { kind: "unreliable", depth: 128, slotSize: SOLICIT_BYTES },
    ...over,
  };
}

function call(name: string, args: (number | bigint)[]): SeccompData {
  const nr = syscallNumbers[name];
  if (nr === undefined) throw new Error(`no syscall ${name}`);
  return { nr, arch: AUDIT_ARCH_X86_64, args: args.map((a) => BigInt(a)) };
}

describe("net tile definition", () => {
  it("lists regions in grant order: the tile's own writable ones and the read-only peers' ones", () => {
    const uses = netRegions({ tile: "net", umem: "umem", solicitRing: "solicit.0", apps: ["echo", "dns"] });
    expect(uses.slice(0, 5)).toEqual([
      { role: "metrics", region: "metrics.net", access: "write" },
      { role: "netbase", region: "netbase", access: "read" },
      { role: "umem", region: "umem", access: "write" },
      { role: "solicit.producer", region: "solicit.0.producer", access: "write" },
      { role: "solicit.consumer", region: "solicit.0.consumer", access: "read" },
    ]);
    expect(uses.slice(5, 11)).toEqual([
      { role: "rx.echo.producer", region: "rx.echo.producer", access: "write" },
      { role: "rx.echo.consumer", region: "rx.echo.consumer", access: "read" },
      { role: "rx.echo.data", region: "rx.echo.data", access: "write" },
      { role: "tx.echo.producer", region: "tx.echo.producer", access: "read" },
      { role: "tx.echo.consumer", region: "tx.echo.consumer", access: "write" },
      { role: "tx.echo.data", region: "tx.echo.data", access: "read" },
    ]);
    expect(uses).toHaveLength(19);
    expect(uses.slice(17)).toEqual([
      { role: "capture.control", region: "capture.net.control", access: "read" },
      { role: "capture.ring", region: "capture.net.ring", access: "write" },
    ]);
    const layout = tileFdLayout(
      uses.map((r) => r.role),
      ["xsk"],
    );
    expect(layout.fds.xsk).toBe(4 + 19);
    // The app side of the same channels: the opposite access.
    expect(appRegions("echo")).toEqual([
      { role: "metrics", region: "metrics.echo", access: "write" },
      { role: "rx.producer", region: "rx.echo.producer", access: "read" },
      { role: "rx.consumer", region: "rx.echo.consumer", access: "write" },
      { role: "rx.data", region: "rx.echo.data", access: "read" },
      { role: "tx.producer", region: "tx.echo.producer", access: "write" },
      { role: "tx.consumer", region: "tx.echo.consumer", access: "read" },
      { role: "tx.data", region: "tx.echo.data", access: "write" },
    ]);
    // Every channel region has exactly one writer: the net tile or the app tile.
    const echoRegions = new Set(appRegions("echo").map((u) => u.region));
    for (const u of uses.filter((x) => echoRegions.has(x.region))) {
      const app = appRegions("echo").find((a) => a.region === u.region);
      expect(app?.access).not.toBe(u.access);
    }
  });

  it("validates configs with errors that name the field", () => {
    expect(() => validateNetTileConfig(config())).not.toThrow();
    expect(() => validateNetTileConfig(config({ frameSize: 3000 }))).toThrow(/frameSize 3000 must be a power of two/);
    expect(() => validateNetTileConfig(config({ maxPayload: 1800 }))).toThrow(/maxPayload 1800 must be from 1 to 1710/);
    expect(() => validateNetTileConfig(config({ rxFrames: 4096 }))).toThrow(/rxFrames 4096/);
    expect(() => validateNetTileConfig(config({ channelDepth: 100 }))).toThrow(/channelDepth 100/);
    expect(() =>
      validateNetTileConfig(
        config({
          apps: [
            { name: "a", ports: [1] },
            { name: "b", ports: [2, 1] },
          ],
        }),
      ),
    ).toThrow(/port 1 belongs to both a and b/);
    expect(() => validateNetTileConfig(config({ apps: [{ name: "a", ports: [70000] }] }))).toThrow(/bad port 70000/);
    expect(() =>
      validateNetTileConfig(
        config({
          apps: [
            { name: "a", ports: [1] },
            { name: "a", ports: [2] },
          ],
        }),
      ),
    ).toThrow(/app a listed twice/);
  });

  it("declares metrics the runtime accepts (no clash with the common ones)", () => {
    expect(() => validateMetricDecls(withCommonMetrics(netMetrics))).not.toThrow();
    expect(() => validateMetricDecls(withCommonMetrics(appMetrics))).not.toThrow();
    const names = netMetrics.map((m) => m.name);
    for (const n of ["rx_drop_bad_udp_checksum", "rx_drop_fragment", "rx_drop_no_app_for_port", "rx_app_ring_full"])
      expect(names).toContain(n);
    for (const n of ["tx_route_fail_no_route", "tx_route_fail_blackhole", "tx_route_fail_interface", "tx_no_neighbor"])
      expect(names).toContain(n);
  });

  it("allows the TX kick, RX wakeup and statistics on the granted socket only, exactly as the addon makes them", () => {
    const xsk = 21;
    expect(() => netPolicy({})).toThrow(/no fd for xsk/);
    const program = compilePolicy(mergePolicies("net+base", nodeBaselinePolicy(4242), netPolicy({ xsk })));
    const action = (d: SeccompData): number => interpret(program, d);
    // native/xsk.cc: sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) and recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL).
    expect(action(call("sendto", [xsk, 0, 0, MSG_DONTWAIT, 0, 0]))).toBe(SECCOMP_RET_ALLOW);
    expect(action(call("recvfrom", [xsk, 0, 0, MSG_DONTWAIT, 0, 0]))).toBe(SECCOMP_RET_ALLOW);
    expect(action(call("getsockopt", [xsk, 283, 7, 0x1000, 0x2000]))).toBe(SECCOMP_RET_ALLOW);
    expect(action(call("poll", [0x1000, 1, 1]))).toBe(SECCOMP_RET_ALLOW);
    expect(action(call("futex", [0x1000, 0, 0, 0]))).toBe(SECCOMP_RET_ALLOW);
    // Another fd, a payload, blocking flags, another socket option: killed.
    expect(action(call("sendto", [xsk + 1, 0, 0, MSG_DONTWAIT, 0, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("sendto", [xsk, 0x1000, 64, MSG_DONTWAIT, 0, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("sendto", [xsk, 0, 0, 0, 0, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("recvfrom", [xsk, 0x1000, 64, MSG_DONTWAIT, 0, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("getsockopt", [xsk, 283, 4, 0x1000, 0x2000]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("socket", [2, 2, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("setsockopt", [xsk, 283, 1, 0, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("openat", [0, 0, 0]))).toBe((SECCOMP_RET_ERRNO | 1) >>> 0);
  });

  it("gives app tiles nothing beyond the Node baseline but getrandom (test/app-seccomp-randomness.test.ts)", () => {
    expect(appPolicy({}).allow.map((r) => (typeof r === "string" ? r : r.syscall))).toEqual(["getrandom"]);
    const program = compilePolicy(mergePolicies("app+base", nodeBaselinePolicy(4242), appPolicy({})));
    expect(interpret(program, call("futex", [0x1000, 1, 1]))).toBe(SECCOMP_RET_ALLOW);
    expect(interpret(program, call("sendto", [4, 0, 0, MSG_DONTWAIT, 0, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(interpret(program, call("uname", [0x1000]))).toBe(SECCOMP_RET_KILL_PROCESS);
  });
});
