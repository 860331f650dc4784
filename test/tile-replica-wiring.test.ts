// The declared surfaces of net tiles and app replicas once apps have several replicas: the
// regions each side is granted (roles, names, access, order) for the same channels, with
// doorbells, netbase and the queue-miss counters; and the app policy allowing the 8-byte wake
// write on every granted wake eventfd and nothing else (on the compiled filter).
import { describe, expect, it } from "vitest";
import { compilePolicy } from "../shared/seccomp/compile";
import { nodeBaselinePolicy } from "../shared/seccomp/node-baseline";
import { mergePolicies } from "../shared/seccomp/policy";
import { syscallNumbers } from "../shared/seccomp/syscalls-x86_64";
import { appChannelRoles, appPolicy, appRegions, appWakeRole } from "../tiles/app/definition";
import { NET_QUEUE_MISSES_ROLE, netRegions } from "../tiles/net/definition";
import { netSocketRegions } from "../tiles/net-socket/definition";
import { interpret, SECCOMP_RET_ALLOW, type SeccompData } from "./support/seccomp-helpers";

const AUDIT_ARCH_X86_64 = 0xc000003e;

function call(name: string, args: (number | bigint)[]): SeccompData {
  const nr = syscallNumbers[name];
  if (nr === undefined) throw new Error(`no syscall ${name}`);
  return { nr, arch: AUDIT_ARCH_X86_64, args: args.map((a) => BigInt(a)) };
}

const channelRoles = (c: string) => [
  `rx.${c}.producer`,
  `rx.${c}.consumer`,
  `rx.${c}.data`,
  `tx.${c}.producer`,
  `tx.${c}.consumer`,
  `tx.${c}.data`,
];

describe("replica wiring", () => {
  it("gives a net tile every replica's channels, its doorbell, and the queue-miss counters", () => {
    const uses = netRegions({
      tile: "net.1",
      umem: "umem.1",
      solicitRing: "solicit.1",
      apps: [
        {
          name: "svc",
          replicas: [
            { channel: "svc.0.net.1", doorbell: "doorbell.svc.0" },
            { channel: "svc.1.net.1", doorbell: "doorbell.svc.1" },
          ],
        },
        { name: "dns", replicas: [{ channel: "dns.0.net.1" }] },
      ],
      queueMisses: "xdp.queue-misses.eth0",
    });
    expect(uses.slice(5).map((u) => u.role)).toEqual([
      ...channelRoles("svc.0.net.1"),
      "doorbell.svc.0",
      ...channelRoles("svc.1.net.1"),
      "doorbell.svc.1",
      ...channelRoles("dns.0.net.1"),
      NET_QUEUE_MISSES_ROLE,
      "capture.control",
      "capture.ring",
    ]);
    for (const u of uses) if (u.role.startsWith("rx.") || u.role.startsWith("tx.")) expect(u.region).toBe(u.role);
    expect(uses.find((u) => u.role === "doorbell.svc.1")).toEqual({
      role: "doorbell.svc.1",
      region: "doorbell.svc.1",
      access: "write",
      // Every net tile of the replica rings it: left unsealed after mapping.
      shared: true,
    });
    expect(uses.find((u) => u.role === NET_QUEUE_MISSES_ROLE)).toEqual({
      role: NET_QUEUE_MISSES_ROLE,
      region: "xdp.queue-misses.eth0",
      access: "read",
    });
    // The socket net tile: the same channel uses after its metrics.
    const socketUses = netSocketRegions("net", [
      { name: "svc", replicas: [{ channel: "a", doorbell: "bell.a" }, { channel: "b" }] },
    ]);
    expect(socketUses.map((u) => u.role)).toEqual(["metrics", ...channelRoles("a"), "bell.a", ...channelRoles("b")]);
    expect(netSocketRegions("net", ["echo"])).toEqual(
      netSocketRegions("net", [{ name: "echo", replicas: [{ channel: "echo" }] }]),
    );
  });

  it("gives an app replica its channels by index, its doorbell and netbase read-only, opposite the net tiles", () => {
    expect(appChannelRoles(0).rx.producer).toBe("rx.producer");
    expect(appChannelRoles(2).tx.data).toBe("tx.2.data");
    expect(appWakeRole(0)).toBe("wake");
    expect(appWakeRole(1)).toBe("wake.1");
    const uses = appRegions("svc.1", {
      channels: ["svc.1.net.0", "svc.1.net.1"],
      doorbell: "doorbell.svc.1",
      netbase: true,
    });
    expect(uses).toEqual([
      { role: "metrics", region: "metrics.svc.1", access: "write" },
      { role: "rx.producer", region: "rx.svc.1.net.0.producer", access: "read" },
      { role: "rx.consumer", region: "rx.svc.1.net.0.consumer", access: "write" },
      { role: "rx.data", region: "rx.svc.1.net.0.data", access: "read" },
      { role: "tx.producer", region: "tx.svc.1.net.0.producer", access: "write" },
      { role: "tx.consumer", region: "tx.svc.1.net.0.consumer", access: "read" },
      { role: "tx.data", region: "tx.svc.1.net.0.data", access: "write" },
      { role: "rx.1.producer", region: "rx.svc.1.net.1.producer", access: "read" },
      { role: "rx.1.consumer", region: "rx.svc.1.net.1.consumer", access: "write" },
      { role: "rx.1.data", region: "rx.svc.1.net.1.data", access: "read" },
      { role: "tx.1.producer", region: "tx.svc.1.net.1.producer", access: "write" },
      { role: "tx.1.consumer", region: "tx.svc.1.net.1.consumer", access: "read" },
      { role: "tx.1.data", region: "tx.svc.1.net.1.data", access: "write" },
      { role: "doorbell", region: "doorbell.svc.1", access: "read" },
      { role: "netbase", region: "netbase", access: "read" },
    ]);
    // Default: today's one channel named after the tile.
    expect(appRegions("echo")).toEqual(appRegions("echo", { channels: ["echo"] }));
    // Each region has one writer: the app or the net tile feeding that channel.
    const net = netRegions({
      tile: "net.1",
      umem: "u",
      solicitRing: "s",
      apps: [{ name: "svc", replicas: [{ channel: "svc.1.net.1", doorbell: "doorbell.svc.1" }] }],
    });
    for (const u of net) {
      const app = uses.find((a) => a.region === u.region && a.region !== "netbase"); // netbase: both read
      if (app !== undefined) expect(app.access).not.toBe(u.access);
    }
  });

  it("allows the 8-byte wake write on every granted wake fd, and only those", () => {
    const policy = appPolicy({ [appWakeRole(0)]: 30, [appWakeRole(1)]: 31, "not.wake": 32 });
    const program = compilePolicy(
      mergePolicies("app+base", nodeBaselinePolicy(4242, process.versions.node, [1, 2]), policy),
    );
    const action = (d: SeccompData): number => interpret(program, d);
    expect(action(call("write", [30, 0x1000, 8]))).toBe(SECCOMP_RET_ALLOW);
    expect(action(call("write", [31, 0x1000, 8]))).toBe(SECCOMP_RET_ALLOW);
    expect(action(call("write", [32, 0x1000, 8]))).not.toBe(SECCOMP_RET_ALLOW);
    expect(action(call("write", [31, 0x1000, 16]))).not.toBe(SECCOMP_RET_ALLOW);
    expect(action(call("write", [3, 0x1000, 8]))).not.toBe(SECCOMP_RET_ALLOW);
    expect(action(call("write", [2, 0x1000, 100]))).toBe(SECCOMP_RET_ALLOW); // the baseline's stderr
    // One channel: exactly today's rule.
    const one = appPolicy({ wake: 30 });
    expect(one.allow.find((r) => typeof r !== "string" && r.syscall === "write")).toEqual({
      syscall: "write",
      args: [
        { index: 0, op: "eq", value: 30 },
        { index: 2, op: "eq", value: 8 },
      ],
    });
  });
});
