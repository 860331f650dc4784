// The IPv6 neighbor probe, tile side. The launcher makes the socket before the sandbox (as root, in
// the instance's namespace): addon.probeSocketOpen6(bindIfindex), AF_INET6 UDP, hop limit 1,
// IPV6_V6ONLY, SO_DONTROUTE, SO_BINDTOIFINDEX to the net tiles' interface when there is one,
// and grants it under the role PROBE6_FD_ROLE. An empty datagram to [address]:9 makes the kernel
// send a Neighbor Solicitation (it must resolve the neighbor before it can transmit), with no
// capability at send time. Side-effect free, so definition.ts can take the seccomp rules from here.
import { MSG_DONTWAIT } from "../../shared/native";
import type { ArgRule } from "../../shared/seccomp/policy";
import type { SolicitProbe6 } from "./solicit-handler";

/** The descriptor role of the IPv6 probe socket. */
export const PROBE6_FD_ROLE = "probe6";

const MSG_NOSIGNAL = 0x4000;
const SOCKADDR_IN6_BYTES = 28;
const SOL_SOCKET = 1;
const SO_BINDTOIFINDEX = 62;

/**
 * What the netlink tile's filter must allow on the probe6 fd: an empty sendto with fixed flags and
 * a sockaddr_in6 (no sendmsg, so no cmsg: the hop limit and the bound interface hold), and the
 * getsockopt probeSend6 uses to read the bound interface.
 */
export function probe6PolicyRules(fd: number): ArgRule[] {
  return [
    {
      syscall: "sendto",
      args: [
        { index: 0, op: "eq", value: fd },
        { index: 2, op: "eq", value: 0 },
        { index: 3, op: "eq", value: MSG_DONTWAIT | MSG_NOSIGNAL },
        { index: 5, op: "eq", value: SOCKADDR_IN6_BYTES },
      ],
    },
    {
      syscall: "getsockopt",
      args: [
        { index: 0, op: "eq", value: fd },
        { index: 1, op: "eq", value: SOL_SOCKET },
        { index: 2, op: "eq", value: SO_BINDTOIFINDEX },
      ],
    },
  ];
}

interface Probe6Addon {
  probeSend6(fd: number, ifindex: number, a0: number, a1: number, a2: number, a3: number, port: number): number;
}

/** The handler's probe6 over the granted socket (words arrive as u32). */
export function udpProbe6(addon: Probe6Addon, fd: number, port: number): SolicitProbe6 {
  return (ifindex, a0, a1, a2, a3) => addon.probeSend6(fd, ifindex, a0, a1, a2, a3, port);
}
