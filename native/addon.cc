// Entry point of the tilenet addon: each native/*.cc file registers its own functions.
#include <napi.h>
#include "common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tilenet::InitShm(env, exports);
  tilenet::InitFutex(env, exports);
  tilenet::InitSandbox(env, exports);
  tilenet::InitNetlink(env, exports);
  tilenet::InitSockets(env, exports);
  tilenet::InitBpf(env, exports);
  tilenet::InitXsk(env, exports);
  tilenet::InitNetns(env, exports);
  tilenet::InitOpenat2(env, exports);
  tilenet::InitUnixDgram(env, exports);
  tilenet::InitIdle(env, exports);
  tilenet::InitPrivdrop(env, exports);
  tilenet::InitUdpBatch(env, exports);
  tilenet::InitProbe6(env, exports);
  return exports;
}

NODE_API_MODULE(tilenet, Init)
