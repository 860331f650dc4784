// openat2(2): the one primitive of the launcher's safe sysfs layer (launcher/sysfs/). The kernel
// resolves the path beneath dirfd with the caller's RESOLVE_* flags, so a symlink or ".." planted
// in /sys cannot send a privileged write elsewhere. Thin on purpose: policy lives in TypeScript.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

namespace tilenet {
namespace {

// openat2(dirfd, path, flags, resolve) -> fd (O_CLOEXEC always added); throws naming the path.
Napi::Value Openat2(const Napi::CallbackInfo& info) {
  int64_t dirfd, flags, resolve;
  std::string path;
  if (!ArgInt(info, 0, "dirfd", &dirfd) || !ArgString(info, 1, "path", &path) ||
      !ArgInt(info, 2, "flags", &flags) || !ArgInt(info, 3, "resolve", &resolve))
    return info.Env().Undefined();
  struct open_how how = {};
  how.flags = (uint64_t)flags | O_CLOEXEC;
  how.resolve = (uint64_t)resolve;
  long fd = syscall(SYS_openat2, (int)dirfd, path.c_str(), &how, sizeof how);
  if (fd < 0) return ThrowErrno(info.Env(), "openat2(" + path + ")", errno);
  return Napi::Number::New(info.Env(), (double)fd);
}

}  // namespace

void InitOpenat2(Napi::Env env, Napi::Object exports) {
  exports.Set("openat2", Napi::Function::New(env, Openat2));
}

}  // namespace tilenet
