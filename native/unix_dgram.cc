// Unix datagram sockets, which Node's net and dgram modules cannot reach: the launcher sends
// sd_notify messages (READY=1, WATCHDOG=1, STOPPING=1) to $NOTIFY_SOCKET with them, and the tests
// bind a receiving socket to play systemd's part. A path starting with '@' is in the abstract
// namespace (the '@' stands for the leading NUL byte), as systemd writes it in NOTIFY_SOCKET.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>

#include "common.h"

namespace tilenet {
namespace {

// Fills `addr` from `path`; returns the address length, or 0 (TypeError thrown) when it is empty
// or does not fit sun_path.
socklen_t UnixAddress(Napi::Env env, const std::string& path, struct sockaddr_un* addr) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() > sizeof(addr->sun_path) - 1) {
    ThrowType(env, "unix socket path must be 1-107 bytes: " + path);
    return 0;
  }
  memcpy(addr->sun_path, path.data(), path.size());
  if (path[0] == '@') addr->sun_path[0] = '\0';
  // Abstract names are exactly as long as given (no terminating NUL counted); paths include it.
  size_t len = offsetof(struct sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1);
  return (socklen_t)len;
}

// unixDgramSend(path, bytes): one datagram from a fresh unbound socket, closed at once.
Napi::Value UnixDgramSend(const Napi::CallbackInfo& info) {
  std::string path;
  uint8_t* data;
  size_t len;
  if (!ArgString(info, 0, "path", &path) || !ArgBytes(info, 1, "bytes", &data, &len)) return info.Env().Undefined();
  struct sockaddr_un addr;
  socklen_t addrLen = UnixAddress(info.Env(), path, &addr);
  if (addrLen == 0) return info.Env().Undefined();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(info.Env(), "socket(AF_UNIX, SOCK_DGRAM)", errno);
  ssize_t n = sendto(fd, data, len, MSG_NOSIGNAL, (struct sockaddr*)&addr, addrLen);
  int err = errno;
  close(fd);
  if (n < 0) return ThrowErrno(info.Env(), "sendto(" + path + ")", err);
  return info.Env().Undefined();
}

// unixDgramConnect(path) -> fd: a socket connected to path, so sends need no permission on the
// path any more (the launcher connects while root, and notifies after its privilege drop).
Napi::Value UnixDgramConnect(const Napi::CallbackInfo& info) {
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return info.Env().Undefined();
  struct sockaddr_un addr;
  socklen_t addrLen = UnixAddress(info.Env(), path, &addr);
  if (addrLen == 0) return info.Env().Undefined();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(info.Env(), "socket(AF_UNIX, SOCK_DGRAM)", errno);
  if (connect(fd, (struct sockaddr*)&addr, addrLen) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "connect(" + path + ")", err);
  }
  return Napi::Number::New(info.Env(), fd);
}

// unixDgramBind(path) -> fd: a non-blocking receiving socket bound to path (tests: systemd's side).
Napi::Value UnixDgramBind(const Napi::CallbackInfo& info) {
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return info.Env().Undefined();
  struct sockaddr_un addr;
  socklen_t addrLen = UnixAddress(info.Env(), path, &addr);
  if (addrLen == 0) return info.Env().Undefined();
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ThrowErrno(info.Env(), "socket(AF_UNIX, SOCK_DGRAM)", errno);
  if (bind(fd, (struct sockaddr*)&addr, addrLen) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "bind(" + path + ")", err);
  }
  return Napi::Number::New(info.Env(), fd);
}

// unixDgramRecv(fd) -> Buffer of the next datagram, or null when none is queued.
Napi::Value UnixDgramRecv(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  uint8_t buf[4096];
  ssize_t n = recv((int)fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return info.Env().Null();
    return ThrowErrno(info.Env(), "recv(fd " + std::to_string(fd) + ")", errno);
  }
  return Napi::Buffer<uint8_t>::Copy(info.Env(), buf, (size_t)n);
}

}  // namespace

void InitUnixDgram(Napi::Env env, Napi::Object exports) {
  exports.Set("unixDgramSend", Napi::Function::New(env, UnixDgramSend));
  exports.Set("unixDgramBind", Napi::Function::New(env, UnixDgramBind));
  exports.Set("unixDgramConnect", Napi::Function::New(env, UnixDgramConnect));
  exports.Set("unixDgramRecv", Napi::Function::New(env, UnixDgramRecv));
}

}  // namespace tilenet
