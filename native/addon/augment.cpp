// Bindings of the augmentation pipelines:
//   augmentDraw(view, n, height, width, channels, seed, imageOffset, viewIndex) -> params objects
//   augmentApply(args, params)  sync, explicit parameters (objects, derived fields recomputed)
//   augmentSync(args)           draw + apply on the calling thread
//   augment(args)               draw + apply on AugmentWorker, returns a Promise
// args = { images: Uint8Array, n, height, width, channels, views: [view...], seed, imageOffset,
//          outputs: [Float32Array | DeviceBuffer ...] }. The facade (lib/augment.ts) validates.
#include <string>
#include <vector>

#include "common.h"

namespace clsa_addon {
namespace {

float F(Napi::Object o, const char* k) { return float(GetNumber(o, k)); }
int32_t I(Napi::Object o, const char* k) { return int32_t(GetInt(o, k)); }

clsa_augment_view ReadView(Napi::Object o) {
  clsa_augment_view v{};
  v.size = I(o, "size");
  v.scale_min = F(o, "scaleMin");
  v.scale_max = F(o, "scaleMax");
  v.ratio_min = F(o, "ratioMin");
  v.ratio_max = F(o, "ratioMax");
  v.flip_p = F(o, "flipP");
  v.jitter_p = F(o, "jitterP");
  v.brightness = F(o, "brightness");
  v.contrast = F(o, "contrast");
  v.saturation = F(o, "saturation");
  v.hue = F(o, "hue");
  v.grayscale_p = F(o, "grayscaleP");
  v.blur_p = F(o, "blurP");
  v.blur_sigma_min = F(o, "blurSigmaMin");
  v.blur_sigma_max = F(o, "blurSigmaMax");
  v.ra_n = I(o, "raN");
  v.ra_p = F(o, "raP");
  v.ra_magnitude_min = I(o, "raMagnitudeMin");
  v.ra_magnitude_max = I(o, "raMagnitudeMax");
  v.ra_fill = I(o, "raFill");
  Napi::Array mean = o.Get("mean").As<Napi::Array>(), std = o.Get("std").As<Napi::Array>();
  for (uint32_t c = 0; c < CLSA_AUGMENT_MAX_CHANNELS; ++c) {
    v.mean[c] = c < mean.Length() ? mean.Get(c).As<Napi::Number>().FloatValue() : 0.0f;
    v.std[c] = c < std.Length() ? std.Get(c).As<Napi::Number>().FloatValue() : 1.0f;
  }
  return v;
}

Napi::Array IntArray(Napi::Env env, const int32_t* p, int n) {
  Napi::Array a = Napi::Array::New(env, size_t(n));
  for (int i = 0; i < n; ++i) a.Set(uint32_t(i), p[i]);
  return a;
}

Napi::Object WriteParams(Napi::Env env, const clsa_augment_params& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("cropX", p.crop_x);
  o.Set("cropY", p.crop_y);
  o.Set("cropW", p.crop_w);
  o.Set("cropH", p.crop_h);
  o.Set("flip", p.flip != 0);
  o.Set("jitter", p.jitter != 0);
  o.Set("jitterOrder", IntArray(env, p.jitter_order, 4));
  o.Set("brightness", p.brightness);
  o.Set("contrast", p.contrast);
  o.Set("saturation", p.saturation);
  o.Set("hue", p.hue);
  o.Set("hueShift", p.hue_shift);
  o.Set("grayscale", p.grayscale != 0);
  o.Set("blur", p.blur != 0);
  o.Set("blurSigma", p.blur_sigma);
  o.Set("blurBoxRadius", p.blur_box_radius);
  Napi::Array ops = Napi::Array::New(env, size_t(p.ra_count));
  for (int k = 0; k < p.ra_count; ++k) {
    Napi::Object op = Napi::Object::New(env);
    op.Set("op", p.ra_op[k]);
    op.Set("magnitude", p.ra_magnitude[k]);
    op.Set("sign", p.ra_sign[k]);
    op.Set("applied", p.ra_applied[k] != 0);
    op.Set("int", p.ra_int[k]);
    op.Set("factor", p.ra_factor[k]);
    op.Set("affine", IntArray(env, p.ra_affine[k], 6));
    ops.Set(uint32_t(k), op);
  }
  o.Set("ops", ops);
  return o;
}

clsa_augment_params ReadParams(Napi::Env env, Napi::Object o) {
  clsa_augment_params p{};
  p.crop_x = I(o, "cropX");
  p.crop_y = I(o, "cropY");
  p.crop_w = I(o, "cropW");
  p.crop_h = I(o, "cropH");
  p.flip = GetBool(o, "flip");
  p.jitter = GetBool(o, "jitter");
  Napi::Array order = o.Get("jitterOrder").As<Napi::Array>();
  for (uint32_t k = 0; k < 4; ++k) p.jitter_order[k] = k < order.Length() ? order.Get(k).As<Napi::Number>().Int32Value() : -1;
  p.brightness = F(o, "brightness");
  p.contrast = F(o, "contrast");
  p.saturation = F(o, "saturation");
  p.hue = F(o, "hue");
  p.grayscale = GetBool(o, "grayscale");
  p.blur = GetBool(o, "blur");
  p.blur_sigma = F(o, "blurSigma");
  Napi::Array ops = o.Get("ops").As<Napi::Array>();
  if (ops.Length() > CLSA_AUGMENT_MAX_OPS) throw Napi::RangeError::New(env, "params.ops: too many ops");
  p.ra_count = int32_t(ops.Length());
  for (uint32_t k = 0; k < ops.Length(); ++k) {
    Napi::Object op = ops.Get(k).As<Napi::Object>();
    p.ra_op[k] = I(op, "op");
    p.ra_magnitude[k] = I(op, "magnitude");
    p.ra_sign[k] = I(op, "sign");
    p.ra_applied[k] = GetBool(op, "applied");
  }
  return p;
}

// A prepared call: everything the C API needs, owned here so the worker can run off-thread.
struct AugmentCall {
  std::vector<clsa_augment_view> views;
  std::vector<clsa_augment_params> params;
  std::vector<float*> outputs;
  clsa_augment_batch batch{};
  uint64_t seed = 0;
  int64_t image_offset = 0;
  bool draw = true;
};

AugmentCall ReadCall(Napi::Env env, Napi::Object o) {
  AugmentCall c;
  Napi::Value imgs = o.Get("images");
  if (!imgs.IsTypedArray() || imgs.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "images: expected a Uint8Array");
  Napi::Uint8Array u8 = imgs.As<Napi::Uint8Array>();
  clsa_augment_batch& b = c.batch;
  b.n = GetInt(o, "n");
  b.height = I(o, "height");
  b.width = I(o, "width");
  b.channels = I(o, "channels");
  if (int64_t(u8.ElementLength()) != b.n * b.height * b.width * b.channels)
    throw Napi::RangeError::New(env, "images: length does not match n * height * width * channels");
  b.images = u8.Data();
  Napi::Array views = o.Get("views").As<Napi::Array>();
  Napi::Array outs = o.Get("outputs").As<Napi::Array>();
  if (outs.Length() != views.Length()) throw Napi::RangeError::New(env, "outputs: expected one tensor per view");
  for (uint32_t v = 0; v < views.Length(); ++v) c.views.push_back(ReadView(views.Get(v).As<Napi::Object>()));
  int32_t device = CLSA_DEVICE_CPU, device_index = 0;
  for (uint32_t v = 0; v < outs.Length(); ++v) {
    TensorArg t = GetTensor(env, outs.Get(v), "outputs[]");
    if (v == 0) {
      device = t.device;
      device_index = t.device_index;
    } else if (t.device != device || t.device_index != device_index) {
      throw Napi::Error::New(env, "outputs: all views must be on the same device");
    }
    const int64_t need = b.n * b.channels * int64_t(c.views[v].size) * c.views[v].size;
    if (t.length < need) throw Napi::RangeError::New(env, "outputs[" + std::to_string(v) + "]: too short for its view");
    c.outputs.push_back(t.data);
  }
  b.device = device;
  b.device_index = device_index;
  b.images_on_host = device == CLSA_DEVICE_CUDA ? 1 : 0;
  b.view_count = int32_t(c.views.size());
  c.seed = uint64_t(GetNumber(o, "seed"));
  c.image_offset = o.Has("imageOffset") ? GetInt(o, "imageOffset") : 0;
  return c;
}

// Draws (when asked) and runs; fills status/message instead of throwing (worker-thread safe).
clsa_status RunCall(AugmentCall& c) {
  clsa_augment_batch& b = c.batch;
  if (c.draw) {
    c.params.resize(size_t(b.n) * c.views.size());
    for (size_t v = 0; v < c.views.size(); ++v) {
      clsa_status s = clsa_augment_draw(&c.views[v], b.n, b.height, b.width, b.channels, c.seed, c.image_offset,
                                        int32_t(v), c.params.data() + v * size_t(b.n));
      if (s != CLSA_OK) return s;
    }
  }
  b.views = c.views.data();
  b.params = c.params.data();
  b.outputs = c.outputs.data();
  clsa_status s = clsa_augment_apply(&b);
  if (s == CLSA_OK && b.device == CLSA_DEVICE_CUDA) s = clsa_cuda_synchronize(b.device_index, nullptr);
  return s;
}

Napi::Value AugmentDraw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  clsa_augment_view view = ReadView(info[0].As<Napi::Object>());
  const int64_t n = info[1].As<Napi::Number>().Int64Value();
  const int32_t h = info[2].As<Napi::Number>().Int32Value(), w = info[3].As<Napi::Number>().Int32Value();
  const int32_t ch = info[4].As<Napi::Number>().Int32Value();
  const uint64_t seed = uint64_t(info[5].As<Napi::Number>().DoubleValue());
  const int64_t offset = info[6].As<Napi::Number>().Int64Value();
  const int32_t vi = info[7].As<Napi::Number>().Int32Value();
  if (n < 0) throw Napi::RangeError::New(env, "n: expected >= 0");
  std::vector<clsa_augment_params> ps(static_cast<size_t>(n));
  clsa_status s = clsa_augment_draw(&view, n, h, w, ch, seed, offset, vi, ps.data());
  if (s != CLSA_OK) ThrowStatus(env, s);
  Napi::Array out = Napi::Array::New(env, size_t(n));
  for (int64_t i = 0; i < n; ++i) out.Set(uint32_t(i), WriteParams(env, ps[size_t(i)]));
  return out;
}

Napi::Value AugmentApply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AugmentCall c = ReadCall(env, info[0].As<Napi::Object>());
  Napi::Array params = info[1].As<Napi::Array>();  // [views][n]
  if (params.Length() != c.views.size()) throw Napi::RangeError::New(env, "params: expected one array per view");
  for (uint32_t v = 0; v < params.Length(); ++v) {
    Napi::Array pv = params.Get(v).As<Napi::Array>();
    if (int64_t(pv.Length()) != c.batch.n) throw Napi::RangeError::New(env, "params[v]: expected one object per image");
    for (uint32_t i = 0; i < pv.Length(); ++i) {
      clsa_augment_params p = ReadParams(env, pv.Get(i).As<Napi::Object>());
      clsa_status s = clsa_augment_derive(&c.views[v], &p);
      if (s != CLSA_OK) ThrowStatus(env, s);
      c.params.push_back(p);
    }
  }
  c.draw = false;
  clsa_status s = RunCall(c);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value AugmentSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AugmentCall c = ReadCall(env, info[0].As<Napi::Object>());
  clsa_status s = RunCall(c);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

class AugmentWorker : public StatusWorker {
 public:
  AugmentWorker(Napi::Env env, Napi::Object args, AugmentCall call)
      : StatusWorker(env, "clsa.AugmentWorker", args), call_(std::move(call)) {}

 protected:
  clsa_status Run() override { return RunCall(call_); }

 private:
  AugmentCall call_;
};

Napi::Value Augment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object args = info[0].As<Napi::Object>();
  AugmentCall c = ReadCall(env, args);
  return Start(new AugmentWorker(env, args, std::move(c)));
}

}  // namespace

void InitAugment(Napi::Env env, Napi::Object exports) {
  exports.Set("augmentDraw", Napi::Function::New(env, AugmentDraw, "augmentDraw"));
  exports.Set("augmentApply", Napi::Function::New(env, AugmentApply, "augmentApply"));
  exports.Set("augmentSync", Napi::Function::New(env, AugmentSync, "augmentSync"));
  exports.Set("augment", Napi::Function::New(env, Augment, "augment"));
}

}  // namespace clsa_addon
