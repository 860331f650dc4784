// eBPF through the raw bpf(2) syscall (no libbpf): load an XDP program, create and edit maps,
// attach with a BPF link, and run a program on a test packet. Used by the launcher (root) only.
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "common.h"

namespace tilenet {
namespace {

constexpr uint32_t kVerifierLogBytes = 64 * 1024;

long Bpf(int cmd, union bpf_attr* attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

uint64_t Ptr(const void* p) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p));
}

// Object names are at most 15 characters plus NUL; the kernel accepts [A-Za-z0-9_.] only.
void CopyObjName(char* dst, const std::string& name) {
  size_t n = name.size() < BPF_OBJ_NAME_LEN - 1 ? name.size() : BPF_OBJ_NAME_LEN - 1;
  memcpy(dst, name.data(), n);
  dst[n] = '\0';
}

// bpfProgLoadXdp(insns, name, license) -> prog fd. The first attempt runs without a log (fast
// path); on failure the load is repeated with a 64 KiB verifier log, which goes into the error.
Napi::Value ProgLoadXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* insns;
  size_t insnsLen;
  std::string name, license;
  if (!ArgBytes(info, 0, "insns", &insns, &insnsLen) || !ArgString(info, 1, "name", &name) ||
      !ArgString(info, 2, "license", &license))
    return env.Undefined();
  if (insnsLen == 0 || insnsLen % sizeof(struct bpf_insn) != 0)
    return ThrowType(env, "bpfProgLoadXdp: insns must be a non-empty multiple of 8 bytes");

  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_XDP;
  attr.expected_attach_type = BPF_XDP;
  attr.insn_cnt = static_cast<uint32_t>(insnsLen / sizeof(struct bpf_insn));
  attr.insns = Ptr(insns);
  attr.license = Ptr(license.c_str());
  CopyObjName(attr.prog_name, name);
  long fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return Napi::Number::New(env, static_cast<double>(fd));
  int err = errno;

  std::vector<char> log(kVerifierLogBytes, '\0');
  attr.log_level = 1;
  attr.log_size = kVerifierLogBytes;
  attr.log_buf = Ptr(log.data());
  fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) {
    // Loaded on the second attempt (a transient failure such as EAGAIN): keep it.
    return Napi::Number::New(env, static_cast<double>(fd));
  }
  log[kVerifierLogBytes - 1] = '\0';
  std::string what = "BPF_PROG_LOAD(xdp " + name + ", " + std::to_string(attr.insn_cnt) + " insns)";
  std::string msg = what + ": " + ErrnoName(err) + " (" + strerror(err) + ")";
  if (log[0] != '\0') msg += "\nverifier log:\n" + std::string(log.data());
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  e.Set("verifierLog", Napi::String::New(env, log.data()));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// bpfMapCreate(mapType, keySize, valueSize, maxEntries, name, mapFlags = 0) -> map fd.
Napi::Value MapCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t type, keySize, valueSize, maxEntries, mapFlags = 0;
  std::string name;
  if (!ArgInt(info, 0, "mapType", &type) || !ArgInt(info, 1, "keySize", &keySize) ||
      !ArgInt(info, 2, "valueSize", &valueSize) || !ArgInt(info, 3, "maxEntries", &maxEntries) ||
      !ArgString(info, 4, "name", &name))
    return env.Undefined();
  if (info.Length() > 5 && !info[5].IsUndefined() && !ArgInt(info, 5, "mapFlags", &mapFlags)) return env.Undefined();
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = static_cast<uint32_t>(type);
  attr.key_size = static_cast<uint32_t>(keySize);
  attr.value_size = static_cast<uint32_t>(valueSize);
  attr.max_entries = static_cast<uint32_t>(maxEntries);
  attr.map_flags = static_cast<uint32_t>(mapFlags);
  CopyObjName(attr.map_name, name);
  long fd = Bpf(BPF_MAP_CREATE, &attr);
  if (fd < 0)
    return ThrowErrno(env,
                      "BPF_MAP_CREATE(type " + std::to_string(type) + ", " + name + ", " +
                          std::to_string(maxEntries) + " entries)",
                      errno);
  return Napi::Number::New(env, static_cast<double>(fd));
}

// bpfMapUpdate(mapFd, key, value): BPF_ANY (insert or replace).
Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t mapFd;
  uint8_t *key, *value;
  size_t keyLen, valueLen;
  if (!ArgInt(info, 0, "mapFd", &mapFd) || !ArgBytes(info, 1, "key", &key, &keyLen) ||
      !ArgBytes(info, 2, "value", &value, &valueLen))
    return env.Undefined();
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = static_cast<uint32_t>(mapFd);
  attr.key = Ptr(key);
  attr.value = Ptr(value);
  attr.flags = BPF_ANY;
  if (Bpf(BPF_MAP_UPDATE_ELEM, &attr) != 0)
    return ThrowErrno(env, "BPF_MAP_UPDATE_ELEM(map fd " + std::to_string(mapFd) + ")", errno);
  return env.Undefined();
}

// bpfMapDelete(mapFd, key).
Napi::Value MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t mapFd;
  uint8_t* key;
  size_t keyLen;
  if (!ArgInt(info, 0, "mapFd", &mapFd) || !ArgBytes(info, 1, "key", &key, &keyLen)) return env.Undefined();
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_fd = static_cast<uint32_t>(mapFd);
  attr.key = Ptr(key);
  if (Bpf(BPF_MAP_DELETE_ELEM, &attr) != 0)
    return ThrowErrno(env, "BPF_MAP_DELETE_ELEM(map fd " + std::to_string(mapFd) + ")", errno);
  return env.Undefined();
}

// bpfLinkCreateXdp(progFd, ifindex, xdpFlags) -> link fd. The interface is looked up in the
// calling thread's network namespace; closing the last fd of the link detaches the program.
Napi::Value LinkCreateXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t progFd, ifindex, flags;
  if (!ArgInt(info, 0, "progFd", &progFd) || !ArgInt(info, 1, "ifindex", &ifindex) ||
      !ArgInt(info, 2, "xdpFlags", &flags))
    return env.Undefined();
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.link_create.prog_fd = static_cast<uint32_t>(progFd);
  attr.link_create.target_ifindex = static_cast<uint32_t>(ifindex);
  attr.link_create.attach_type = BPF_XDP;
  attr.link_create.flags = static_cast<uint32_t>(flags);
  long fd = Bpf(BPF_LINK_CREATE, &attr);
  if (fd < 0) {
    const char* mode = flags & XDP_FLAGS_SKB_MODE ? "skb" : flags & XDP_FLAGS_DRV_MODE ? "drv" : "default";
    return ThrowErrno(env,
                      std::string("BPF_LINK_CREATE(xdp ") + mode + ", ifindex " + std::to_string(ifindex) + ")",
                      errno);
  }
  return Napi::Number::New(env, static_cast<double>(fd));
}

// bpfProgTestRun(progFd, packet, repeat) -> { retval, durationNs, dataOut }.
// durationNs is the kernel's mean time per run over `repeat` runs.
Napi::Value ProgTestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t progFd, repeat;
  uint8_t* packet;
  size_t packetLen;
  if (!ArgInt(info, 0, "progFd", &progFd) || !ArgBytes(info, 1, "packet", &packet, &packetLen) ||
      !ArgInt(info, 2, "repeat", &repeat))
    return env.Undefined();
  if (repeat < 0 || repeat > 0xffffffffLL) return ThrowType(env, "bpfProgTestRun: repeat out of range");
  // Room for a program that grows the packet (bpf_xdp_adjust_tail) up to a page.
  std::vector<uint8_t> out(packetLen + 4096);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.test.prog_fd = static_cast<uint32_t>(progFd);
  attr.test.data_in = Ptr(packet);
  attr.test.data_size_in = static_cast<uint32_t>(packetLen);
  attr.test.data_out = Ptr(out.data());
  attr.test.data_size_out = static_cast<uint32_t>(out.size());
  attr.test.repeat = static_cast<uint32_t>(repeat);
  if (Bpf(BPF_PROG_TEST_RUN, &attr) != 0)
    return ThrowErrno(env,
                      "BPF_PROG_TEST_RUN(prog fd " + std::to_string(progFd) + ", " + std::to_string(packetLen) +
                          " bytes)",
                      errno);
  size_t outLen = attr.test.data_size_out < out.size() ? attr.test.data_size_out : out.size();
  Napi::Object result = Napi::Object::New(env);
  result.Set("retval", Napi::Number::New(env, attr.test.retval));
  result.Set("durationNs", Napi::Number::New(env, attr.test.duration));
  Napi::Uint8Array dataOut = Napi::Uint8Array::New(env, outLen);
  memcpy(dataOut.Data(), out.data(), outLen);
  result.Set("dataOut", dataOut);
  return result;
}

}  // namespace

void InitBpf(Napi::Env env, Napi::Object exports) {
  exports.Set("bpfProgLoadXdp", Napi::Function::New(env, ProgLoadXdp));
  exports.Set("bpfMapCreate", Napi::Function::New(env, MapCreate));
  exports.Set("bpfMapUpdate", Napi::Function::New(env, MapUpdate));
  exports.Set("bpfMapDelete", Napi::Function::New(env, MapDelete));
  exports.Set("bpfLinkCreateXdp", Napi::Function::New(env, LinkCreateXdp));
  exports.Set("bpfProgTestRun", Napi::Function::New(env, ProgTestRun));
}

}  // namespace tilenet
