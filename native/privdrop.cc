// What the launcher needs to hand its privileges to the keeper (native/keeper.c) and then drop
// them: a stream socketpair and pipes Node cannot make, a send with descriptors attached
// (SCM_RIGHTS), and the switch of every thread to an unprivileged uid/gid.
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "common.h"

namespace tilenet {
namespace {

constexpr size_t kMaxSendFds = 64;

Napi::Value PairOf(Napi::Env env, int a, int b) {
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, a));
  out.Set(1u, Napi::Number::New(env, b));
  return out;
}

// streamSocketPair(): [fdA, fdB], AF_UNIX SOCK_STREAM, close-on-exec.
Napi::Value StreamSocketPair(const Napi::CallbackInfo& info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return ThrowErrno(info.Env(), "socketpair", errno);
  return PairOf(info.Env(), fds[0], fds[1]);
}

// pipe(): [readFd, writeFd], close-on-exec.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ThrowErrno(info.Env(), "pipe2", errno);
  return PairOf(info.Env(), fds[0], fds[1]);
}

// sendWithFds(socketFd, bytes, fds[]): the whole of bytes in one blocking sendmsg, the
// descriptors attached to it. Short requests to a local peer: no partial write is accepted.
Napi::Value SendWithFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t sock;
  uint8_t* data;
  size_t len;
  if (!ArgInt(info, 0, "socketFd", &sock) || !ArgBytes(info, 1, "bytes", &data, &len)) return env.Undefined();
  if (!info[2].IsArray()) return ThrowType(env, "fds must be an array of descriptors");
  Napi::Array list = info[2].As<Napi::Array>();
  if (list.Length() > kMaxSendFds) return ThrowType(env, "at most 64 descriptors per message");
  std::vector<int> fds;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsNumber()) return ThrowType(env, "fds must be numbers");
    fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  struct iovec iov = {data, len};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do n = sendmsg((int)sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, "sendmsg", errno);
  if ((size_t)n != len) return ThrowErrno(env, "sendmsg (partial)", EAGAIN);
  return env.Undefined();
}

// dropToIds(uid, gid): no supplementary groups, then real, effective and saved gid and uid.
// glibc applies each of these to every thread of the process (its setxid broadcast), and the
// kernel empties a thread's permitted and effective capabilities when its uids leave 0.
Napi::Value DropToIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t uid, gid;
  if (!ArgInt(info, 0, "uid", &uid) || !ArgInt(info, 1, "gid", &gid)) return env.Undefined();
  if (uid <= 0 || gid <= 0 || uid > 0xfffffffe || gid > 0xfffffffe) return ThrowType(env, "uid and gid must be 1..4294967294");
  if (setgroups(0, nullptr) != 0) return ThrowErrno(env, "setgroups", errno);
  if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) return ThrowErrno(env, "setresgid", errno);
  if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) return ThrowErrno(env, "setresuid", errno);
  return env.Undefined();
}

}  // namespace

void InitPrivdrop(Napi::Env env, Napi::Object exports) {
  exports.Set("streamSocketPair", Napi::Function::New(env, StreamSocketPair));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("sendWithFds", Napi::Function::New(env, SendWithFds));
  exports.Set("dropToIds", Napi::Function::New(env, DropToIds));
}

}  // namespace tilenet
