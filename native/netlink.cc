// rtnetlink sockets: opened by the launcher (in the right network namespace, before the sandbox),
// then used by the netlink tile only to send requests and receive datagrams. All message
// encoding and decoding is TypeScript (shared/netlink/): here we only move bytes.
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

namespace tilenet {
namespace {

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

// netlinkRecv results besides a length; keep in sync with shared/netlink/io.ts.
constexpr int kRecvOverrun = -1;        // ENOBUFS: the kernel dropped messages for this socket
constexpr int kRecvForeignSender = -2;  // a datagram not sent by the kernel (discarded)

int64_t MonotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// poll(POLLIN) that survives EINTR with a recomputed timeout. Returns 1 readable, 0 timeout,
// -errno on failure.
int PollReadable(int fd, int64_t timeoutMs) {
  int64_t deadline = MonotonicMs() + (timeoutMs > 0 ? timeoutMs : 0);
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int64_t left = timeoutMs > 0 ? deadline - MonotonicMs() : 0;
    if (left < 0) left = 0;
    int rc = poll(&p, 1, (int)(left > 2147483647 ? 2147483647 : left));
    if (rc > 0) return 1;
    if (rc == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

// netlinkOpen(groups, rcvbufBytes[, protocol = NETLINK_ROUTE]) -> fd. The only other protocol
// allowed is NETLINK_GENERIC (ethtool).
Napi::Value NetlinkOpen(const Napi::CallbackInfo& info) {
  int64_t groups, rcvbuf, protocol = NETLINK_ROUTE;
  if (!ArgInt(info, 0, "groups", &groups) || !ArgInt(info, 1, "rcvbufBytes", &rcvbuf)) return info.Env().Undefined();
  if (info.Length() > 2 && !info[2].IsUndefined() && !ArgInt(info, 2, "protocol", &protocol))
    return info.Env().Undefined();
  if (groups < 0 || groups > 0xffffffffLL) return ThrowType(info.Env(), "netlinkOpen: groups must be a u32 bit mask");
  if (rcvbuf < 0 || rcvbuf > 0x7fffffffLL) return ThrowType(info.Env(), "netlinkOpen: rcvbufBytes out of range");
  if (protocol != NETLINK_ROUTE && protocol != NETLINK_GENERIC)
    return ThrowType(info.Env(), "netlinkOpen: protocol must be NETLINK_ROUTE (0) or NETLINK_GENERIC (16)");
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, (int)protocol);
  if (fd < 0) return ThrowErrno(info.Env(), "socket(AF_NETLINK, protocol " + std::to_string(protocol) + ")", errno);
  int one = 1;
  // Extended acks carry the kernel's error text; capped acks keep error replies small.
  if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "setsockopt(netlink fd, NETLINK_EXT_ACK/CAP_ACK)", err);
  }
  if (rcvbuf > 0) {
    int size = (int)rcvbuf;
    // FORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; fall back to the capped option.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0) {
      int err = errno;
      close(fd);
      return ThrowErrno(info.Env(), "setsockopt(netlink fd, SO_RCVBUF " + std::to_string(size) + ")", err);
    }
  }
  struct sockaddr_nl addr = {};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = (uint32_t)groups;
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "bind(netlink, groups " + std::to_string(groups) + ")", err);
  }
  return Napi::Number::New(info.Env(), fd);
}

// netlinkSend(fd, data): one datagram to the kernel (port 0).
Napi::Value NetlinkSend(const Napi::CallbackInfo& info) {
  int64_t fd;
  uint8_t* data;
  size_t len;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgBytes(info, 1, "data", &data, &len)) return info.Env().Undefined();
  struct sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n = sendto((int)fd, data, len, 0, (struct sockaddr*)&kernel, sizeof kernel);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    return ThrowErrno(info.Env(), "sendto(netlink fd " + std::to_string(fd) + ", " + std::to_string(len) + " bytes)",
                      errno);
  }
  return info.Env().Undefined();
}

// netlinkRecv(fd, buf, timeoutMs) -> length, 0 (nothing within timeoutMs), kRecvOverrun (ENOBUFS)
// or kRecvForeignSender. A datagram larger than buf is an error (EMSGSIZE), never silently cut.
Napi::Value NetlinkRecv(const Napi::CallbackInfo& info) {
  int64_t fd, timeoutMs;
  uint8_t* buf;
  size_t cap;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgBytes(info, 1, "buf", &buf, &cap) || !ArgInt(info, 2, "timeoutMs", &timeoutMs))
    return info.Env().Undefined();
  Napi::Env env = info.Env();
  if (timeoutMs > 0) {
    int ready = PollReadable((int)fd, timeoutMs);
    if (ready < 0) return ThrowErrno(env, "poll(netlink fd " + std::to_string(fd) + ")", -ready);
    if (ready == 0) return Napi::Number::New(env, 0);
  }
  struct sockaddr_nl from = {};
  struct iovec iov = {buf, cap};
  struct msghdr msg = {};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  for (;;) {
    n = recvmsg((int)fd, &msg, MSG_DONTWAIT);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, 0);
    if (errno == ENOBUFS) return Napi::Number::New(env, kRecvOverrun);
    return ThrowErrno(env, "recvmsg(netlink fd " + std::to_string(fd) + ")", errno);
  }
  if (msg.msg_flags & MSG_TRUNC)
    return ThrowErrno(env,
                      "recvmsg(netlink fd " + std::to_string(fd) + "): datagram larger than the " +
                          std::to_string(cap) + "-byte buffer was truncated",
                      EMSGSIZE);
  // Only the kernel speaks for itself (port 0); a privileged process could unicast to our port.
  if (msg.msg_namelen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0)
    return Napi::Number::New(env, kRecvForeignSender);
  return Napi::Number::New(env, (double)n);
}

// Batch record markers (in place of a length); keep in sync with shared/netlink/io.ts.
constexpr uint32_t kBatchOverrun = 0xffffffffu;
constexpr uint32_t kBatchForeignSender = 0xfffffffeu;
constexpr uint32_t kBatchTruncated = 0xfffffffdu;
// A datagram is only received into the rest of the buffer when at least this much is left
// (event datagrams are one message, dump parts at most 32 KiB): later ones wait for the next call.
constexpr size_t kBatchReserve = 64 * 1024;

// netlinkRecvBatch(fd, buf, timeoutMs, maxDatagrams) -> bytes of buf used (0 = nothing arrived).
// Packs up to maxDatagrams datagrams into buf as records [u32 length][bytes, padded to 4], where a
// length of kBatchOverrun / kBatchForeignSender / kBatchTruncated marks an ENOBUFS, a discarded
// datagram from another sender, or a datagram larger than the space left (lost) and has no bytes.
// Waits up to timeoutMs for the first datagram only. One call per batch instead of per datagram.
Napi::Value NetlinkRecvBatch(const Napi::CallbackInfo& info) {
  int64_t fd, timeoutMs, maxDatagrams;
  uint8_t* buf;
  size_t cap;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgBytes(info, 1, "buf", &buf, &cap) ||
      !ArgInt(info, 2, "timeoutMs", &timeoutMs) || !ArgInt(info, 3, "maxDatagrams", &maxDatagrams))
    return info.Env().Undefined();
  Napi::Env env = info.Env();
  if (cap < 8 || ((uintptr_t)buf & 3) != 0)
    return ThrowType(env, "netlinkRecvBatch: buf must be 4-byte aligned and at least 8 bytes");
  if (timeoutMs > 0) {
    int ready = PollReadable((int)fd, timeoutMs);
    if (ready < 0) return ThrowErrno(env, "poll(netlink fd " + std::to_string(fd) + ")", -ready);
    if (ready == 0) return Napi::Number::New(env, 0);
  }
  size_t used = 0;
  for (int64_t count = 0; count < maxDatagrams; count++) {
    if (used > 0 && cap - used < 4 + kBatchReserve) break;
    // Whole 4-byte units, so that the padded record never runs past the buffer.
    size_t room = (cap - used - 4) & ~(size_t)3;
    uint32_t* header = reinterpret_cast<uint32_t*>(buf + used);
    struct sockaddr_nl from = {};
    struct iovec iov = {buf + used + 4, room};
    struct msghdr msg = {};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n;
    for (;;) {
      n = recvmsg((int)fd, &msg, MSG_DONTWAIT);
      if (n >= 0 || errno != EINTR) break;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        *header = kBatchOverrun;
        used += 4;
        continue;
      }
      return ThrowErrno(env, "recvmsg(netlink fd " + std::to_string(fd) + ")", errno);
    }
    if (msg.msg_flags & MSG_TRUNC) {
      *header = kBatchTruncated;
      used += 4;
    } else if (msg.msg_namelen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0) {
      *header = kBatchForeignSender;
      used += 4;
    } else {
      *header = (uint32_t)n;
      used += 4 + (((size_t)n + 3) & ~(size_t)3);
    }
    if (cap - used < 8) break;
  }
  return Napi::Number::New(env, (double)used);
}

// netlinkPortId(fd) -> the port id the kernel assigned at bind.
Napi::Value NetlinkPortId(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  struct sockaddr_nl addr = {};
  socklen_t len = sizeof addr;
  if (getsockname((int)fd, (struct sockaddr*)&addr, &len) != 0)
    return ThrowErrno(info.Env(), "getsockname(netlink fd " + std::to_string(fd) + ")", errno);
  if (addr.nl_family != AF_NETLINK)
    return ThrowErrno(info.Env(), "getsockname(fd " + std::to_string(fd) + "): not a netlink socket", ENOTSOCK);
  return Napi::Number::New(info.Env(), addr.nl_pid);
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkOpen", Napi::Function::New(env, NetlinkOpen));
  exports.Set("netlinkSend", Napi::Function::New(env, NetlinkSend));
  exports.Set("netlinkRecv", Napi::Function::New(env, NetlinkRecv));
  exports.Set("netlinkPortId", Napi::Function::New(env, NetlinkPortId));
  exports.Set("netlinkRecvBatch", Napi::Function::New(env, NetlinkRecvBatch));
}

}  // namespace tilenet
