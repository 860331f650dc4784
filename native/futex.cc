// Cross-process futex wait/wake on a 32-bit word of a shared mapping (no FUTEX_PRIVATE_FLAG,
// so the key is the physical page and works across processes).
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

namespace tilenet {
namespace {

// Address of element `index` of an Int32Array argument, or null after throwing.
int32_t* WordArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowType(info.Env(), "argument 'view' must be an Int32Array");
    return nullptr;
  }
  Napi::Int32Array view = info[0].As<Napi::Int32Array>();
  int64_t index;
  if (!ArgInt(info, 1, "index", &index)) return nullptr;
  if (index < 0 || (size_t)index >= view.ElementLength()) {
    ThrowType(info.Env(), "futex: index out of range");
    return nullptr;
  }
  return view.Data() + index;
}

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// futexWait(view, index, expected, timeoutMs) -> 0 woken, 1 timed out, 2 value was not `expected`.
// EINTR (signals such as SIGCHLD on the main thread) is retried with the remaining time.
Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  int32_t* word = WordArg(info);
  if (!word) return info.Env().Undefined();
  int64_t expected, timeoutMs;
  if (!ArgInt(info, 2, "expected", &expected) || !ArgInt(info, 3, "timeoutMs", &timeoutMs))
    return info.Env().Undefined();
  int64_t deadline = NowNs() + timeoutMs * 1000000;
  for (;;) {
    int64_t left = deadline - NowNs();
    if (left <= 0) return Napi::Number::New(info.Env(), 1);
    struct timespec ts = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
    long rc = syscall(SYS_futex, word, FUTEX_WAIT, (int32_t)expected, &ts, nullptr, 0);
    if (rc == 0) return Napi::Number::New(info.Env(), 0);
    if (errno == EINTR) continue;
    if (errno == ETIMEDOUT) return Napi::Number::New(info.Env(), 1);
    if (errno == EAGAIN) return Napi::Number::New(info.Env(), 2);
    return ThrowErrno(info.Env(), "futex(FUTEX_WAIT)", errno);
  }
}

// The blocking wait of futexWaitAsync, on a libuv pool thread. It holds a reference to the view,
// so the mapping stays alive while the thread sleeps on it.
class FutexWaitWorker : public Napi::AsyncWorker {
 public:
  FutexWaitWorker(Napi::Env env, Napi::Int32Array view, int32_t* word, int32_t expected, int64_t timeoutMs)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), word_(word),
        expected_(expected), timeoutMs_(timeoutMs) {
    view_ = Napi::Persistent(view);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    int64_t deadline = NowNs() + timeoutMs_ * 1000000;
    for (;;) {
      int64_t left = deadline - NowNs();
      if (left <= 0) { result_ = 1; return; }
      struct timespec ts = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
      long rc = syscall(SYS_futex, word_, FUTEX_WAIT, expected_, &ts, nullptr, 0);
      if (rc == 0) { result_ = 0; return; }
      if (errno == EINTR) continue;
      if (errno == ETIMEDOUT) { result_ = 1; return; }
      if (errno == EAGAIN) { result_ = 2; return; }
      err_ = errno;
      return;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ == 0) {
      deferred_.Resolve(Napi::Number::New(env, result_));
      return;
    }
    ThrowErrno(env, "futex(FUTEX_WAIT)", err_);
    Napi::Error e = env.GetAndClearPendingException();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Int32Array> view_;
  int32_t* word_;
  int32_t expected_;
  int64_t timeoutMs_;
  int result_ = 1;
  int err_ = 0;
};

// futexWaitAsync(view, index, expected, timeoutMs) -> Promise of futexWait's result codes; the
// wait runs on a pool thread, so the caller's event loop keeps running.
Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  int32_t* word = WordArg(info);
  if (!word) return info.Env().Undefined();
  int64_t expected, timeoutMs;
  if (!ArgInt(info, 2, "expected", &expected) || !ArgInt(info, 3, "timeoutMs", &timeoutMs))
    return info.Env().Undefined();
  if (timeoutMs < 0) timeoutMs = 0;
  auto* worker = new FutexWaitWorker(info.Env(), info[0].As<Napi::Int32Array>(), word, (int32_t)expected, timeoutMs);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// futexWake(view, index, count) -> number of waiters woken.
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  int32_t* word = WordArg(info);
  if (!word) return info.Env().Undefined();
  int64_t count;
  if (!ArgInt(info, 2, "count", &count)) return info.Env().Undefined();
  long rc = syscall(SYS_futex, word, FUTEX_WAKE, (int)count, nullptr, nullptr, 0);
  if (rc < 0) return ThrowErrno(info.Env(), "futex(FUTEX_WAKE)", errno);
  return Napi::Number::New(info.Env(), (double)rc);
}

}  // namespace

void InitFutex(Napi::Env env, Napi::Object exports) {
  exports.Set("futexWait", Napi::Function::New(env, FutexWait));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake));
  exports.Set("futexWaitAsync", Napi::Function::New(env, FutexWaitAsync));
}

}  // namespace tilenet
