// The IPv6 neighbor probe socket: an empty UDP datagram to an on-link IPv6 address makes the kernel
// resolve it with a Neighbor Solicitation, with no privilege at send time (measured: uid 65534,
// CapEff 0; connect() alone sends nothing, RTM_NEWNEIGH + NTF_USE gets EPERM). Hop limit 1 keeps
// the datagram on the link; IPV6_V6ONLY keeps a v4-mapped destination from turning it into IPv4.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace tilenet {
namespace {

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

Napi::Value FailClose(const Napi::Env& env, int fd, const std::string& what) {
  int err = errno;
  close(fd);
  return ThrowErrno(env, what, err);
}

// probeSocketOpen6(ifindex = 0) -> fd of a nonblocking AF_INET6 UDP socket with hop limit 1,
// IPV6_V6ONLY and SO_DONTROUTE, bound to interface `ifindex` when it is not 0 (SO_BINDTOIFINDEX,
// needs CAP_NET_RAW: the launcher makes it as root, before the tile's sandbox).
Napi::Value ProbeSocketOpen6(const Napi::CallbackInfo& info) {
  int64_t bindIfindex = 0;
  if (info.Length() > 0 && !info[0].IsUndefined() && !ArgInt(info, 0, "ifindex", &bindIfindex))
    return info.Env().Undefined();
  if (bindIfindex < 0 || bindIfindex > 0x7fffffffLL) return ThrowType(info.Env(), "probeSocketOpen6: ifindex out of range");
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(info.Env(), "socket(AF_INET6, SOCK_DGRAM)", errno);
  int hops = 1, one = 1;
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops) != 0)
    return FailClose(info.Env(), fd, "setsockopt(probe6 socket, IPV6_UNICAST_HOPS 1)");
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
    return FailClose(info.Env(), fd, "setsockopt(probe6 socket, IPV6_V6ONLY)");
  if (setsockopt(fd, SOL_SOCKET, SO_DONTROUTE, &one, sizeof one) != 0)
    return FailClose(info.Env(), fd, "setsockopt(probe6 socket, SO_DONTROUTE)");
  int bound = (int)bindIfindex;
  if (bound != 0 && setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &bound, sizeof bound) != 0)
    return FailClose(info.Env(), fd, "setsockopt(probe6 socket, SO_BINDTOIFINDEX " + std::to_string(bound) + ")");
  return Napi::Number::New(info.Env(), fd);
}

// probeSend6(fd, ifindex, a0, a1, a2, a3, port) -> 0 or -errno. The address is the four u32 words
// of shared/ip6.ts. A link-local destination carries ifindex as its scope (sin6_scope_id), as the
// kernel requires; -ENODEV when ifindex is not the socket's bound interface. Per-probe failures
// are values; bad arguments throw.
Napi::Value ProbeSend6(const Napi::CallbackInfo& info) {
  int64_t fd, ifindex, w[4], port;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgInt(info, 1, "ifindex", &ifindex) || !ArgInt(info, 2, "a0", &w[0]) ||
      !ArgInt(info, 3, "a1", &w[1]) || !ArgInt(info, 4, "a2", &w[2]) || !ArgInt(info, 5, "a3", &w[3]) ||
      !ArgInt(info, 6, "port", &port))
    return info.Env().Undefined();
  for (int i = 0; i < 4; i++)
    if (w[i] < 0 || w[i] > 0xffffffffLL) return ThrowType(info.Env(), "probeSend6: address words must be u32");
  if (ifindex < 0 || ifindex > 0x7fffffffLL) return ThrowType(info.Env(), "probeSend6: ifindex out of range");
  if (port < 1 || port > 65535) return ThrowType(info.Env(), "probeSend6: port must be 1..65535");

  struct sockaddr_in6 dst;
  memset(&dst, 0, sizeof dst);
  dst.sin6_family = AF_INET6;
  dst.sin6_port = htons((uint16_t)port);
  for (int i = 0; i < 4; i++) {
    uint32_t v = (uint32_t)w[i];
    dst.sin6_addr.s6_addr[i * 4] = (uint8_t)(v >> 24);
    dst.sin6_addr.s6_addr[i * 4 + 1] = (uint8_t)(v >> 16);
    dst.sin6_addr.s6_addr[i * 4 + 2] = (uint8_t)(v >> 8);
    dst.sin6_addr.s6_addr[i * 4 + 3] = (uint8_t)v;
  }
  bool linkLocal = ((uint32_t)w[0] >> 22) == 0x3fa;  // fe80::/10
  if (linkLocal) dst.sin6_scope_id = (uint32_t)ifindex;

  return SendEmptyProbe(info.Env(), (int)fd, (int)ifindex, &dst, sizeof dst, "probe6");
}

}  // namespace

void InitProbe6(Napi::Env env, Napi::Object exports) {
  exports.Set("probeSocketOpen6", Napi::Function::New(env, ProbeSocketOpen6));
  exports.Set("probeSend6", Napi::Function::New(env, ProbeSend6));
}

}  // namespace tilenet
