// backend(): what this build and this machine can do.
#include "common.h"

namespace clsa_addon {
namespace {

const char* StateName(int32_t s) {
  switch (s) {
    case CLSA_CUDA_USABLE: return "usable";
    case CLSA_CUDA_NOT_COMPILED: return "not-compiled";
    case CLSA_CUDA_NO_DRIVER: return "no-driver";
    case CLSA_CUDA_DRIVER_TOO_OLD: return "driver-too-old";
    case CLSA_CUDA_NO_DEVICE: return "no-device";
    default: return "error";
  }
}

Napi::Value Backend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  clsa_backend_info bi;
  clsa_status s = clsa_backend_query(&bi);
  if (s != CLSA_OK) ThrowStatus(env, s);
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", clsa_version());
  o.Set("cudaCompiled", Napi::Boolean::New(env, bi.cuda_compiled != 0));
  o.Set("cudaState", StateName(bi.cuda_state));
  o.Set("cudaMessage", bi.cuda_message);
  o.Set("cudaRuntimeVersion", bi.cuda_runtime_version);
  o.Set("cudaDriverVersion", bi.cuda_driver_version);
  Napi::Array devs = Napi::Array::New(env, size_t(bi.device_count));
  for (int i = 0; i < bi.device_count; ++i) {
    const clsa_device_info& d = bi.devices[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("index", i);
    x.Set("name", d.name);
    x.Set("computeCapability", std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor));
    x.Set("multiprocessors", d.multiprocessors);
    x.Set("totalMemory", double(d.total_memory));
    x.Set("freeMemory", double(d.free_memory));
    devs.Set(uint32_t(i), x);
  }
  o.Set("devices", devs);
  o.Set("cpuThreads", bi.cpu_threads);
  o.Set("cpuKernel", bi.cpu_features);
  o.Set("cpuBf16", Napi::Boolean::New(env, bi.cpu_bf16 != 0));
  return o;
}

Napi::Value SetCpuThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  clsa_status s = clsa_cpu_set_threads(info[0].As<Napi::Number>().Int32Value());
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

}  // namespace

void InitBackend(Napi::Env env, Napi::Object exports) {
  exports.Set("backend", Napi::Function::New(env, Backend, "backend"));
  exports.Set("setCpuThreads", Napi::Function::New(env, SetCpuThreads, "setCpuThreads"));
}

}  // namespace clsa_addon
