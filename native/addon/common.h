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

// One named AsyncWorker per blocking call: `Run` (a clsa_status-returning native call) runs on a
// libuv worker while the argument object, and so every buffer in it, is kept alive; the Promise
// resolves with undefined or rejects with the status as a JavaScript error (code = status name).
class StatusWorker : public Napi::AsyncWorker {
 public:
  StatusWorker(Napi::Env env, const char* name, Napi::Object args)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {
    args_ = Napi::Persistent(args);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    status_ = Run();
    if (status_ != CLSA_OK) message_ = std::string(clsa_status_string(status_)) + ": " + clsa_last_error();
  }
  void OnOK() override {
    if (status_ != CLSA_OK)
      deferred_.Reject(StatusError(Env(), status_, message_).Value());
    else
      deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 protected:
  virtual clsa_status Run() = 0;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference args_;
  clsa_status status_ = CLSA_OK;
  std::string message_;
};

// Queues a worker and returns its Promise.
inline Napi::Value Start(StatusWorker* w) {
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

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
