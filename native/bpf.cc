// Placeholder: this module's functions are not written yet.
#include "common.h"

namespace tilenet {
void InitBpf(Napi::Env env, Napi::Object exports) {}
}  // namespace tilenet
