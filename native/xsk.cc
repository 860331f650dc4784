// AF_XDP sockets. The launcher (root) creates and binds the socket with its UMEM; the net tile
// (unprivileged) maps the four rings of the same socket and drives them from TypeScript; the
// only per-batch syscalls are the TX kick (sendto) and the RX/fill wakeup (recvfrom).
#include <linux/if_xdp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <unordered_map>

#include "common.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace tilenet {
namespace {

struct UmemMapping {
  void* addr;
  size_t len;
};

// UMEM mappings of the sockets this process created, by socket fd. The kernel pins the pages at
// XDP_UMEM_REG, but the mapping stays until xskClose so the registered range stays valid.
std::mutex umemMutex;
std::unordered_map<int, UmemMapping> umemBySocket;

bool ArgObjInt(Napi::Env env, const Napi::Object& obj, const char* key, int64_t* out,
               const char* fn = "xskCreate") {
  Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) {
    ThrowType(env, std::string(fn) + ": option '" + key + "' must be a number");
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != d || d < 0 || d > 9007199254740991.0 || d != (double)(int64_t)d) {
    ThrowType(env, std::string(fn) + ": option '" + key + "' must be a non-negative integer");
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool ArgObjBool(Napi::Env env, const Napi::Object& obj, const char* key, bool* out,
                const char* fn = "xskCreate") {
  Napi::Value v = obj.Get(key);
  if (!v.IsBoolean()) {
    ThrowType(env, std::string(fn) + ": option '" + key + "' must be a boolean");
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

// xskCreate(opts) -> socket fd (CLOEXEC; the launcher clears it for the tile it hands it to).
Napi::Value XskCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return ThrowType(env, "xskCreate: options object required");
  Napi::Object o = info[0].As<Napi::Object>();
  int64_t ifindex, queueId, umemFd, frameSize, frameCount, fillDepth, completionDepth, rxDepth, txDepth;
  bool zeroCopy, needWakeup;
  if (!ArgObjInt(env, o, "ifindex", &ifindex) || !ArgObjInt(env, o, "queueId", &queueId) ||
      !ArgObjInt(env, o, "umemFd", &umemFd) || !ArgObjInt(env, o, "frameSize", &frameSize) ||
      !ArgObjInt(env, o, "frameCount", &frameCount) || !ArgObjInt(env, o, "fillDepth", &fillDepth) ||
      !ArgObjInt(env, o, "completionDepth", &completionDepth) || !ArgObjInt(env, o, "rxDepth", &rxDepth) ||
      !ArgObjInt(env, o, "txDepth", &txDepth) || !ArgObjBool(env, o, "zeroCopy", &zeroCopy) ||
      !ArgObjBool(env, o, "needWakeup", &needWakeup))
    return env.Undefined();
  size_t umemLen = static_cast<size_t>(frameSize) * static_cast<size_t>(frameCount);
  if (umemLen == 0) return ThrowType(env, "xskCreate: frameSize * frameCount must be positive");

  struct stat st;
  if (fstat((int)umemFd, &st) != 0) return ThrowErrno(env, "fstat(umem fd " + std::to_string(umemFd) + ")", errno);
  if ((size_t)st.st_size < umemLen)
    return ThrowType(env, "xskCreate: umem fd holds " + std::to_string(st.st_size) + " bytes, need " +
                              std::to_string(umemLen));

  int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(AF_XDP)", errno);
  void* umem = mmap(nullptr, umemLen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)umemFd, 0);
  if (umem == MAP_FAILED) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "mmap(umem fd " + std::to_string(umemFd) + ", " + std::to_string(umemLen) + " bytes)",
                      err);
  }
  auto fail = [&](const std::string& what) {
    int err = errno;
    close(fd);
    munmap(umem, umemLen);
    return ThrowErrno(env, what, err);
  };

  struct xdp_umem_reg reg;
  memset(&reg, 0, sizeof(reg));  // padding doubles as tx_metadata_len on newer kernels: keep it 0
  reg.addr = reinterpret_cast<uintptr_t>(umem);
  reg.len = umemLen;
  reg.chunk_size = static_cast<uint32_t>(frameSize);
  reg.headroom = 0;
  reg.flags = 0;
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) != 0)
    return fail("setsockopt(XDP_UMEM_REG, " + std::to_string(frameCount) + " x " + std::to_string(frameSize) +
                " bytes)");
  struct {
    int opt;
    const char* name;
    int64_t depth;
  } rings[] = {{XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING", fillDepth},
               {XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING", completionDepth},
               {XDP_RX_RING, "XDP_RX_RING", rxDepth},
               {XDP_TX_RING, "XDP_TX_RING", txDepth}};
  for (auto& r : rings) {
    int depth = static_cast<int>(r.depth);
    if (setsockopt(fd, SOL_XDP, r.opt, &depth, sizeof(depth)) != 0)
      return fail(std::string("setsockopt(") + r.name + ", " + std::to_string(depth) + ")");
  }

  struct sockaddr_xdp sxdp;
  memset(&sxdp, 0, sizeof(sxdp));
  sxdp.sxdp_family = AF_XDP;
  sxdp.sxdp_flags = (zeroCopy ? XDP_ZEROCOPY : XDP_COPY) | (needWakeup ? XDP_USE_NEED_WAKEUP : 0);
  sxdp.sxdp_ifindex = static_cast<uint32_t>(ifindex);
  sxdp.sxdp_queue_id = static_cast<uint32_t>(queueId);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&sxdp), sizeof(sxdp)) != 0)
    return fail(std::string("bind(AF_XDP, ifindex ") + std::to_string(ifindex) + ", queue " +
                std::to_string(queueId) + ", " + (zeroCopy ? "zero-copy" : "copy") + ")");

  {
    std::lock_guard<std::mutex> lock(umemMutex);
    umemBySocket[fd] = UmemMapping{umem, umemLen};
  }
  return Napi::Number::New(env, fd);
}

// xskClose(fd): closes a socket made by xskCreate and releases its UMEM mapping.
Napi::Value XskClose(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  UmemMapping m{nullptr, 0};
  {
    std::lock_guard<std::mutex> lock(umemMutex);
    auto it = umemBySocket.find((int)fd);
    if (it != umemBySocket.end()) {
      m = it->second;
      umemBySocket.erase(it);
    }
  }
  int rc = close((int)fd);
  int err = errno;
  if (m.addr) munmap(m.addr, m.len);
  if (rc != 0) return ThrowErrno(info.Env(), "close(xsk fd " + std::to_string(fd) + ")", err);
  return info.Env().Undefined();
}

struct RingMapping {
  void* addr;  // nullptr once xskUnmapRings released it
  size_t len;
};

// Ring mappings by address, so xskUnmapRings can release them before garbage collection would.
// A ring mapping holds a reference to the socket: until it goes, closing the fd does not unbind.
std::mutex ringMutex;
std::unordered_map<void*, RingMapping*> ringsByAddr;

void UnmapRing(Napi::Env, void*, RingMapping* m) {
  {
    std::lock_guard<std::mutex> lock(ringMutex);
    if (m->addr) {
      ringsByAddr.erase(m->addr);
      munmap(m->addr, m->len);
    }
  }
  delete m;
}

Napi::Object OffsetsObject(Napi::Env env, const struct xdp_ring_offset& off) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("producer", Napi::Number::New(env, (double)off.producer));
  o.Set("consumer", Napi::Number::New(env, (double)off.consumer));
  o.Set("desc", Napi::Number::New(env, (double)off.desc));
  o.Set("flags", Napi::Number::New(env, (double)off.flags));
  return o;
}

// xskMapRings(fd, fillDepth, completionDepth, rxDepth, txDepth) -> XskRings. The depths must be
// the ones the socket was created with (the kernel refuses a mapping larger than the ring).
Napi::Value XskMapRings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, depths[4];
  if (!ArgInt(info, 0, "fd", &fd) || !ArgInt(info, 1, "fillDepth", &depths[0]) ||
      !ArgInt(info, 2, "completionDepth", &depths[1]) || !ArgInt(info, 3, "rxDepth", &depths[2]) ||
      !ArgInt(info, 4, "txDepth", &depths[3]))
    return env.Undefined();
  struct xdp_mmap_offsets off;
  memset(&off, 0, sizeof(off));
  socklen_t optlen = sizeof(off);
  if (getsockopt((int)fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) != 0)
    return ThrowErrno(env, "getsockopt(XDP_MMAP_OFFSETS, fd " + std::to_string(fd) + ")", errno);
  if (optlen != sizeof(off))
    return ThrowType(env, "xskMapRings: kernel returned " + std::to_string(optlen) +
                              "-byte XDP_MMAP_OFFSETS (no ring flags): kernel too old");

  struct {
    const char* name;
    const struct xdp_ring_offset* off;
    uint64_t pgoff;
    size_t entry;
    const char* key;
    const char* offKey;
  } rings[4] = {
      {"fill", &off.fr, XDP_UMEM_PGOFF_FILL_RING, sizeof(uint64_t), "fill", "fillOffsets"},
      {"completion", &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, sizeof(uint64_t), "completion", "completionOffsets"},
      {"rx", &off.rx, XDP_PGOFF_RX_RING, sizeof(struct xdp_desc), "rx", "rxOffsets"},
      {"tx", &off.tx, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc), "tx", "txOffsets"},
  };
  void* addrs[4] = {nullptr, nullptr, nullptr, nullptr};
  size_t lens[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; i++) {
    if (depths[i] <= 0 || (depths[i] & (depths[i] - 1)) != 0) {
      for (int j = 0; j < i; j++) munmap(addrs[j], lens[j]);
      return ThrowType(env, std::string("xskMapRings: ") + rings[i].name + " depth must be a power of two");
    }
    lens[i] = rings[i].off->desc + (size_t)depths[i] * rings[i].entry;
    void* p = mmap(nullptr, lens[i], PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, (int)fd,
                   (off_t)rings[i].pgoff);
    if (p == MAP_FAILED) {
      int err = errno;
      for (int j = 0; j < i; j++) munmap(addrs[j], lens[j]);
      return ThrowErrno(env,
                        std::string("mmap(xsk fd ") + std::to_string(fd) + " " + rings[i].name + " ring, " +
                            std::to_string(depths[i]) + " entries)",
                        err);
    }
    addrs[i] = p;
  }
  Napi::Object result = Napi::Object::New(env);
  for (int i = 0; i < 4; i++) {
    RingMapping* m = new RingMapping{addrs[i], lens[i]};
    {
      std::lock_guard<std::mutex> lock(ringMutex);
      ringsByAddr[addrs[i]] = m;
    }
    result.Set(rings[i].key, Napi::ArrayBuffer::New(env, addrs[i], lens[i], UnmapRing, m));
    result.Set(rings[i].offKey, OffsetsObject(env, *rings[i].off));
  }
  return result;
}

// xskUnmapRings(rings): unmaps the four rings now and detaches their ArrayBuffers (views over
// them become empty instead of dangling). Lets the socket be released as soon as it is closed.
Napi::Value XskUnmapRings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return ThrowType(env, "xskUnmapRings: rings object required");
  Napi::Object rings = info[0].As<Napi::Object>();
  for (const char* key : {"fill", "completion", "rx", "tx"}) {
    Napi::Value v = rings.Get(key);
    if (!v.IsArrayBuffer()) return ThrowType(env, std::string("xskUnmapRings: '") + key + "' is not an ArrayBuffer");
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    if (ab.IsDetached()) continue;
    void* addr = ab.Data();
    bool ours = false;
    {
      std::lock_guard<std::mutex> lock(ringMutex);
      auto it = ringsByAddr.find(addr);
      if (it != ringsByAddr.end()) {
        munmap(it->second->addr, it->second->len);
        it->second->addr = nullptr;
        ringsByAddr.erase(it);
        ours = true;
      }
    }
    if (!ours) return ThrowType(env, std::string("xskUnmapRings: '") + key + "' is not a ring mapped by xskMapRings");
    ab.Detach();
  }
  return env.Undefined();
}

// xskKick(fd): TX kick. 0 or a negative errno (EAGAIN/EBUSY/ENOBUFS are normal back-pressure).
Napi::Value XskKick(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  ssize_t rc = sendto((int)fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
  return Napi::Number::New(info.Env(), rc < 0 ? -errno : 0);
}

// xskWakeup(fd): lets the kernel process the fill ring / RX. 0 or a negative errno.
Napi::Value XskWakeup(const Napi::CallbackInfo& info) {
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return info.Env().Undefined();
  ssize_t rc = recvfrom((int)fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
  return Napi::Number::New(info.Env(), rc < 0 ? -errno : 0);
}

// xskStatistics(fd) -> the kernel's drop counters for the socket (XDP_STATISTICS).
Napi::Value XskStatistics(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  struct xdp_statistics s;
  memset(&s, 0, sizeof(s));
  socklen_t optlen = sizeof(s);
  if (getsockopt((int)fd, SOL_XDP, XDP_STATISTICS, &s, &optlen) != 0)
    return ThrowErrno(env, "getsockopt(XDP_STATISTICS, fd " + std::to_string(fd) + ")", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rxDropped", Napi::Number::New(env, (double)s.rx_dropped));
  o.Set("rxInvalidDescs", Napi::Number::New(env, (double)s.rx_invalid_descs));
  o.Set("txInvalidDescs", Napi::Number::New(env, (double)s.tx_invalid_descs));
  o.Set("rxRingFull", Napi::Number::New(env, (double)s.rx_ring_full));
  o.Set("rxFillRingEmptyDescs", Napi::Number::New(env, (double)s.rx_fill_ring_empty_descs));
  o.Set("txRingEmptyDescs", Napi::Number::New(env, (double)s.tx_ring_empty_descs));
  return o;
}

// Busy-polling socket options (not in every libc's headers).
#ifndef SO_BUSY_POLL
#define SO_BUSY_POLL 46
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

bool GetIntOpt(int fd, int level, int opt, int* out) {
  socklen_t len = sizeof(*out);
  return getsockopt(fd, level, opt, out, &len) == 0;
}

// xskSocketOptions(fd) -> what the kernel holds for the socket: zero-copy (XDP_OPTIONS) and the
// busy-polling options, read back so status reports what was taken rather than what was asked.
Napi::Value XskSocketOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  struct xdp_options xo;
  memset(&xo, 0, sizeof(xo));
  socklen_t len = sizeof(xo);
  if (getsockopt((int)fd, SOL_XDP, XDP_OPTIONS, &xo, &len) != 0)
    return ThrowErrno(env, "getsockopt(XDP_OPTIONS, fd " + std::to_string(fd) + ")", errno);
  int prefer = 0, usecs = 0, budget = 0;
  if (!GetIntOpt((int)fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &prefer))
    return ThrowErrno(env, "getsockopt(SO_PREFER_BUSY_POLL, fd " + std::to_string(fd) + ")", errno);
  if (!GetIntOpt((int)fd, SOL_SOCKET, SO_BUSY_POLL, &usecs))
    return ThrowErrno(env, "getsockopt(SO_BUSY_POLL, fd " + std::to_string(fd) + ")", errno);
  // The kernel has no getsockopt for SO_BUSY_POLL_BUDGET (ENOPROTOOPT): null, the caller knows what it set.
  bool budgetKnown = GetIntOpt((int)fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget);
  if (!budgetKnown && errno != ENOPROTOOPT)
    return ThrowErrno(env, "getsockopt(SO_BUSY_POLL_BUDGET, fd " + std::to_string(fd) + ")", errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("zeroCopy", Napi::Boolean::New(env, (xo.flags & XDP_OPTIONS_ZEROCOPY) != 0));
  o.Set("preferBusyPoll", Napi::Boolean::New(env, prefer != 0));
  o.Set("busyPollUsecs", Napi::Number::New(env, usecs));
  o.Set("busyPollBudget", budgetKnown ? Napi::Value(Napi::Number::New(env, budget)) : env.Null());
  return o;
}

// socketSetBusyPoll(fd, {prefer, usecs, budget}) on any socket (the AF_XDP one, the socket
// provider's UDP ones): SO_PREFER_BUSY_POLL, SO_BUSY_POLL and
// SO_BUSY_POLL_BUDGET. Prefer and budget need CAP_NET_ADMIN (EPERM on 6.18 without; the launcher
// has it at set-up, the tiles never do).
Napi::Value SocketSetBusyPoll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd, usecs, budget;
  bool prefer;
  if (!ArgInt(info, 0, "fd", &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsObject()) return ThrowType(env, "socketSetBusyPoll: options object required");
  Napi::Object o = info[1].As<Napi::Object>();
  const char* fn = "socketSetBusyPoll";
  if (!ArgObjBool(env, o, "prefer", &prefer, fn) || !ArgObjInt(env, o, "usecs", &usecs, fn) ||
      !ArgObjInt(env, o, "budget", &budget, fn))
    return env.Undefined();
  if (usecs > INT32_MAX || budget > UINT16_MAX) return ThrowType(env, "socketSetBusyPoll: usecs or budget too large");
  struct {
    int opt;
    const char* name;
    int value;
  } opts[] = {{SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL", prefer ? 1 : 0},
              {SO_BUSY_POLL, "SO_BUSY_POLL", (int)usecs},
              {SO_BUSY_POLL_BUDGET, "SO_BUSY_POLL_BUDGET", (int)budget}};
  for (auto& s : opts) {
    if (setsockopt((int)fd, SOL_SOCKET, s.opt, &s.value, sizeof(s.value)) != 0)
      return ThrowErrno(env, std::string("setsockopt(") + s.name + ", " + std::to_string(s.value) + ")", errno);
  }
  return env.Undefined();
}

}  // namespace

void InitXsk(Napi::Env env, Napi::Object exports) {
  exports.Set("xskCreate", Napi::Function::New(env, XskCreate));
  exports.Set("xskClose", Napi::Function::New(env, XskClose));
  exports.Set("xskMapRings", Napi::Function::New(env, XskMapRings));
  exports.Set("xskUnmapRings", Napi::Function::New(env, XskUnmapRings));
  exports.Set("xskKick", Napi::Function::New(env, XskKick));
  exports.Set("xskWakeup", Napi::Function::New(env, XskWakeup));
  exports.Set("xskStatistics", Napi::Function::New(env, XskStatistics));
  exports.Set("xskSocketOptions", Napi::Function::New(env, XskSocketOptions));
  exports.Set("socketSetBusyPoll", Napi::Function::New(env, SocketSetBusyPoll));
}

}  // namespace tilenet
