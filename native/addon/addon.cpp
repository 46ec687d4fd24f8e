// Module entry: each binding file registers its own exports.
#include "comm_handle.h"
#include "common.h"

namespace clsa_addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitBackend(env, exports);
  InitDeviceBuffer(env, exports);
  InitHead(env, exports);
  InitUpdate(env, exports);
  InitBench(env, exports);
  InitBenchCpu(env, exports);
  InitEval(env, exports);
  InitAugment(env, exports);
  InitModel(env, exports);
  InitComm(env, exports);
  return exports;
}

}  // namespace clsa_addon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return clsa_addon::Init(env, exports); }

NODE_API_MODULE(clsa, InitModule)
