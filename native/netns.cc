// Network namespaces: the launcher's main thread briefly enters a namespace to create sockets,
// XDP attachments and interface lookups there, then returns to its own.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include "common.h"

namespace tilenet {
namespace {

// netnsEnter(path) -> fd of the namespace the thread was in (pass it to netnsRestore).
Napi::Value NetnsEnter(const Napi::CallbackInfo& info) {
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return info.Env().Undefined();
  int old = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (old < 0) return ThrowErrno(info.Env(), "open(/proc/thread-self/ns/net)", errno);
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(old);
    return ThrowErrno(info.Env(), "open(" + path + ")", err);
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(old);
    return ThrowErrno(info.Env(), "setns(" + path + ")", err);
  }
  close(target);
  return Napi::Number::New(info.Env(), old);
}

// netnsRestore(fd): back to the namespace saved by netnsEnter; closes fd.
Napi::Value NetnsRestore(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  int rc = setns((int)fd, CLONE_NEWNET);
  int err = errno;
  close((int)fd);
  if (rc != 0) return ThrowErrno(info.Env(), "setns(restore)", err);
  return info.Env().Undefined();
}

// ifNameToIndex(name) -> ifindex in the thread's current namespace, 0 if there is none.
Napi::Value IfNameToIndex(const Napi::CallbackInfo& info) {
  std::string name;
  if (!ArgString(info, 0, "name", &name)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), if_nametoindex(name.c_str()));
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsEnter", Napi::Function::New(env, NetnsEnter));
  exports.Set("netnsRestore", Napi::Function::New(env, NetnsRestore));
  exports.Set("ifNameToIndex", Napi::Function::New(env, IfNameToIndex));
}

}  // namespace tilenet
