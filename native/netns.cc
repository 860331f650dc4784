// Network namespaces: the launcher's main thread briefly enters a namespace to create sockets,
// XDP attachments and interface lookups there, then returns to its own.
#include <fcntl.h>
#include <cstdio>
#include <cstdlib>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
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

// Makes dir a shared mount point (bind-mounting it onto itself first when it is not a mount point),
// so that namespace mounts under it propagate to every mount namespace: what iproute2 does.
int MakeSharedMount(const std::string& dir) {
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return 0;
  if (errno != EINVAL) return errno;
  if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) return errno;
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) return errno;
  return 0;
}

// netnsCreateAt(runDir, file): a new network namespace, pinned by bind-mounting it on `file` (an
// existing empty file under runDir). Only the calling thread enters the new namespace, and only
// for the bind mount; it returns to its own namespace before this returns.
Napi::Value NetnsCreateAt(const Napi::CallbackInfo& info) {
  std::string dir, file;
  if (!ArgString(info, 0, "runDir", &dir) || !ArgString(info, 1, "file", &file)) return info.Env().Undefined();
  Napi::Env env = info.Env();
  int err = MakeSharedMount(dir);
  if (err != 0) return ThrowErrno(env, "mount --make-rshared " + dir, err);
  int old = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (old < 0) return ThrowErrno(env, "open(/proc/thread-self/ns/net)", errno);
  if (unshare(CLONE_NEWNET) != 0) {
    err = errno;
    close(old);
    return ThrowErrno(env, "unshare(CLONE_NEWNET)", err);
  }
  int rc = mount("/proc/thread-self/ns/net", file.c_str(), "none", MS_BIND, nullptr);
  err = errno;
  if (setns(old, CLONE_NEWNET) != 0) {
    // The thread would stay in the new namespace: nothing sensible can continue.
    perror("tilenet: setns back after creating a namespace");
    abort();
  }
  close(old);
  if (rc != 0) return ThrowErrno(env, "mount --bind /proc/thread-self/ns/net " + file, err);
  return env.Undefined();
}

// netnsUnmount(file): detaches the namespace bind mount (the namespace lives on while used).
Napi::Value NetnsUnmount(const Napi::CallbackInfo& info) {
  std::string file;
  if (!ArgString(info, 0, "file", &file)) return info.Env().Undefined();
  if (umount2(file.c_str(), MNT_DETACH) != 0 && errno != EINVAL)
    return ThrowErrno(info.Env(), "umount2(" + file + ", MNT_DETACH)", errno);
  return info.Env().Undefined();
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsEnter", Napi::Function::New(env, NetnsEnter));
  exports.Set("netnsRestore", Napi::Function::New(env, NetnsRestore));
  exports.Set("ifNameToIndex", Napi::Function::New(env, IfNameToIndex));
  exports.Set("netnsCreateAt", Napi::Function::New(env, NetnsCreateAt));
  exports.Set("netnsUnmount", Napi::Function::New(env, NetnsUnmount));
}

}  // namespace tilenet
