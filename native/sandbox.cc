// Sandbox, in-process part: what a tile does to itself after mapping its regions and before it
// reads untrusted input. Privileges (uid, capabilities, namespaces) are dropped earlier, before
// exec, by tilenet-exec (native/sandbox_exec.c), because capability state is per thread.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <vector>

#include "common.h"

// Kernel headers here are 6.1; the running kernel is newer. Define what 6.1 may lack.
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
// ABI 8: landlock_restrict_self applies the domain to every thread of the process.
#ifndef LANDLOCK_RESTRICT_SELF_TSYNC
#define LANDLOCK_RESTRICT_SELF_TSYNC (1U << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC (1UL << 0)
#endif

namespace tilenet {
namespace {

// Filesystem access rights by landlock ABI version: ABI 1 has bits 0..12 (EXECUTE..MAKE_SYM),
// ABI 2 adds REFER (13), ABI 3 TRUNCATE (14), ABI 5 IOCTL_DEV (15). ABIs 4, 6, 7 add network,
// scope and logging features but no filesystem right.
uint64_t LandlockFsRights(long abi) {
  uint64_t rights = (1ULL << 13) - 1;
  if (abi >= 2) rights |= 1ULL << 13;
  if (abi >= 3) rights |= 1ULL << 14;
  if (abi >= 5) rights |= 1ULL << 15;
  return rights;
}

// The running kernel's landlock ABI version, 0 when landlock is absent or disabled, or -errno.
long LandlockAbi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi >= 0) return abi;
  if (errno == ENOSYS || errno == EOPNOTSUPP) return 0;
  return -errno;
}

// installSeccomp(program): the program is an array of struct sock_filter, 8 bytes each,
// little-endian {u16 code, u8 jt, u8 jf, u32 k}. TSYNC puts every thread of the process under it.
Napi::Value InstallSeccomp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* bytes;
  size_t len;
  if (!ArgBytes(info, 0, "program", &bytes, &len)) return env.Undefined();
  if (len == 0 || len % 8 != 0 || len / 8 > BPF_MAXINSNS) {
    return ThrowType(env, "installSeccomp: program must be 1.." + std::to_string(BPF_MAXINSNS) +
                              " instructions of 8 bytes, got " + std::to_string(len) + " bytes");
  }
  std::vector<sock_filter> filter(len / 8);
  for (size_t i = 0; i < filter.size(); i++) {
    const uint8_t* p = bytes + i * 8;
    filter[i].code = (uint16_t)(p[0] | (p[1] << 8));
    filter[i].jt = p[2];
    filter[i].jf = p[3];
    filter[i].k = (uint32_t)p[4] | ((uint32_t)p[5] << 8) | ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 24);
  }
  sock_fprog prog = {(unsigned short)filter.size(), filter.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ThrowErrno(env, "prctl(PR_SET_NO_NEW_PRIVS)", errno);
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  if (rc < 0) return ThrowErrno(env, "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)", errno);
  if (rc > 0) {
    // TSYNC reports the id of a thread it could not move onto the filter (it has another filter
    // that is not an ancestor of ours); nothing was installed.
    Napi::Error e = Napi::Error::New(env, "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread " + std::to_string(rc) +
                                              " cannot be synchronized, no filter was installed");
    e.Set("code", Napi::String::New(env, "ETSYNC"));
    e.Set("tid", Napi::Number::New(env, (double)rc));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return env.Undefined();
}

// A limit argument: a non-negative integer or Infinity (RLIM_INFINITY).
bool ArgLimit(const Napi::CallbackInfo& info, size_t i, const char* name, rlim_t* out) {
  if (info.Length() > i && info[i].IsNumber()) {
    double d = info[i].As<Napi::Number>().DoubleValue();
    if (std::isinf(d) && d > 0) {
      *out = RLIM_INFINITY;
      return true;
    }
    if (d >= 0 && d <= 9007199254740991.0 && d == std::floor(d)) {
      *out = (rlim_t)d;
      return true;
    }
  }
  ThrowType(info.Env(), std::string("argument '") + name + "' must be a non-negative integer or Infinity");
  return false;
}

// setRlimit(resource, soft, hard)
Napi::Value SetRlimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  rlimit limit;
  if (!ArgString(info, 0, "resource", &name) || !ArgLimit(info, 1, "soft", &limit.rlim_cur) ||
      !ArgLimit(info, 2, "hard", &limit.rlim_max))
    return env.Undefined();
  int resource;
  if (name == "nofile") resource = RLIMIT_NOFILE;
  else if (name == "core") resource = RLIMIT_CORE;
  else if (name == "nproc") resource = RLIMIT_NPROC;
  else if (name == "fsize") resource = RLIMIT_FSIZE;
  else if (name == "memlock") resource = RLIMIT_MEMLOCK;
  else return ThrowType(env, "setRlimit: unknown resource '" + name + "' (nofile, core, nproc, fsize, memlock)");
  if (setrlimit(resource, &limit) != 0) return ThrowErrno(env, "setrlimit(" + name + ")", errno);
  return env.Undefined();
}

// setDumpable(bool)
Napi::Value SetDumpable(const Napi::CallbackInfo& info) {
  bool dumpable;
  if (!ArgBool(info, 0, "dumpable", &dumpable)) return info.Env().Undefined();
  if (prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0, 0, 0, 0) != 0)
    return ThrowErrno(info.Env(), "prctl(PR_SET_DUMPABLE)", errno);
  return info.Env().Undefined();
}

// landlockAbiVersion() -> the kernel's landlock ABI version, 0 if landlock is unavailable.
Napi::Value LandlockAbiVersion(const Napi::CallbackInfo& info) {
  long abi = LandlockAbi();
  if (abi < 0) return ThrowErrno(info.Env(), "landlock_create_ruleset(VERSION)", (int)-abi);
  return Napi::Number::New(info.Env(), (double)abi);
}

// landlockDenyAll() -> true once a ruleset handling every filesystem right of the kernel's ABI,
// with no rule allowing anything, is enforced; false if landlock is unavailable. Before ABI 8
// the domain applies to the calling thread and the threads it creates later, not to threads
// that already run (landlockAbiVersion() tells which).
Napi::Value LandlockDenyAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  long abi = LandlockAbi();
  if (abi < 0) return ThrowErrno(env, "landlock_create_ruleset(VERSION)", (int)-abi);
  if (abi == 0) return Napi::Boolean::New(env, false);
  // Only handled_access_fs: the kernel accepts a shorter attribute struct than its own.
  uint64_t handled_access_fs = LandlockFsRights(abi);
  long fd = syscall(SYS_landlock_create_ruleset, &handled_access_fs, sizeof handled_access_fs, 0);
  if (fd < 0) {
    if (errno == ENOSYS || errno == EOPNOTSUPP) return Napi::Boolean::New(env, false);
    return ThrowErrno(env, "landlock_create_ruleset", errno);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    int err = errno;
    close((int)fd);
    return ThrowErrno(env, "prctl(PR_SET_NO_NEW_PRIVS)", err);
  }
  unsigned flags = abi >= 8 ? LANDLOCK_RESTRICT_SELF_TSYNC : 0;
  long rc = syscall(SYS_landlock_restrict_self, (int)fd, flags);
  int err = errno;
  close((int)fd);
  if (rc != 0) return ThrowErrno(env, "landlock_restrict_self", err);
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitSandbox(Napi::Env env, Napi::Object exports) {
  exports.Set("installSeccomp", Napi::Function::New(env, InstallSeccomp));
  exports.Set("setRlimit", Napi::Function::New(env, SetRlimit));
  exports.Set("setDumpable", Napi::Function::New(env, SetDumpable));
  exports.Set("landlockAbiVersion", Napi::Function::New(env, LandlockAbiVersion));
  exports.Set("landlockDenyAll", Napi::Function::New(env, LandlockDenyAll));
}

}  // namespace tilenet
