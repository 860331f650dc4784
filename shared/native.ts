// The native addon's surface, typed once. The addon is thin: syscalls and memory mapping only.
// Every failure throws an Error whose message names what was being done and the errno name,
// with `code` (e.g. "EPERM"), `errno` and `syscall` set.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { XskGeometry } from "./xdp/geometry";

/** Result codes of futexWait. */
export const FUTEX_WOKEN = 0;
export const FUTEX_TIMED_OUT = 1;
export const FUTEX_VALUE_CHANGED = 2;

/** The flag the addon's non-blocking socket calls pass (xskKick, xskWakeup, netlink receive);
 *  the tiles' seccomp policies pin it. */
export const MSG_DONTWAIT = 0x40;

export interface XdpMmapOffsets {
  /** Byte offsets inside each ring's mapping (from getsockopt XDP_MMAP_OFFSETS). */
  producer: number;
  consumer: number;
  desc: number;
  flags: number;
}

export interface XskRings {
  fill: ArrayBuffer;
  completion: ArrayBuffer;
  rx: ArrayBuffer;
  tx: ArrayBuffer;
  fillOffsets: XdpMmapOffsets;
  completionOffsets: XdpMmapOffsets;
  rxOffsets: XdpMmapOffsets;
  txOffsets: XdpMmapOffsets;
}

export interface XskSocketOptions extends XskGeometry {
  ifindex: number;
  queueId: number;
  /** fd of the memfd backing UMEM (frameSize * frameCount bytes). */
  umemFd: number;
  zeroCopy: boolean;
  needWakeup: boolean;
}

/** An AF_XDP socket's options as the kernel holds them (xskSocketOptions). */
export interface XskKernelOptions {
  zeroCopy: boolean;
  preferBusyPoll: boolean;
  busyPollUsecs: number;
  /** null: the kernel has no getsockopt for SO_BUSY_POLL_BUDGET (6.18 has none). */
  busyPollBudget: number | null;
}

/** Kernel drop counters of an AF_XDP socket (getsockopt XDP_STATISTICS). */
export interface XskStatistics {
  rxDropped: number;
  rxInvalidDescs: number;
  txInvalidDescs: number;
  rxRingFull: number;
  rxFillRingEmptyDescs: number;
  txRingEmptyDescs: number;
}

export interface BpfTestRunResult {
  retval: number;
  durationNs: number;
  dataOut: Uint8Array;
}

export interface NativeAddon {
  // ---- shared memory (native/shm.cc) ----
  /** memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING) + ftruncate(size); hugePages adds
   *  MFD_HUGETLB | MFD_HUGE_2MB (size must be a multiple of 2 MiB). */
  memfdCreate(name: string, size: number, hugePages?: boolean): number;
  /** F_SEAL_FUTURE_WRITE | SHRINK | GROW | SEAL: later mappings can only be read-only. */
  sealReadOnly(fd: number): void;
  getSeals(fd: number): number;
  /** open(path, O_RDONLY or O_RDWR | O_CLOEXEC); used on /proc/self/fd/N for read-only fds. */
  openPath(path: string, writable: boolean): number;
  fdSize(fd: number): number;
  closeFd(fd: number): void;
  /** Clears FD_CLOEXEC so the descriptor survives exec into a tile. */
  clearCloexec(fd: number): void;
  /** mmap(MAP_SHARED); size 0 = whole file. Read-only mappings are PROT_READ (a write is SIGSEGV). */
  mapFd(fd: number, size: number, writable: boolean): ArrayBuffer;

  // ---- unix datagram sockets (native/unix_dgram.cc); '@' starts an abstract name ----
  /** One datagram to a unix datagram socket (sd_notify's NOTIFY_SOCKET). Throws an Error with errno. */
  unixDgramSend(path: string, bytes: Uint8Array): void;
  /** A datagram socket connected to path: later sends (sendWithFds with no fds) need no
   *  permission on the path, so they work after the launcher's privilege drop. */
  unixDgramConnect(path: string): number;
  /** A non-blocking receiving socket bound to path (tests stand in for systemd with it). */
  unixDgramBind(path: string): number;
  /** The next queued datagram, or null when none is. */
  unixDgramRecv(fd: number): Buffer | null;

  // ---- handing privileges to the keeper, then dropping them (native/privdrop.cc) ----
  /** socketpair(AF_UNIX, SOCK_STREAM | CLOEXEC): [fdA, fdB]. */
  streamSocketPair(): [number, number];
  /** pipe2(O_CLOEXEC): [readFd, writeFd]. */
  pipe(): [number, number];
  /** All of bytes in one blocking sendmsg with the descriptors attached (SCM_RIGHTS, at most 64). */
  sendWithFds(socketFd: number, bytes: Uint8Array, fds: readonly number[]): void;
  /** setgroups([]), setresgid(gid x3), setresuid(uid x3) on every thread (glibc's setxid
   *  broadcast); the kernel empties each thread's capabilities as its uids leave 0. */
  dropToIds(uid: number, gid: number): void;

  // ---- futex (native/futex.cc) ----
  /** Returns FUTEX_WOKEN, FUTEX_TIMED_OUT or FUTEX_VALUE_CHANGED; retries EINTR. */
  futexWait(view: Int32Array, index: number, expected: number, timeoutMs: number): number;
  futexWake(view: Int32Array, index: number, count: number): number;
  /** futexWait on a libuv pool thread: the event loop keeps running while it sleeps. */
  futexWaitAsync(view: Int32Array, index: number, expected: number, timeoutMs: number): Promise<number>;

  // ---- network namespaces (native/netns.cc) ----
  /** Moves the calling thread into the namespace at path; returns an fd for netnsRestore. */
  netnsEnter(path: string): number;
  netnsRestore(savedFd: number): void;
  /** A new network namespace bind-mounted on `file` (an existing file under runDir, which is made a
   *  shared mount first), as `ip netns add` does. The calling thread stays in its own namespace. */
  netnsCreateAt(runDir: string, file: string): void;
  /** umount2(file, MNT_DETACH); a file that is not a mount point is not an error. */
  netnsUnmount(file: string): void;
  ifNameToIndex(name: string): number;

  // ---- openat2 (native/openat2.cc), for the launcher's sysfs layer ----
  /** openat2(dirfd, path, {flags | O_CLOEXEC, resolve}) -> fd; throws naming the path and errno. */
  openat2(dirfd: number, path: string, flags: number, resolve: number): number;

  // ---- sandbox, in-process part (native/sandbox.cc) ----
  /** prctl(NO_NEW_PRIVS) then seccomp(SET_MODE_FILTER, TSYNC) with the given sock_filter array. */
  installSeccomp(program: Uint8Array): void;
  /** setrlimit(resource, soft, hard); resource is "nofile" | "core" | "nproc" | "fsize" | "memlock". */
  setRlimit(resource: string, soft: number, hard: number): void;
  /** prctl(PR_SET_DUMPABLE): 0 keeps other processes of the same uid from ptrace and /proc access. */
  setDumpable(dumpable: boolean): void;
  /** Landlock ruleset that grants no filesystem access at all; false if landlock is unavailable.
   *  Below landlock ABI 8 it covers the calling thread and threads it starts later, not running ones. */
  landlockDenyAll(): boolean;
  /** The kernel's landlock ABI version (LANDLOCK_CREATE_RULESET_VERSION); 0 if unavailable. */
  landlockAbiVersion(): number;

  // ---- rtnetlink sockets (native/netlink.cc) ----
  /** socket(AF_NETLINK, SOCK_RAW | CLOEXEC | NONBLOCK, protocol: NETLINK_ROUTE (default) or
   *  NETLINK_GENERIC 16) bound to `groups` (RTMGRP_* bit mask),
   *  with NETLINK_EXT_ACK on and SO_RCVBUF(FORCE) = rcvbufBytes when > 0. Returns the fd. */
  netlinkOpen(groups: number, rcvbufBytes: number, protocol?: number): number;
  /** Sends one datagram (one or more netlink messages) to the kernel. */
  netlinkSend(fd: number, data: Uint8Array): void;
  /** Receives one datagram into buf. Returns its length, 0 if nothing arrived within timeoutMs
   *  (0 = do not wait), -1 when the kernel reports ENOBUFS (events were lost), or -2 when a
   *  datagram from a sender other than the kernel was discarded. A datagram larger than buf is
   *  an EMSGSIZE error. */
  netlinkRecv(fd: number, buf: Uint8Array, timeoutMs: number): number;
  /** The socket's netlink port id (getsockname). */
  netlinkPortId(fd: number): number;
  /** Receives up to maxDatagrams datagrams in one call, packed into buf (4-byte aligned) as records
   *  [u32 length][datagram, padded to 4]. A length of 0xffffffff (ENOBUFS), 0xfffffffe (a datagram
   *  from a sender other than the kernel, discarded) or 0xfffffffd (a datagram larger than the room
   *  left, lost) marks a record without bytes. Waits up to timeoutMs for the first datagram only.
   *  Returns the bytes of buf used, 0 when nothing arrived. */
  netlinkRecvBatch(fd: number, buf: Uint8Array, timeoutMs: number, maxDatagrams: number): number;

  // ---- plain sockets (native/sockets.cc) ----
  /** ETHTOOL_GDRVINFO for a device of the calling thread's namespace (no netlink message has it). */
  ethtoolDriverInfo(ifname: string): DriverInfo;
  /** A persistent tun (or tap) device in the calling thread's namespace (TUNSETIFF + TUNSETPERSIST). */
  tunCreate(ifname: string, tap: boolean, multiQueue: boolean): void;
  /** UDP socket for neighbor probes: TTL 1, SO_DONTROUTE, nonblocking, CLOEXEC; bound to
   *  interface `ifindex` (SO_BINDTOIFINDEX, needs CAP_NET_RAW) when given and not 0. */
  probeSocketOpen(ifindex?: number): number;
  /** Sends an empty UDP datagram (sendto, no cmsg) to ip (host-order u32) on `port` through the
   *  interface the socket is bound to; -ENODEV when ifindex is not that interface. */
  probeSend(fd: number, ipHostOrder: number, ifindex: number, port: number): number;
  /** The IPv6 probe socket: AF_INET6 UDP, nonblocking, hop limit 1, IPV6_V6ONLY, SO_DONTROUTE, bound
   *  to `ifindex` (SO_BINDTOIFINDEX, needs CAP_NET_RAW) when given and not 0. */
  probeSocketOpen6(ifindex?: number): number;
  /** Sends an empty UDP datagram (sendto, no cmsg, a 28-byte sockaddr_in6) to the address (four u32
   *  words, shared/ip6.ts) on `port`; a link-local address gets ifindex as its scope. 0 or -errno
   *  (-ENODEV when ifindex is not the socket's interface). */
  probeSend6(fd: number, ifindex: number, a0: number, a1: number, a2: number, a3: number, port: number): number;
  /** poll(2) on one fd for POLLIN; returns true when readable. */
  pollIn(fd: number, timeoutMs: number): boolean;

  // ---- the socket provider's UDP sockets (native/udp_batch.cc; layout: shared/udp/socket-batch.ts) ----
  /** A non-blocking, close-on-exec UDP socket with SO_REUSEPORT and IP_PKTINFO, bound to
   *  interface `ifindex` (0: any) and bindIp:port; bufferBytes > 0 forces both buffer sizes (root). */
  udpSocketOpen(bindIpHostOrder: number, port: number, ifindex: number, bufferBytes: number): number;
  /** One recvmmsg(MSG_DONTWAIT) of up to maxMessages datagrams into slots of buf, metadata into
   *  meta. Returns how many (0 when none waits), or -errno. */
  udpRecvBatch(fd: number, buf: Uint8Array, slotBytes: number, meta: Uint32Array, maxMessages: number): number;
  /** One sendmmsg(MSG_DONTWAIT) of slots [first, first + count). Returns how many were sent (the
   *  one after them failed), or -errno when the first fails (-EAGAIN: socket buffer full). */
  udpSendBatch(fd: number, buf: Uint8Array, slotBytes: number, meta: Uint32Array, first: number, count: number): number;
  /** The metadata layout the addon was built with (must equal shared/udp/socket-batch.ts). */
  udpBatchLayout(): {
    metaWords: number;
    length: number;
    peerIp: number;
    peerPort: number;
    localIp: number;
    truncated: number;
    maxBatch: number;
  };

  // ---- eBPF / XDP (native/bpf.cc), used by the launcher ----
  /** BPF_PROG_LOAD of an XDP program; on failure the verifier log is in the error message. */
  bpfProgLoadXdp(insns: Uint8Array, name: string, license: string): number;
  /** BPF_MAP_CREATE; mapType is the kernel's BPF_MAP_TYPE_* number, mapFlags its BPF_F_* bits (default 0). */
  bpfMapCreate(
    mapType: number,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    name: string,
    mapFlags?: number,
  ): number;
  bpfMapUpdate(mapFd: number, key: Uint8Array, value: Uint8Array): void;
  bpfMapDelete(mapFd: number, key: Uint8Array): void;
  /** BPF_LINK_CREATE(BPF_XDP) with XDP_FLAGS_* (2 = skb, 4 = drv); returns the link fd (closing it detaches). */
  bpfLinkCreateXdp(progFd: number, ifindex: number, xdpFlags: number): number;
  bpfProgTestRun(progFd: number, packet: Uint8Array, repeat: number): BpfTestRunResult;

  // ---- AF_XDP (native/xsk.cc) ----
  /** Creates an AF_XDP socket, registers UMEM from umemFd, sizes the four rings and binds it. */
  xskCreate(opts: XskSocketOptions): number;
  /** Closes a socket made by xskCreate in this process and unmaps its UMEM (launcher side). */
  xskClose(fd: number): void;
  /** Maps the four rings of an AF_XDP socket (done by the net tile itself, before its sandbox). */
  xskMapRings(fd: number, fillDepth: number, completionDepth: number, rxDepth: number, txDepth: number): XskRings;
  /** Unmaps the rings now (their ArrayBuffers become detached). The mappings hold the socket: it
   *  is released (and unbound from its queue) only when its fds are closed and its rings unmapped. */
  xskUnmapRings(rings: XskRings): void;
  /** sendto(fd, NULL, 0, MSG_DONTWAIT): TX kick. Returns 0 or a negative errno. */
  xskKick(fd: number): number;
  /** recvfrom(fd, NULL, 0, MSG_DONTWAIT): fill/RX wakeup. Returns 0 or a negative errno. */
  xskWakeup(fd: number): number;
  /** The socket's kernel drop counters (housekeeping, not per packet). */
  xskStatistics(fd: number): XskStatistics;
  /** What the kernel holds for the socket: zero-copy (XDP_OPTIONS) and busy polling (getsockopt). */
  xskSocketOptions(fd: number): XskKernelOptions;
  /** SO_PREFER_BUSY_POLL, SO_BUSY_POLL (usecs) and SO_BUSY_POLL_BUDGET on any socket (AF_XDP,
   *  the socket provider's UDP); prefer and budget need CAP_NET_ADMIN. */
  socketSetBusyPoll(fd: number, opts: { prefer: boolean; usecs: number; budget: number }): void;

  // ---- idle waits and placement (native/idle.cc) ----
  /** A non-blocking eventfd (launcher side): app tiles signal it when their net tile sleeps. */
  eventfdOpen(): number;
  /** write(fd, 1 as u64, 8): wakes a poll on the eventfd. 0, or -EAGAIN when already saturated. */
  eventfdSignal(fd: number): number;
  /** poll(2) on fd (or up to 64 fds) and eventFd for POLLIN: bit 1 a socket readable, bit 2
   *  eventFd signalled (drained by one read), 0 on timeout. */
  pollWake(fds: number | Int32Array, eventFd: number, timeoutMs: number): number;
  /** sched_setaffinity of every thread of the process to one CPU; returns how many (before the sandbox). */
  pinThreads(cpu: number): number;
  /** Asks the scheduler for a shorter slice for the calling thread (EEVDF custom slice, Linux
   *  6.12+): 0, or -errno when the kernel does not take it. */
  setSchedSlice(sliceUs: number): number;
}

let cached: NativeAddon | undefined;

/** Where the addon is: beside the running bundle (a staged tile runtime), or build/Release of the
 *  checkout the code runs from (walking up from this file or the main script). */
export function addonPath(): string {
  // This file's own checkout first: under a test runner argv[1] is the runner, which may live in
  // another checkout (worktrees share node_modules through a symlink).
  const starts = [__dirname, dirname(process.argv[1] ?? "")];
  for (const start of starts) {
    if (existsSync(join(start, "tilenet.node"))) return join(start, "tilenet.node");
    let dir = start;
    for (let i = 0; i < 6; i++) {
      const candidate = join(dir, "build", "Release", "tilenet.node");
      if (existsSync(candidate)) return candidate;
      dir = dirname(dir);
    }
  }
  throw new Error("tilenet native addon not found: run `npm ci` (it builds build/Release/tilenet.node)");
}

/** What ETHTOOL_GDRVINFO reports (`ethtool -i`). */
export interface DriverInfo {
  driver: string;
  version: string;
  firmwareVersion: string;
  busInfo: string;
  expansionRomVersion: string;
  nPrivFlags: number;
  nStats: number;
  testInfoLength: number;
  eepromDumpLength: number;
  registerDumpLength: number;
}

/** Loads the addon once per process. */
export function native(): NativeAddon {
  if (!cached) {
    const mod = { exports: {} as NativeAddon };
    process.dlopen(mod, addonPath());
    cached = mod.exports;
  }
  return cached;
}

/** Runs fn with the calling thread inside the network namespace at nsPath (or as is when undefined). */
export function inNetns<T>(nsPath: string | undefined, fn: () => T): T {
  if (!nsPath) return fn();
  const addon = native();
  const saved = addon.netnsEnter(nsPath);
  try {
    return fn();
  } finally {
    addon.netnsRestore(saved);
  }
}

/** Path of the keeper (build/Release/tilenet-keeper), the launcher's privileged helper. */
export function keeperPath(): string {
  return join(dirname(addonPath()), "tilenet-keeper");
}

/** Path of the sandbox exec helper (build/Release/tilenet-exec) next to the addon. */
export function execHelperPath(): string {
  return join(dirname(addonPath()), "tilenet-exec");
}
