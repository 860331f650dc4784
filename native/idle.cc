// What idle tiles wait on and where they run: an eventfd that app tiles signal when the net tile
// sleeps (so one poll(2) covers both the AF_XDP socket and every app's transmit ring), and CPU
// pinning for tiles that never sleep (called before the sandbox).
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "common.h"

namespace tilenet {
namespace {

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// eventfdOpen() -> fd (non-blocking, close-on-exec; the launcher grants it to the net tile and
// its apps).
Napi::Value EventfdOpen(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return ThrowErrno(info.Env(), "eventfd", errno);
  return Napi::Number::New(info.Env(), fd);
}

// eventfdSignal(fd) -> 0, or -errno for EAGAIN (the counter is saturated: the sleeper is woken
// already). Exactly write(fd, &one, 8): the app tile's seccomp rule pins fd and count.
Napi::Value EventfdSignal(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  uint64_t one = 1;
  for (;;) {
    ssize_t n = write((int)fd, &one, sizeof one);
    if (n == (ssize_t)sizeof one) return Napi::Number::New(info.Env(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return Napi::Number::New(info.Env(), -EAGAIN);
    return ThrowErrno(info.Env(), "write(eventfd " + std::to_string(fd) + ")", n < 0 ? errno : EIO);
  }
}

// pollWake(fds, eventFd, timeoutMs) -> bit 1: a socket is readable, bit 2: the eventfd was
// signalled (and is drained here, one read), 0: timed out. fds is one fd (the AF_XDP socket) or an
// Int32Array of them (the socket provider's UDP sockets, up to 64). EINTR restarts with the time
// that is left.
Napi::Value PollWake(const Napi::CallbackInfo& info) {
  constexpr size_t kMaxFds = 64;
  struct pollfd p[kMaxFds + 1];
  size_t nfds = 0;
  int64_t efd, timeoutMs;
  if (info.Length() > 0 && info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
    if (fds.ElementLength() < 1 || fds.ElementLength() > kMaxFds) return ThrowType(info.Env(), "pollWake: 1 to 64 fds");
    for (size_t i = 0; i < fds.ElementLength(); i++) p[nfds++] = {fds[i], POLLIN, 0};
  } else {
    int64_t fd;
    if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
    p[nfds++] = {(int)fd, POLLIN, 0};
  }
  if (!ArgInt(info, 1, "eventFd", &efd) || !ArgInt(info, 2, "timeoutMs", &timeoutMs)) return info.Env().Undefined();
  struct pollfd& wake = p[nfds];
  int64_t deadline = NowMs() + (timeoutMs > 0 ? timeoutMs : 0);
  for (;;) {
    for (size_t i = 0; i <= nfds; i++) p[i].revents = 0;
    wake = {(int)efd, POLLIN, 0};
    int64_t left = timeoutMs > 0 ? deadline - NowMs() : 0;
    if (left < 0) left = 0;
    int rc = poll(p, nfds + 1, (int)(left > 2147483647 ? 2147483647 : left));
    if (rc > 0) {
      int out = 0;
      for (size_t i = 0; i <= nfds; i++)
        if (p[i].revents & POLLNVAL)
          return ThrowErrno(info.Env(), "poll(fd " + std::to_string(p[i].fd) + ")", EBADF);
      for (size_t i = 0; i < nfds; i++)
        if (p[i].revents & POLLIN) out = 1;
      if (wake.revents & POLLIN) {
        uint64_t v;
        if (read((int)efd, &v, sizeof v) < 0 && errno != EAGAIN)
          return ThrowErrno(info.Env(), "read(eventfd " + std::to_string(efd) + ")", errno);
        out |= 2;
      }
      return Napi::Number::New(info.Env(), out);
    }
    if (rc == 0) return Napi::Number::New(info.Env(), 0);
    if (errno != EINTR) return ThrowErrno(info.Env(), "poll", errno);
  }
}

// A thread's id as this process's PID namespace numbers it: /proc is the host's mount (a tile in
// its own PID namespace keeps it), so /proc/self/task lists host tids, while sched_setaffinity
// takes ids of the caller's namespace. NSpid's last field is that one; -1 when unreadable.
static pid_t OwnNamespaceTid(const char* hostTid) {
  char path[300];  // d_name is at most 255 bytes
  snprintf(path, sizeof path, "/proc/self/task/%s/status", hostTid);
  FILE* f = fopen(path, "re");
  if (!f) return -1;
  char line[256];
  pid_t tid = -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "NSpid:", 6) != 0) continue;
    char* last = strrchr(line, '\t');
    if (last) tid = (pid_t)atoi(last + 1);
    break;
  }
  fclose(f);
  return tid;
}

// pinThreads(cpu) -> number of threads pinned: every thread of the process (the main thread and
// V8's helpers, listed in /proc/self/task) to one CPU. Before the sandbox (it reads /proc).
Napi::Value PinThreads(const Napi::CallbackInfo& info) {
  int64_t cpu;
  if (!ArgInt(info, 0, "cpu", &cpu)) return info.Env().Undefined();
  if (cpu < 0 || cpu >= CPU_SETSIZE) return ThrowType(info.Env(), "pinThreads: cpu out of range");
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET((int)cpu, &set);
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return ThrowErrno(info.Env(), "opendir(/proc/self/task)", errno);
  int pinned = 0;
  int err = 0;
  while (struct dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pid_t tid = OwnNamespaceTid(e->d_name);
    if (tid <= 0) continue;  // the thread ended meanwhile
    if (sched_setaffinity(tid, sizeof set, &set) == 0) pinned++;
    else if (errno != ESRCH) err = errno;  // ESRCH: the thread ended meanwhile
  }
  closedir(dir);
  if (err != 0) return ThrowErrno(info.Env(), "sched_setaffinity(cpu " + std::to_string(cpu) + ")", err);
  return Napi::Number::New(info.Env(), pinned);
}

// The kernel's struct sched_attr (uapi linux/sched/types.h), declared here: glibc has no wrapper.
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

// setSchedSlice(sliceUs) -> 0, or -errno (EINVAL: a kernel before 6.12's custom EEVDF slices).
// sched_setattr(0) on the calling thread: SCHED_OTHER, nice unchanged (read first), sched_runtime
// = the requested slice. A task with a shorter slice gets an earlier virtual deadline, so when it
// wakes it preempts a task that is using a longer one (PREEMPT_SHORT) instead of waiting for that
// task's slice to end. No privilege needed; before the sandbox.
Napi::Value SetSchedSlice(const Napi::CallbackInfo& info) {
  int64_t sliceUs;
  if (!ArgInt(info, 0, "sliceUs", &sliceUs)) return info.Env().Undefined();
  if (sliceUs < 100 || sliceUs > 100000) return ThrowType(info.Env(), "setSchedSlice: sliceUs must be 100 to 100000");
  SchedAttr attr = {};
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return Napi::Number::New(info.Env(), -errno);
  if (attr.sched_policy != 0) return Napi::Number::New(info.Env(), -EPERM);  // not SCHED_OTHER: leave it
  attr.size = sizeof attr;
  attr.sched_flags = 0;
  attr.sched_runtime = (uint64_t)sliceUs * 1000;
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return Napi::Number::New(info.Env(), -errno);
  return Napi::Number::New(info.Env(), 0);
}

}  // namespace

void InitIdle(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfdOpen", Napi::Function::New(env, EventfdOpen));
  exports.Set("eventfdSignal", Napi::Function::New(env, EventfdSignal));
  exports.Set("pollWake", Napi::Function::New(env, PollWake));
  exports.Set("pinThreads", Napi::Function::New(env, PinThreads));
  exports.Set("setSchedSlice", Napi::Function::New(env, SetSchedSlice));
}

}  // namespace tilenet
