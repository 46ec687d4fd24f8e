// Bindings used only by the benchmark (bench/run.js): the unfused comparison head and a
// pool-parallel memcpy. They call internal CPU functions, not the public C API.
#include "common.h"
#include "../src/cpu/bench.h"
#include "../src/cpu/head.h"

namespace clsa_addon {
namespace {

// headUnfused(args): same argument object as headSync; CPU tensors only.
Napi::Value HeadUnfused(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HeadCall c = ReadHeadCall(env, info[0].As<Napi::Object>());
  if (c.desc.device != CLSA_DEVICE_CPU) throw Napi::Error::New(env, "headUnfused: CPU tensors only");
  clsa_status s = clsa::cpu::head_unfused(c.desc, c.t);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

// benchMemcpy(dst, src, libc): copies src into dst (Float32Arrays of equal length) with
// std::memcpy (libc true) or a plain copy loop.
Napi::Value BenchMemcpy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorArg dst = GetTensor(env, info[0], "dst");
  TensorArg src = GetTensor(env, info[1], "src");
  if (dst.device != CLSA_DEVICE_CPU || src.device != CLSA_DEVICE_CPU)
    throw Napi::Error::New(env, "benchMemcpy: CPU tensors only");
  if (dst.length != src.length) throw Napi::RangeError::New(env, "benchMemcpy: dst and src lengths differ");
  const bool libc = info.Length() < 3 || info[2].ToBoolean().Value();
  clsa::cpu::bench_memcpy(dst.data, src.data, size_t(dst.length) * sizeof(float), libc);
  return env.Undefined();
}

}  // namespace

void InitBenchCpu(Napi::Env env, Napi::Object exports) {
  exports.Set("headUnfused", Napi::Function::New(env, HeadUnfused, "headUnfused"));
  exports.Set("benchMemcpy", Napi::Function::New(env, BenchMemcpy, "benchMemcpy"));
}

}  // namespace clsa_addon
