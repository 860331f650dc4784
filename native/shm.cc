// Shared memory: named memfds, read-only sealing, and mappings returned as ArrayBuffers.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

namespace tilenet {
namespace {

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21 << 26)
#endif

// memfdCreate(name, size, hugePages?) -> fd. CLOEXEC so it is never inherited by accident.
// hugePages: backed by 2 MiB pages (MFD_HUGETLB); size must then be a multiple of 2 MiB, and the
// pages come from the reserved pool (vm.nr_hugepages): ENOMEM at ftruncate/mmap when it is short.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name;
  int64_t size;
  bool huge = false;
  if (!ArgString(info, 0, "name", &name) || !ArgInt(info, 1, "size", &size)) return info.Env().Undefined();
  if (info.Length() > 2 && !info[2].IsUndefined() && !ArgBool(info, 2, "hugePages", &huge)) return info.Env().Undefined();
  if (size <= 0) return ThrowType(info.Env(), "memfdCreate: size must be positive");
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0);
  int fd = memfd_create(name.c_str(), flags);
  if (fd < 0) return ThrowErrno(info.Env(), std::string(huge ? "memfd_create(MFD_HUGETLB, " : "memfd_create(") + name + ")", errno);
  if (ftruncate(fd, (off_t)size) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(info.Env(), "ftruncate(memfd " + name + ", " + std::to_string(size) + ")", err);
  }
  return Napi::Number::New(info.Env(), fd);
}

// sealReadOnly(fd): no later writable mapping, no resize, no further seal changes.
// Mappings that already exist (the writer's) keep working.
Napi::Value SealReadOnly(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL;
  if (fcntl((int)fd, F_ADD_SEALS, seals) != 0)
    return ThrowErrno(info.Env(), "fcntl(F_ADD_SEALS, fd " + std::to_string(fd) + ")", errno);
  return info.Env().Undefined();
}

// getSeals(fd) -> seal bit mask.
Napi::Value GetSeals(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  int seals = fcntl((int)fd, F_GET_SEALS);
  if (seals < 0) return ThrowErrno(info.Env(), "fcntl(F_GET_SEALS, fd " + std::to_string(fd) + ")", errno);
  return Napi::Number::New(info.Env(), seals);
}

// openPath(path, writable) -> fd (CLOEXEC). Used on /proc/self/fd/N and /proc/PID/fd/N to get a
// read-only descriptor of a region, so that the receiver cannot map it writable.
Napi::Value OpenPath(const Napi::CallbackInfo& info) {
  std::string path;
  bool writable;
  if (!ArgString(info, 0, "path", &path) || !ArgBool(info, 1, "writable", &writable)) return info.Env().Undefined();
  int fd = open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(info.Env(), "open(" + path + ")", errno);
  return Napi::Number::New(info.Env(), fd);
}

// fdSize(fd) -> byte size (fstat).
Napi::Value FdSize(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  struct stat st;
  if (fstat((int)fd, &st) != 0) return ThrowErrno(info.Env(), "fstat(fd " + std::to_string(fd) + ")", errno);
  return Napi::Number::New(info.Env(), (double)st.st_size);
}

// closeFd(fd).
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  if (close((int)fd) != 0) return ThrowErrno(info.Env(), "close(fd " + std::to_string(fd) + ")", errno);
  return info.Env().Undefined();
}

// clearCloexec(fd): lets a descriptor survive exec (the launcher hands it to a tile).
Napi::Value ClearCloexec(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  int flags = fcntl((int)fd, F_GETFD);
  if (flags < 0 || fcntl((int)fd, F_SETFD, flags & ~FD_CLOEXEC) != 0)
    return ThrowErrno(info.Env(), "fcntl(F_SETFD, fd " + std::to_string(fd) + ")", errno);
  return info.Env().Undefined();
}

struct Mapping {
  void* addr;
  size_t len;
};

void Unmap(Napi::Env, void*, Mapping* m) {
  munmap(m->addr, m->len);
  delete m;
}

// mapFd(fd, size, writable) -> ArrayBuffer over a MAP_SHARED mapping. size 0 means the whole
// file. A read-only mapping is PROT_READ: a write to it is a SIGSEGV, enforced by the kernel.
// The mapping is released when the ArrayBuffer is garbage-collected.
Napi::Value MapFd(const Napi::CallbackInfo& info) {
  int64_t fd, size;
  bool writable;
  if (!ArgInt(info, 0, "fd", &fd) || !ArgInt(info, 1, "size", &size) || !ArgBool(info, 2, "writable", &writable))
    return info.Env().Undefined();
  if (size == 0) {
    struct stat st;
    if (fstat((int)fd, &st) != 0) return ThrowErrno(info.Env(), "fstat(fd " + std::to_string(fd) + ")", errno);
    size = st.st_size;
  }
  if (size <= 0) return ThrowType(info.Env(), "mapFd: region is empty");
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* p = mmap(nullptr, (size_t)size, prot, MAP_SHARED, (int)fd, 0);
  if (p == MAP_FAILED)
    return ThrowErrno(info.Env(),
                      std::string("mmap(fd ") + std::to_string(fd) + ", " + std::to_string(size) + " bytes, " +
                          (writable ? "read-write" : "read-only") + ")",
                      errno);
  Mapping* m = new Mapping{p, (size_t)size};
  return Napi::ArrayBuffer::New(info.Env(), p, (size_t)size, Unmap, m);
}

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate));
  exports.Set("sealReadOnly", Napi::Function::New(env, SealReadOnly));
  exports.Set("getSeals", Napi::Function::New(env, GetSeals));
  exports.Set("openPath", Napi::Function::New(env, OpenPath));
  exports.Set("fdSize", Napi::Function::New(env, FdSize));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("clearCloexec", Napi::Function::New(env, ClearCloexec));
  exports.Set("mapFd", Napi::Function::New(env, MapFd));
}

}  // namespace tilenet
