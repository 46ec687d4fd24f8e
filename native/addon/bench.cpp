// Bench-only bindings (bench/gpu): CUDA-event timings of the device kernels through the
// internal entry points of native/src/bench_internal.h. Not part of the public TypeScript API.
#include <string>
#include <vector>

#include "../src/bench_internal.h"
#include "common.h"

namespace clsa_addon {
namespace {

clsa::bench::Timing ReadTiming(Napi::Value v) {
  clsa::bench::Timing t;
  if (v.IsObject()) {
    Napi::Object o = v.As<Napi::Object>();
    if (o.Has("warmup")) t.warmup = int(GetInt(o, "warmup"));
    if (o.Has("samples")) t.samples = int(GetInt(o, "samples"));
  }
  if (t.warmup < 0) t.warmup = 0;
  if (t.samples < 1) t.samples = 1;
  return t;
}

Napi::Array Times(Napi::Env env, const std::vector<float>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(uint32_t(i), double(v[i]));
  return a;
}

// cudaBenchHead(args, sets, timing) -> { timesMs, workspaceBytes, freeDrop }
// args: the prepared head call (device tensors; its outputs are shared by every set);
// sets: [{ weak, strong, keys, queue }] device tensors of the same shapes.
Napi::Value BenchHead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object args = info[0].As<Napi::Object>();
  HeadCall base = ReadHeadCall(env, args);
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<clsa_head_tensors> sets;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object o = arr.Get(i).As<Napi::Object>();
    clsa_head_tensors t = base.t;
    t.weak = GetTensor(env, o.Get("weak"), "sets[].weak").data;
    t.strong = GetOptionalTensor(env, o.Get("strong"), "sets[].strong").data;
    t.keys = GetTensor(env, o.Get("keys"), "sets[].keys").data;
    t.queue = GetTensor(env, o.Get("queue"), "sets[].queue").data;
    sets.push_back(t);
  }
  clsa::bench::Timing tm = ReadTiming(info[2]);
  std::vector<float> times(size_t(tm.samples));
  size_t ws = 0;
  int64_t drop = 0;
  clsa_status s = clsa::bench::time_head(base.desc, sets.data(), int(sets.size()), base.t, tm, times.data(), &ws, &drop);
  if (s != CLSA_OK) ThrowStatus(env, s);
  Napi::Object r = Napi::Object::New(env);
  r.Set("timesMs", Times(env, times));
  r.Set("workspaceBytes", double(ws));
  r.Set("freeDrop", double(drop));
  return r;
}

// cudaBenchMomentum(target, source, m, timing) -> { timesMs }
Napi::Value BenchMomentum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorArg t = GetTensor(env, info[0], "target");
  TensorArg src = GetTensor(env, info[1], "source");
  if (t.device != CLSA_DEVICE_CUDA || src.device != CLSA_DEVICE_CUDA || t.length != src.length)
    throw Napi::Error::New(env, "cudaBenchMomentum: expected two device tensors of equal length");
  clsa::bench::Timing tm = ReadTiming(info[3]);
  std::vector<float> times(size_t(tm.samples));
  clsa_status s = clsa::bench::time_momentum(t.device_index, t.data, src.data, t.length,
                                             info[2].As<Napi::Number>().FloatValue(), tm, times.data());
  if (s != CLSA_OK) ThrowStatus(env, s);
  Napi::Object r = Napi::Object::New(env);
  r.Set("timesMs", Times(env, times));
  return r;
}

// cudaBenchEnqueue(queue, k, d, keys, n, normalize, timing) -> { timesMs }
Napi::Value BenchEnqueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorArg q = GetTensor(env, info[0], "queue");
  const int64_t k = info[1].As<Napi::Number>().Int64Value(), d = info[2].As<Napi::Number>().Int64Value();
  TensorArg keys = GetTensor(env, info[3], "keys");
  const int64_t n = info[4].As<Napi::Number>().Int64Value();
  if (q.device != CLSA_DEVICE_CUDA || keys.device != CLSA_DEVICE_CUDA || q.length < k * d || keys.length < n * d)
    throw Napi::Error::New(env, "cudaBenchEnqueue: expected device tensors of [k, d] and [n, d] floats");
  clsa::bench::Timing tm = ReadTiming(info[6]);
  std::vector<float> times(size_t(tm.samples));
  clsa_status s = clsa::bench::time_enqueue(q.device_index, q.data, k, d, keys.data, n, info[5].ToBoolean().Value(), tm,
                                            times.data());
  if (s != CLSA_OK) ThrowStatus(env, s);
  Napi::Object r = Napi::Object::New(env);
  r.Set("timesMs", Times(env, times));
  return r;
}

}  // namespace

void InitBench(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaBenchHead", Napi::Function::New(env, BenchHead, "cudaBenchHead"));
  exports.Set("cudaBenchMomentum", Napi::Function::New(env, BenchMomentum, "cudaBenchMomentum"));
  exports.Set("cudaBenchEnqueue", Napi::Function::New(env, BenchEnqueue, "cudaBenchEnqueue"));
}

}  // namespace clsa_addon
