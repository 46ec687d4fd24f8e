// Bindings of the fused head: headSync (on the calling thread) and head (HeadWorker, a
// Promise resolved on the main thread after the kernel ran on a libuv worker).
#include <string>
#include <vector>

#include "common.h"

namespace clsa_addon {

// The prepared call: descriptor + tensors, read from the facade's plain object.
HeadCall ReadHeadCall(Napi::Env env, Napi::Object o) {
  HeadCall c;
  c.desc.n = GetInt(o, "n");
  c.desc.d = GetInt(o, "d");
  c.desc.k = GetInt(o, "k");
  c.desc.w = GetInt(o, "w");
  c.desc.s = GetInt(o, "s");
  c.desc.temperature = float(GetNumber(o, "temperature"));
  c.desc.ddm_temperature = float(GetNumber(o, "ddmTemperature"));
  c.desc.ddm_weight = float(GetNumber(o, "ddmWeight"));
  c.desc.normalize = GetBool(o, "normalize") ? 1 : 0;
  c.desc.precision = int32_t(GetInt(o, "precision"));
  TensorArg weak = GetTensor(env, o.Get("weak"), "weak");
  TensorArg strong = GetOptionalTensor(env, o.Get("strong"), "strong");
  TensorArg keys = GetTensor(env, o.Get("keys"), "keys");
  TensorArg queue = GetTensor(env, o.Get("queue"), "queue");
  TensorArg gw = GetOptionalTensor(env, o.Get("gradWeak"), "gradWeak");
  TensorArg gs = GetOptionalTensor(env, o.Get("gradStrong"), "gradStrong");
  TensorArg stats = GetTensor(env, o.Get("stats"), "stats");
  // Every tensor must live in one memory space; the facade guarantees it, we re-check.
  const TensorArg* all[] = {&weak, &strong, &keys, &queue, &gw, &gs, &stats};
  for (const TensorArg* a : all)
    if (a->data && (a->device != weak.device || a->device_index != weak.device_index))
      throw Napi::Error::New(env, "head: all tensors must be on the same device");
  c.desc.device = weak.device;
  c.desc.device_index = weak.device_index;
  c.t.weak = weak.data;
  c.t.strong = strong.data;
  c.t.keys = keys.data;
  c.t.queue = queue.data;
  c.t.grad_weak = gw.data;
  c.t.grad_strong = gs.data;
  c.t.stats = stats.data;
  if (stats.length < 4) throw Napi::RangeError::New(env, "stats: expected 4 floats");
  return c;
}

namespace {

Napi::Value HeadSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HeadCall c = ReadHeadCall(env, info[0].As<Napi::Object>());
  clsa_status s = clsa_head_forward_backward(&c.desc, &c.t, nullptr, 0);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value HeadReference(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HeadCall c = ReadHeadCall(env, info[0].As<Napi::Object>());
  clsa_status s = clsa_head_reference(&c.desc, &c.t);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

class HeadWorker : public StatusWorker {
 public:
  HeadWorker(Napi::Env env, Napi::Object args, HeadCall call) : StatusWorker(env, "clsa.HeadWorker", args), call_(call) {}

 protected:
  clsa_status Run() override { return clsa_head_forward_backward(&call_.desc, &call_.t, nullptr, 0); }

 private:
  HeadCall call_;
};

Napi::Value Head(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object args = info[0].As<Napi::Object>();
  HeadCall c = ReadHeadCall(env, args);
  return Start(new HeadWorker(env, args, c));
}

Napi::Value HeadWorkspaceSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HeadCall c = ReadHeadCall(env, info[0].As<Napi::Object>());
  size_t bytes = 0;
  clsa_status s = clsa_head_workspace_size(&c.desc, &bytes);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return Napi::Number::New(env, double(bytes));
}

}  // namespace

void InitHead(Napi::Env env, Napi::Object exports) {
  exports.Set("headSync", Napi::Function::New(env, HeadSync, "headSync"));
  exports.Set("head", Napi::Function::New(env, Head, "head"));
  exports.Set("headReference", Napi::Function::New(env, HeadReference, "headReference"));
  exports.Set("headWorkspaceSize", Napi::Function::New(env, HeadWorkspaceSize, "headWorkspaceSize"));
}

}  // namespace clsa_addon
