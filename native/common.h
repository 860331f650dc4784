// Shared helpers for the tilenet addon: errno-carrying exceptions and argument access.
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstring>
#include <string>

namespace tilenet {

// Name of an errno value ("EPERM"), for error messages and err.code.
const char* ErrnoName(int err);

// Throws a JS Error "<what>: <ENAME> (<strerror>)" with code, errno and syscall set.
// Returns an undefined Value so callers can `return ThrowErrno(...)`.
Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err);

// Throws a TypeError with the given message.
Napi::Value ThrowType(Napi::Env env, const std::string& msg);

// A neighbor probe (both families): an empty datagram to dst (a sockaddr of dstLen bytes) on a
// probe socket, refused with -ENODEV when ifindex is not the interface the socket is bound to.
// Returns 0 or -errno (per-probe failures are values); a bad descriptor throws (what names it).
Napi::Value SendEmptyProbe(Napi::Env env, int fd, int ifindex, const void* dst, unsigned dstLen, const char* what);

// Argument helpers: on failure they throw and return false.
bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t* out);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool* out);
bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out);
// A Uint8Array/Buffer/TypedArray/ArrayBuffer argument as raw bytes.
bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** data, size_t* len);

void InitShm(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitSandbox(Napi::Env env, Napi::Object exports);
void InitNetlink(Napi::Env env, Napi::Object exports);
void InitSockets(Napi::Env env, Napi::Object exports);
void InitBpf(Napi::Env env, Napi::Object exports);
void InitXsk(Napi::Env env, Napi::Object exports);
void InitNetns(Napi::Env env, Napi::Object exports);
void InitOpenat2(Napi::Env env, Napi::Object exports);
void InitUnixDgram(Napi::Env env, Napi::Object exports);
void InitIdle(Napi::Env env, Napi::Object exports);
void InitPrivdrop(Napi::Env env, Napi::Object exports);
void InitUdpBatch(Napi::Env env, Napi::Object exports);
void InitProbe6(Napi::Env env, Napi::Object exports);

}  // namespace tilenet
