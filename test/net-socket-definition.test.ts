// The socket net tile's declared surface: the launcher describes it (one UDP socket per app port,
// granted with the apps' wake eventfd; no AF_XDP socket, no XDP program) when the provider is
// "socket"; its config is validated with errors naming the field; its metrics are accepted; its
// seccomp filter (compiled, run in the BPF interpreter) allows recvmmsg/sendmmsg exactly as
// native/udp_batch.cc makes them, on its sockets only, and nothing else about sockets.
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../launcher/config";
import { labConfig, labEchoApp } from "../launcher/lab";
import { tileFdLayout } from "../launcher/tile-process";
import { describeInstance } from "../launcher/topology";
import { withCommonMetrics } from "../shared/metrics/common";
import { validateMetricDecls } from "../shared/metrics/schema";
import { compilePolicy } from "../shared/seccomp/compile";
import { nodeBaselinePolicy } from "../shared/seccomp/node-baseline";
import { mergePolicies } from "../shared/seccomp/policy";
import { syscallNumbers } from "../shared/seccomp/syscalls-x86_64";
import {
  type NetSocketTileConfig,
  netSocketMetrics,
  netSocketPolicy,
  validateNetSocketTileConfig,
} from "../tiles/net-socket/definition";
import {
  interpret,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  type SeccompData,
} from "./support/seccomp-helpers";

const AUDIT_ARCH_X86_64 = 0xc000003e;
const MSG_DONTWAIT = 0x40;

function call(name: string, args: (number | bigint)[]): SeccompData {
  const nr = syscallNumbers[name];
  if (nr === undefined) throw new Error(`no syscall ${name}`);
  return { nr, arch: AUDIT_ARCH_X86_64, args: args.map((a) => BigInt(a)) };
}

function describeLab(provider: "xdp" | "socket" | undefined, ports = [7000]) {
  const config = labConfig(defaultConfig(), [{ ...labEchoApp(), ports }], "veth0", "/run/netns/lab");
  return describeInstance({
    instance: "lab",
    config,
    runtimeDir: "/run/tilenet/.rt-lab",
    interfaces: [{ name: "veth0", ifindex: 2 }],
    ...(provider ? { provider } : {}),
  });
}

function config(over: Partial<NetSocketTileConfig> = {}): NetSocketTileConfig {
  return { apps: [{ name: "echo", ports: [7000] }], channelDepth: 4096, maxPayload: 1472, ...over };
}

describe("socket net tile definition", () => {
  it("is described with one UDP socket per port and the wake eventfd, no AF_XDP socket", () => {
    const t = describeLab("socket", [7000, 7001]);
    expect(t.xsks).toEqual([]);
    const net = t.tiles.find((x) => x.name === "net");
    expect(net?.kind).toBe("net-socket");
    expect(net?.fds).toEqual([
      { role: "udp.7000", socket: "net.udp.7000" },
      { role: "udp.7001", socket: "net.udp.7001" },
      { role: "wake", socket: "net.wake" },
    ]);
    const udp = t.sockets.filter((s) => s.kind === "udp");
    expect(udp).toEqual([
      { name: "net.udp.7000", kind: "udp", port: 7000, bindIp: 0, ifindex: 2, bufferBytes: 4 << 20 },
      { name: "net.udp.7001", kind: "udp", port: 7001, bindIp: 0, ifindex: 2, bufferBytes: 4 << 20 },
    ]);
    // Only its metrics and the app channels: no UMEM, netbase or solicit ring.
    expect(net?.regions.map((r) => r.role)).toEqual([
      "metrics",
      ...["rx.echo.producer", "rx.echo.consumer", "rx.echo.data"],
      ...["tx.echo.producer", "tx.echo.consumer", "tx.echo.data"],
    ]);
    // The config's "auto" describes XDP first (the launcher falls back when it cannot attach).
    expect(describeLab(undefined).tiles.find((x) => x.name === "net")?.kind).toBe("net");
    expect(describeLab(undefined).xsks).toHaveLength(1);
  });

  it("validates configs with errors that name the field", () => {
    expect(() => validateNetSocketTileConfig(config())).not.toThrow();
    expect(() => validateNetSocketTileConfig(config({ channelDepth: 1000 }))).toThrow(/channelDepth 1000/);
    expect(() => validateNetSocketTileConfig(config({ maxPayload: 70000 }))).toThrow(/maxPayload 70000/);
    expect(() => validateNetSocketTileConfig(config({ batch: 300 }))).toThrow(/batch 300 must be 1..256/);
    expect(() => validateNetSocketTileConfig(config({ apps: [] }))).toThrow(/no port to serve/);
    const twice = [
      { name: "a", ports: [7] },
      { name: "b", ports: [7] },
    ];
    expect(() => validateNetSocketTileConfig(config({ apps: twice }))).toThrow(/port 7 belongs to both a and b/);
  });

  it("declares metrics the runtime accepts", () => {
    expect(() => validateMetricDecls(withCommonMetrics(netSocketMetrics))).not.toThrow();
  });

  it("allows recvmmsg and sendmmsg on its sockets only, non-blocking, recvmmsg without a timeout", () => {
    const t = describeLab("socket", [7000, 7001]);
    const net = t.tiles.find((x) => x.name === "net");
    if (!net) throw new Error("no net tile");
    const { fds } = tileFdLayout(
      net.regions.map((r) => r.role),
      net.fds.map((f) => f.role),
    );
    const [a, b, wake] = [fds["udp.7000"], fds["udp.7001"], fds.wake] as number[];
    expect(() => netSocketPolicy({ wake })).toThrow(/no udp.<port> socket/);
    const program = compilePolicy(mergePolicies("net-socket+base", nodeBaselinePolicy(4242), netSocketPolicy(fds)));
    const action = (d: SeccompData): number => interpret(program, d);
    for (const fd of [a, b]) {
      expect(action(call("recvmmsg", [fd, 0x1000, 64, MSG_DONTWAIT, 0]))).toBe(SECCOMP_RET_ALLOW);
      expect(action(call("sendmmsg", [fd, 0x1000, 64, MSG_DONTWAIT]))).toBe(SECCOMP_RET_ALLOW);
    }
    expect(action(call("poll", [0x1000, 3, 1]))).toBe(SECCOMP_RET_ALLOW);
    // The eventfd or another fd, blocking, a timeout: killed. Other socket calls too.
    expect(action(call("recvmmsg", [wake, 0x1000, 64, MSG_DONTWAIT, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("sendmmsg", [b + 10, 0x1000, 64, MSG_DONTWAIT]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("recvmmsg", [a, 0x1000, 64, 0, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("sendmmsg", [a, 0x1000, 64, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("recvmmsg", [a, 0x1000, 64, MSG_DONTWAIT, 0x2000]))).toBe(SECCOMP_RET_KILL_PROCESS);
    for (const name of ["sendto", "sendmsg", "recvfrom", "recvmsg"])
      expect(action(call(name, [a, 0x1000, 64, MSG_DONTWAIT, 0, 0])), name).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("socket", [2, 2, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("setsockopt", [a, 1, 25, 0, 0]))).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(action(call("openat", [0, 0, 0]))).toBe((SECCOMP_RET_ERRNO | 1) >>> 0);
  });
});
