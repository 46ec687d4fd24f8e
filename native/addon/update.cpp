// Bindings of the momentum (EMA) update and the queue enqueue.
#include "common.h"

namespace clsa_addon {
namespace {

// momentumUpdate(target, source, m)
Napi::Value MomentumUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorArg t = GetTensor(env, info[0], "target");
  TensorArg s = GetTensor(env, info[1], "source");
  if (t.device != s.device || t.device_index != s.device_index)
    throw Napi::Error::New(env, "momentumUpdate: target and source must be on the same device");
  if (t.length != s.length) throw Napi::RangeError::New(env, "momentumUpdate: target and source lengths differ");
  clsa_status st = clsa_momentum_update(t.device, t.device_index, t.data, s.data, t.length,
                                        info[2].As<Napi::Number>().FloatValue(), nullptr);
  if (st == CLSA_OK && t.device == CLSA_DEVICE_CUDA) st = clsa_cuda_synchronize(t.device_index, nullptr);
  if (st != CLSA_OK) ThrowStatus(env, st);
  return env.Undefined();
}

// queueEnqueue(queue, k, d, keys, n, normalize, pointer) -> new pointer
Napi::Value QueueEnqueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorArg q = GetTensor(env, info[0], "queue");
  int64_t k = info[1].As<Napi::Number>().Int64Value();
  int64_t d = info[2].As<Napi::Number>().Int64Value();
  TensorArg keys = GetTensor(env, info[3], "keys");
  int64_t n = info[4].As<Napi::Number>().Int64Value();
  bool normalize = info[5].ToBoolean().Value();
  int64_t pointer = info[6].As<Napi::Number>().Int64Value();
  if (q.device != keys.device || q.device_index != keys.device_index)
    throw Napi::Error::New(env, "enqueue: queue and keys must be on the same device");
  if (q.length < k * d || keys.length < n * d) throw Napi::RangeError::New(env, "enqueue: buffers too short");
  clsa_status st = clsa_queue_enqueue(q.device, q.device_index, q.data, k, d, keys.data, n, normalize ? 1 : 0, &pointer,
                                      nullptr);
  if (st == CLSA_OK && q.device == CLSA_DEVICE_CUDA) st = clsa_cuda_synchronize(q.device_index, nullptr);
  if (st != CLSA_OK) ThrowStatus(env, st);
  return Napi::Number::New(env, double(pointer));
}

// scanRows(data, rows, cols) -> { nonFinite, zeroRow } (first offending index or -1)
Napi::Value ScanRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorArg t = GetTensor(env, info[0], "data");
  int64_t rows = info[1].As<Napi::Number>().Int64Value(), cols = info[2].As<Napi::Number>().Int64Value();
  if (rows * cols > t.length) throw Napi::RangeError::New(env, "scanRows: buffer too short");
  int64_t bad = -1, zero = -1;
  clsa_status st = clsa_scan_rows(t.device, t.device_index, t.data, rows, cols, &bad, &zero);
  if (st != CLSA_OK) ThrowStatus(env, st);
  Napi::Object o = Napi::Object::New(env);
  o.Set("nonFinite", double(bad));
  o.Set("zeroRow", double(zero));
  return o;
}

}  // namespace

void InitUpdate(Napi::Env env, Napi::Object exports) {
  exports.Set("momentumUpdate", Napi::Function::New(env, MomentumUpdate, "momentumUpdate"));
  exports.Set("scanRows", Napi::Function::New(env, ScanRows, "scanRows"));
  exports.Set("queueEnqueue", Napi::Function::New(env, QueueEnqueue, "queueEnqueue"));
}

}  // namespace clsa_addon
