#include "common.h"

#include "device_buffer.h"

namespace clsa_addon {

Napi::Error StatusError(Napi::Env env, clsa_status s, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Value().Set("code", Napi::String::New(env, clsa_status_string(s)));
  return e;
}

void ThrowStatus(Napi::Env env, clsa_status s) {
  const char* msg = clsa_last_error();
  throw StatusError(env, s, std::string(clsa_status_string(s)) + ": " + (msg && *msg ? msg : "no details"));
}

TensorArg GetTensor(Napi::Env env, Napi::Value v, const char* name) {
  TensorArg t;
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, std::string(name) + ": expected a Float32Array");
    Napi::Float32Array f = v.As<Napi::Float32Array>();
    t.data = f.Data();
    t.length = int64_t(f.ElementLength());
    return t;
  }
  if (v.IsObject() && DeviceBuffer::IsInstance(v)) {
    DeviceBuffer* b = DeviceBuffer::Unwrap(v.As<Napi::Object>());
    if (!b->ptr()) throw Napi::Error::New(env, std::string(name) + ": the device tensor has been disposed");
    t.data = b->ptr();
    t.length = b->length();
    t.device = CLSA_DEVICE_CUDA;
    t.device_index = b->device_index();
    return t;
  }
  throw Napi::TypeError::New(env, std::string(name) + ": expected a Float32Array or a device tensor");
}

TensorArg GetOptionalTensor(Napi::Env env, Napi::Value v, const char* name) {
  if (v.IsUndefined() || v.IsNull()) return TensorArg{};
  return GetTensor(env, v, name);
}

int64_t GetInt(Napi::Object o, const char* key) { return o.Get(key).As<Napi::Number>().Int64Value(); }
double GetNumber(Napi::Object o, const char* key) { return o.Get(key).As<Napi::Number>().DoubleValue(); }
bool GetBool(Napi::Object o, const char* key) { return o.Get(key).ToBoolean().Value(); }

}  // namespace clsa_addon
