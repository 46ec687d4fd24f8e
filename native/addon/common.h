// N-API plumbing shared by the bindings: tensor arguments (Float32Array or DeviceBuffer),
// status -> JavaScript error translation, and small option readers. No policy lives here:
// the TypeScript facade validates and prepares every argument.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "clsa/clsa.h"

namespace clsa_addon {

// A float tensor argument as the C API wants it: pointer, element count, memory space.
struct TensorArg {
  float* data = nullptr;
  int64_t length = 0;
  int32_t device = CLSA_DEVICE_CPU;
  int32_t device_index = 0;
};

// Reads a Float32Array or a DeviceBuffer. `name` names the argument in errors.
TensorArg GetTensor(Napi::Env env, Napi::Value v, const char* name);
// Same, but undefined/null give an empty TensorArg.
TensorArg GetOptionalTensor(Napi::Env env, Napi::Value v, const char* name);

// Throws a JavaScript Error whose message is "<what>: <clsa_last_error()>" and whose `code`
// is the status name (e.g. "CLSA_ERR_INVALID_ARGUMENT").
[[noreturn]] void ThrowStatus(Napi::Env env, clsa_status s);
Napi::Error StatusError(Napi::Env env, clsa_status s, const std::string& message);

// The fused head's descriptor + tensors, read from the facade's prepared plain object
// (head.cpp; also used by the bench-only bindings).
struct HeadCall {
  clsa_head_desc desc{};
  clsa_head_tensors t{};
};
HeadCall ReadHeadCall(Napi::Env env, Napi::Object o);

int64_t GetInt(Napi::Object o, const char* key);
double GetNumber(Napi::Object o, const char* key);
bool GetBool(Napi::Object o, const char* key);

// Module parts, each registering its exports.
void InitBackend(Napi::Env env, Napi::Object exports);
void InitHead(Napi::Env env, Napi::Object exports);
void InitUpdate(Napi::Env env, Napi::Object exports);
void InitDeviceBuffer(Napi::Env env, Napi::Object exports);
void InitBench(Napi::Env env, Napi::Object exports);     // CUDA-event timings (bench/gpu)
void InitBenchCpu(Napi::Env env, Napi::Object exports);  // unfused head, memcpy (bench/run.js)
void InitEval(Napi::Env env, Napi::Object exports);
void InitAugment(Napi::Env env, Napi::Object exports);
void InitModel(Napi::Env env, Napi::Object exports);

}  // namespace clsa_addon
