// Plain sockets: the neighbor probe socket. An empty UDP datagram to an on-link IPv4 address makes
// the kernel resolve it with ARP, which needs no privilege at send time (unlike RTM_NEWNEIGH with
// NTF_USE). TTL 1 and SO_DONTROUTE keep the datagram on the link even if it ever left the host.
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "common.h"

namespace tilenet {
namespace {

int64_t MonotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62
#endif

// probeSocketOpen(ifindex = 0) -> fd of a nonblocking UDP socket with TTL 1 and SO_DONTROUTE,
// bound to interface `ifindex` when it is not 0 (SO_BINDTOIFINDEX; the launcher does it as root).
// Everything a probe needs is fixed here, before the sandbox: the tile's filter then allows only
// an empty sendto with fixed flags on this fd (no cmsg can change TTL, source or interface).
Napi::Value ProbeSocketOpen(const Napi::CallbackInfo& info) {
  int64_t bindIfindex = 0;
  if (info.Length() > 0 && !info[0].IsUndefined() && !ArgInt(info, 0, "ifindex", &bindIfindex))
    return info.Env().Undefined();
  if (bindIfindex < 0 || bindIfindex > 0x7fffffffLL) return ThrowType(info.Env(), "probeSocketOpen: ifindex out of range");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(info.Env(), "socket(AF_INET, SOCK_DGRAM)", errno);
  int ttl = 1, one = 1;
  if (setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "setsockopt(probe socket, IP_TTL 1)", err);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_DONTROUTE, &one, sizeof one) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "setsockopt(probe socket, SO_DONTROUTE)", err);
  }
  int bound = (int)bindIfindex;
  if (bound != 0 && setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &bound, sizeof bound) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "setsockopt(probe socket, SO_BINDTOIFINDEX " + std::to_string(bound) + ")", err);
  }
  return Napi::Number::New(info.Env(), fd);
}

// probeSend(fd, ipHostOrder, ifindex, port) -> 0 or -errno (-ENODEV: ifindex is not the socket's). Per-probe failures (EAGAIN when the
// socket buffer is full, ENETUNREACH, EHOSTUNREACH after failed resolution...) are values, not
// exceptions: the caller counts them. Bad arguments still throw.
Napi::Value ProbeSend(const Napi::CallbackInfo& info) {
  int64_t fd, ip, ifindex, port;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgInt(info, 1, "ipHostOrder", &ip) || !ArgInt(info, 2, "ifindex", &ifindex) ||
      !ArgInt(info, 3, "port", &port))
    return info.Env().Undefined();
  if (ip < 0 || ip > 0xffffffffLL) return ThrowType(info.Env(), "probeSend: ipHostOrder must be a u32");
  if (ifindex < 0 || ifindex > 0x7fffffffLL) return ThrowType(info.Env(), "probeSend: ifindex out of range");
  if (port < 1 || port > 65535) return ThrowType(info.Env(), "probeSend: port must be 1..65535");

  struct sockaddr_in dst = {};
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  dst.sin_addr.s_addr = htonl((uint32_t)ip);

  return SendEmptyProbe(info.Env(), (int)fd, (int)ifindex, &dst, sizeof dst, "probe");
}

// pollIn(fd, timeoutMs) -> true when readable. EINTR restarts with the time that is left.
Napi::Value PollIn(const Napi::CallbackInfo& info) {
  int64_t fd, timeoutMs;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgInt(info, 1, "timeoutMs", &timeoutMs)) return info.Env().Undefined();
  int64_t deadline = MonotonicMs() + (timeoutMs > 0 ? timeoutMs : 0);
  for (;;) {
    struct pollfd p = {(int)fd, POLLIN, 0};
    int64_t left = timeoutMs > 0 ? deadline - MonotonicMs() : 0;
    if (left < 0) left = 0;
    int rc = poll(&p, 1, (int)(left > 2147483647 ? 2147483647 : left));
    if (rc > 0) {
      if (p.revents & POLLNVAL)
        return ThrowErrno(info.Env(), "poll(fd " + std::to_string(fd) + "): not an open descriptor", EBADF);
      return Napi::Boolean::New(info.Env(), (p.revents & POLLIN) != 0);
    }
    if (rc == 0) return Napi::Boolean::New(info.Env(), false);
    if (errno != EINTR) return ThrowErrno(info.Env(), "poll(fd " + std::to_string(fd) + ")", errno);
  }
}

}  // namespace

// The interface is the one the socket was bound to when it was made; a probe for another one is
// refused, not misdirected. An unbound socket (tests) lets the kernel pick the on-link interface.
Napi::Value SendEmptyProbe(Napi::Env env, int fd, int ifindex, const void* dst, unsigned dstLen, const char* what) {
  int bound = 0;
  socklen_t boundLen = sizeof bound;
  if (getsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, &bound, &boundLen) != 0)
    return ThrowErrno(env, std::string("getsockopt(") + what + " fd " + std::to_string(fd) + ", SO_BINDTOIFINDEX)", errno);
  if (bound != 0 && ifindex != bound) return Napi::Number::New(env, -ENODEV);
  for (;;) {
    ssize_t n = sendto(fd, "", 0, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr*)dst, (socklen_t)dstLen);
    if (n >= 0) return Napi::Number::New(env, 0);
    if (errno == EINTR) continue;
    if (errno == EBADF || errno == ENOTSOCK || errno == EFAULT)
      return ThrowErrno(env, std::string("sendto(") + what + " fd " + std::to_string(fd) + ")", errno);
    return Napi::Number::New(env, -errno);
  }
}

// ethtoolDriverInfo(ifname) -> { driver, version, firmwareVersion, busInfo, ... } from the
// ETHTOOL_GDRVINFO ioctl (ethtool's netlink interface has no driver information message), for a
// device in the calling thread's network namespace.
Napi::Value EthtoolDriverInfo(const Napi::CallbackInfo& info) {
  std::string name;
  if (!ArgString(info, 0, "ifname", &name)) return info.Env().Undefined();
  Napi::Env env = info.Env();
  if (name.empty() || name.size() >= IFNAMSIZ) return ThrowType(env, "ethtoolDriverInfo: ifname must be 1-15 bytes");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(AF_INET, SOCK_DGRAM)", errno);
  struct ethtool_drvinfo drv = {};
  drv.cmd = ETHTOOL_GDRVINFO;
  struct ifreq ifr = {};
  memcpy(ifr.ifr_name, name.c_str(), name.size());
  ifr.ifr_data = reinterpret_cast<char*>(&drv);
  int rc = ioctl(fd, SIOCETHTOOL, &ifr);
  int err = errno;
  close(fd);
  if (rc != 0) return ThrowErrno(env, "ioctl(SIOCETHTOOL ETHTOOL_GDRVINFO, " + name + ")", err);
  auto text = [](const char* s, size_t cap) { return std::string(s, strnlen(s, cap)); };
  Napi::Object out = Napi::Object::New(env);
  out.Set("driver", text(drv.driver, sizeof drv.driver));
  out.Set("version", text(drv.version, sizeof drv.version));
  out.Set("firmwareVersion", text(drv.fw_version, sizeof drv.fw_version));
  out.Set("busInfo", text(drv.bus_info, sizeof drv.bus_info));
  out.Set("expansionRomVersion", text(drv.erom_version, sizeof drv.erom_version));
  out.Set("nPrivFlags", drv.n_priv_flags);
  out.Set("nStats", drv.n_stats);
  out.Set("testInfoLength", drv.testinfo_len);
  out.Set("eepromDumpLength", drv.eedump_len);
  out.Set("registerDumpLength", drv.regdump_len);
  return out;
}

// tunCreate(ifname, tap, multiQueue): a persistent tun (or tap) device in the calling thread's
// network namespace, as `ip tuntap add` makes it (rtnetlink cannot create one). Delete it with
// RTM_DELLINK.
Napi::Value TunCreate(const Napi::CallbackInfo& info) {
  std::string name;
  bool tap, multiQueue;
  if (!ArgString(info, 0, "ifname", &name) || !ArgBool(info, 1, "tap", &tap) ||
      !ArgBool(info, 2, "multiQueue", &multiQueue))
    return info.Env().Undefined();
  Napi::Env env = info.Env();
  if (name.empty() || name.size() >= IFNAMSIZ) return ThrowType(env, "tunCreate: ifname must be 1-15 bytes");
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open(/dev/net/tun)", errno);
  struct ifreq ifr = {};
  memcpy(ifr.ifr_name, name.c_str(), name.size());
  ifr.ifr_flags = (short)((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (multiQueue ? IFF_MULTI_QUEUE : 0));
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "ioctl(TUNSETIFF, " + name + ")", err);
  }
  if (ioctl(fd, TUNSETPERSIST, 1) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "ioctl(TUNSETPERSIST, " + name + ")", err);
  }
  close(fd);
  return env.Undefined();
}

void InitSockets(Napi::Env env, Napi::Object exports) {
  exports.Set("tunCreate", Napi::Function::New(env, TunCreate));
  exports.Set("ethtoolDriverInfo", Napi::Function::New(env, EthtoolDriverInfo));
  exports.Set("probeSocketOpen", Napi::Function::New(env, ProbeSocketOpen));
  exports.Set("probeSend", Napi::Function::New(env, ProbeSend));
  exports.Set("pollIn", Napi::Function::New(env, PollIn));
}

}  // namespace tilenet
