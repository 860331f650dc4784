// The socket provider's data path: one UDP socket per app port, made by the launcher
// (udpSocketOpen), read with recvmmsg and written with sendmmsg by the socket net tile, one call
// per batch. Buffers are the caller's (a payload buffer of equal slots and a Uint32Array of
// per-datagram metadata, both reused across calls): nothing is allocated per datagram here.
// The metadata layout is declared in shared/udp/socket-batch.ts; kMeta* below mirror it and
// udpBatchLayout() exports them so a test checks both sides agree.
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common.h"

namespace tilenet {
namespace {

constexpr uint32_t kMetaWords = 4;
constexpr uint32_t kMetaLength = 0;
constexpr uint32_t kMetaPeerIp = 1;
constexpr uint32_t kMetaPeerPort = 2;
constexpr uint32_t kMetaLocalIp = 3;
constexpr uint32_t kMetaTruncated = 0x10000;
constexpr uint32_t kMaxBatch = 256;

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

// Per-call scratch: the kernel structures that point into the caller's buffers. thread_local
// because an addon may be loaded by several threads; the tile uses one.
struct BatchScratch {
  struct mmsghdr msgs[kMaxBatch];
  struct iovec iov[kMaxBatch];
  struct sockaddr_in addr[kMaxBatch];
  alignas(struct cmsghdr) char control[kMaxBatch][CMSG_SPACE(sizeof(struct in_pktinfo))];
};
thread_local BatchScratch scratch;

Napi::Value CloseAndThrow(Napi::Env env, int fd, const std::string& what) {
  int err = errno;
  close(fd);
  return ThrowErrno(env, what, err);
}

// udpSocketOpen(bindIpHostOrder, port, ifindex, bufferBytes) -> fd of a non-blocking,
// close-on-exec UDP socket with SO_REUSEPORT and IP_PKTINFO, bound to interface `ifindex` (when
// not 0) and to bindIp:port. bufferBytes > 0 sizes both buffers (forced when CAP_NET_ADMIN allows).
Napi::Value UdpSocketOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t ip, port, ifindex, bufferBytes;
  if (!ArgInt(info, 0, "bindIpHostOrder", &ip) || !ArgInt(info, 1, "port", &port) ||
      !ArgInt(info, 2, "ifindex", &ifindex) || !ArgInt(info, 3, "bufferBytes", &bufferBytes))
    return env.Undefined();
  if (ip < 0 || ip > 0xffffffffLL) return ThrowType(env, "udpSocketOpen: bindIpHostOrder must be a u32");
  if (port < 1 || port > 65535) return ThrowType(env, "udpSocketOpen: port must be 1..65535");
  if (ifindex < 0 || ifindex > 0x7fffffffLL) return ThrowType(env, "udpSocketOpen: ifindex out of range");
  if (bufferBytes < 0 || bufferBytes > 0x7fffffffLL) return ThrowType(env, "udpSocketOpen: bufferBytes out of range");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(AF_INET, SOCK_DGRAM)", errno);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    return CloseAndThrow(env, fd, "setsockopt(SO_REUSEPORT)");
  if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0)
    return CloseAndThrow(env, fd, "setsockopt(IP_PKTINFO)");
  int bound = (int)ifindex;
  if (bound != 0 && setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &bound, sizeof bound) != 0)
    return CloseAndThrow(env, fd, "setsockopt(SO_BINDTOIFINDEX " + std::to_string(bound) + ")");
  // Forcing needs CAP_NET_ADMIN (a container may not have it): then the plain options, which
  // net.core.rmem_max / wmem_max cap.
  int bytes = (int)bufferBytes;
  const int options[2][2] = {{SO_RCVBUFFORCE, SO_RCVBUF}, {SO_SNDBUFFORCE, SO_SNDBUF}};
  for (int k = 0; k < 2 && bytes > 0; k++) {
    if (setsockopt(fd, SOL_SOCKET, options[k][0], &bytes, sizeof bytes) == 0) continue;
    if (errno != EPERM || setsockopt(fd, SOL_SOCKET, options[k][1], &bytes, sizeof bytes) != 0)
      return CloseAndThrow(env, fd, "setsockopt(socket buffer " + std::to_string(bytes) + " bytes)");
  }
  struct sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl((uint32_t)ip);
  if (bind(fd, (struct sockaddr*)&sin, sizeof sin) != 0)
    return CloseAndThrow(env, fd, "bind(UDP port " + std::to_string(port) + ")");
  return Napi::Number::New(env, fd);
}

// Reads the common (fd, buf, slotBytes, meta) arguments and checks `count` slots fit both.
bool BatchArgs(const Napi::CallbackInfo& info, const char* fn, int64_t* fd, uint8_t** buf, int64_t* slotBytes,
               uint32_t** meta, int64_t lastSlot) {
  uint8_t* metaBytes;
  size_t bufLen, metaLen;
  if (!ArgInt(info, 0, "fd", fd) || !ArgBytes(info, 1, "buf", buf, &bufLen) ||
      !ArgInt(info, 2, "slotBytes", slotBytes) || !ArgBytes(info, 3, "meta", &metaBytes, &metaLen))
    return false;
  std::string name(fn);
  if (*slotBytes < 1 || *slotBytes > 65536) return ThrowType(info.Env(), name + ": slotBytes must be 1..65536"), false;
  if ((uintptr_t)metaBytes % 4 != 0) return ThrowType(info.Env(), name + ": meta must be 4-byte aligned"), false;
  if ((uint64_t)lastSlot * (uint64_t)*slotBytes > bufLen || (uint64_t)lastSlot * kMetaWords * 4 > metaLen)
    return ThrowType(info.Env(), name + ": buf or meta too small for the batch"), false;
  *meta = reinterpret_cast<uint32_t*>(metaBytes);
  return true;
}

// udpRecvBatch(fd, buf, slotBytes, meta, maxMessages) -> datagrams received (0: none waiting,
// EAGAIN), or -errno for a socket error. Datagram i is in buf[i * slotBytes, + length); meta
// words per datagram: length (bytes stored), peer IP, peer port | truncated flag, local IP (the
// destination address, from IP_PKTINFO). One recvmmsg(MSG_DONTWAIT, no timeout).
Napi::Value UdpRecvBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slotBytes, maxMessages;
  uint8_t* buf;
  uint32_t* meta;
  if (!ArgInt(info, 4, "maxMessages", &maxMessages)) return env.Undefined();
  if (maxMessages < 1 || maxMessages > kMaxBatch) return ThrowType(env, "udpRecvBatch: maxMessages must be 1..256");
  if (!BatchArgs(info, "udpRecvBatch", &fd, &buf, &slotBytes, &meta, maxMessages)) return env.Undefined();
  BatchScratch& s = scratch;
  for (int64_t i = 0; i < maxMessages; i++) {
    s.iov[i] = {buf + i * slotBytes, (size_t)slotBytes};
    struct msghdr& h = s.msgs[i].msg_hdr;
    h = {};
    h.msg_name = &s.addr[i];
    h.msg_namelen = sizeof s.addr[i];
    h.msg_iov = &s.iov[i];
    h.msg_iovlen = 1;
    h.msg_control = s.control[i];
    h.msg_controllen = sizeof s.control[i];
  }
  int n;
  do n = recvmmsg((int)fd, s.msgs, (unsigned)maxMessages, MSG_DONTWAIT, nullptr);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return Napi::Number::New(env, 0);
    if (errno == EBADF || errno == ENOTSOCK || errno == EFAULT || errno == EINVAL)
      return ThrowErrno(env, "recvmmsg(fd " + std::to_string(fd) + ")", errno);
    return Napi::Number::New(env, -errno);
  }
  for (int i = 0; i < n; i++) {
    struct msghdr& h = s.msgs[i].msg_hdr;
    uint32_t* m = meta + i * kMetaWords;
    m[kMetaLength] = s.msgs[i].msg_len;
    m[kMetaPeerIp] = ntohl(s.addr[i].sin_addr.s_addr);
    m[kMetaPeerPort] = ntohs(s.addr[i].sin_port) | ((h.msg_flags & MSG_TRUNC) ? kMetaTruncated : 0);
    m[kMetaLocalIp] = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_PKTINFO) continue;
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      m[kMetaLocalIp] = ntohl(pi.ipi_addr.s_addr);
    }
  }
  return Napi::Number::New(env, n);
}

// udpSendBatch(fd, buf, slotBytes, meta, first, count) -> datagrams sent from slot `first` on
// (fewer than count when one fails: the caller resumes after it), or -errno when the first one
// fails (-EAGAIN: the socket buffer is full). Meta words per datagram: length, destination IP,
// destination port, source IP (0: the route's; otherwise set with IP_PKTINFO). One sendmmsg.
Napi::Value UdpSendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, slotBytes, first, count;
  uint8_t* buf;
  uint32_t* meta;
  if (!ArgInt(info, 4, "first", &first) || !ArgInt(info, 5, "count", &count)) return env.Undefined();
  if (first < 0 || count < 1 || count > kMaxBatch || first + count > kMaxBatch)
    return ThrowType(env, "udpSendBatch: first + count must be within 1..256");
  if (!BatchArgs(info, "udpSendBatch", &fd, &buf, &slotBytes, &meta, first + count)) return env.Undefined();
  BatchScratch& s = scratch;
  for (int64_t k = 0; k < count; k++) {
    int64_t i = first + k;
    const uint32_t* m = meta + i * kMetaWords;
    uint32_t length = m[kMetaLength];
    if (length > (uint32_t)slotBytes) return ThrowType(env, "udpSendBatch: a length exceeds slotBytes");
    s.iov[k] = {buf + i * slotBytes, length};
    s.addr[k] = {};
    s.addr[k].sin_family = AF_INET;
    s.addr[k].sin_port = htons((uint16_t)m[kMetaPeerPort]);
    s.addr[k].sin_addr.s_addr = htonl(m[kMetaPeerIp]);
    struct msghdr& h = s.msgs[k].msg_hdr;
    h = {};
    h.msg_name = &s.addr[k];
    h.msg_namelen = sizeof s.addr[k];
    h.msg_iov = &s.iov[k];
    h.msg_iovlen = 1;
    if (m[kMetaLocalIp] != 0) {
      h.msg_control = s.control[k];
      h.msg_controllen = sizeof s.control[k];
      struct cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
      struct in_pktinfo pi = {};
      pi.ipi_spec_dst.s_addr = htonl(m[kMetaLocalIp]);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
  }
  int n;
  do n = sendmmsg((int)fd, s.msgs, (unsigned)count, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EBADF || errno == ENOTSOCK || errno == EFAULT)
      return ThrowErrno(env, "sendmmsg(fd " + std::to_string(fd) + ")", errno);
    return Napi::Number::New(env, -errno);
  }
  return Napi::Number::New(env, n);
}

Napi::Value UdpBatchLayout(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("metaWords", kMetaWords);
  out.Set("length", kMetaLength);
  out.Set("peerIp", kMetaPeerIp);
  out.Set("peerPort", kMetaPeerPort);
  out.Set("localIp", kMetaLocalIp);
  out.Set("truncated", kMetaTruncated);
  out.Set("maxBatch", kMaxBatch);
  return out;
}

}  // namespace

void InitUdpBatch(Napi::Env env, Napi::Object exports) {
  exports.Set("udpSocketOpen", Napi::Function::New(env, UdpSocketOpen));
  exports.Set("udpRecvBatch", Napi::Function::New(env, UdpRecvBatch));
  exports.Set("udpSendBatch", Napi::Function::New(env, UdpSendBatch));
  exports.Set("udpBatchLayout", Napi::Function::New(env, UdpBatchLayout));
}

}  // namespace tilenet
