#include "common.h"

namespace tilenet {

const char* ErrnoName(int err) {
  switch (err) {
#define E(x) \
  case x:    \
    return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR)
    E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS)
    E(EMLINK) E(EPIPE) E(ERANGE) E(ENOSYS) E(ENOTSUP) E(ENOBUFS) E(EADDRINUSE) E(EADDRNOTAVAIL)
    E(ENETDOWN) E(ENETUNREACH) E(EHOSTUNREACH) E(ECONNREFUSED) E(EMSGSIZE) E(EPROTONOSUPPORT)
    E(EAFNOSUPPORT) E(ENOPROTOOPT) E(ETIMEDOUT) E(ENOTSOCK) E(EDESTADDRREQ) E(ENOTCONN)
    E(ENOLINK) E(EBADMSG) E(EOVERFLOW) E(ENOKEY) E(ENODATA) E(ENOTEMPTY) E(ELOOP) E(ENAMETOOLONG)
#undef E
    default:
      return "E?";
  }
}

Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  std::string msg = what + ": " + ErrnoName(err) + " (" + strerror(err) + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    ThrowType(info.Env(), std::string("argument '") + name + "' must be a number");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != d || d < -9007199254740991.0 || d > 9007199254740991.0 || d != (double)(int64_t)d) {
    ThrowType(info.Env(), std::string("argument '") + name + "' must be an integer");
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool* out) {
  if (info.Length() <= i || !info[i].IsBoolean()) {
    ThrowType(info.Env(), std::string("argument '") + name + "' must be a boolean");
    return false;
  }
  *out = info[i].As<Napi::Boolean>().Value();
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    ThrowType(info.Env(), std::string("argument '") + name + "' must be a string");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name, uint8_t** data, size_t* len) {
  if (info.Length() > i) {
    Napi::Value v = info[i];
    if (v.IsTypedArray()) {
      Napi::TypedArray ta = v.As<Napi::TypedArray>();
      Napi::ArrayBuffer ab = ta.ArrayBuffer();
      *data = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
      *len = ta.ByteLength();
      return true;
    }
    if (v.IsArrayBuffer()) {
      Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
      *data = static_cast<uint8_t*>(ab.Data());
      *len = ab.ByteLength();
      return true;
    }
  }
  ThrowType(info.Env(), std::string("argument '") + name + "' must be a TypedArray or ArrayBuffer");
  return false;
}

}  // namespace tilenet
