#include "device_buffer.h"

#include "clsa/clsa.h"
#include "common.h"

namespace clsa_addon {

Napi::FunctionReference* DeviceBuffer::constructor_ = nullptr;

void DeviceBuffer::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function f = DefineClass(env, "DeviceBuffer",
                                 {InstanceMethod("upload", &DeviceBuffer::Upload),
                                  InstanceMethod("download", &DeviceBuffer::Download),
                                  InstanceMethod("fill", &DeviceBuffer::Fill),
                                  InstanceMethod("copyFrom", &DeviceBuffer::CopyFrom),
                                  InstanceMethod("dispose", &DeviceBuffer::Dispose),
                                  InstanceAccessor("length", &DeviceBuffer::Length, nullptr),
                                  InstanceAccessor("disposed", &DeviceBuffer::Disposed, nullptr),
                                  InstanceAccessor("deviceIndex", &DeviceBuffer::DeviceIndex, nullptr)});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(f));
  env.SetInstanceData(constructor_);
  exports.Set("DeviceBuffer", f);
}

bool DeviceBuffer::IsInstance(Napi::Value v) {
  return constructor_ && v.IsObject() && v.As<Napi::Object>().InstanceOf(constructor_->Value());
}

// new DeviceBuffer(deviceIndex, lengthInFloats)
DeviceBuffer::DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
  Napi::Env env = info.Env();
  device_ = info[0].As<Napi::Number>().Int32Value();
  length_ = info[1].As<Napi::Number>().Int64Value();
  void* p = nullptr;
  clsa_status s = clsa_device_alloc(device_, size_t(length_) * sizeof(float), &p);
  if (s != CLSA_OK) {
    ThrowStatus(env, s);
    return;
  }
  ptr_ = static_cast<float*>(p);
}

DeviceBuffer::~DeviceBuffer() { Release(); }

void DeviceBuffer::Release() {
  if (ptr_) clsa_device_free(device_, ptr_);
  ptr_ = nullptr;
}

static void CheckLive(Napi::Env env, float* p) {
  if (!p) throw Napi::Error::New(env, "DeviceTensor: used after dispose()");
}

Napi::Value DeviceBuffer::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLive(env, ptr_);
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  int64_t off = info.Length() > 1 ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (off < 0 || off + int64_t(a.ElementLength()) > length_)
    throw Napi::RangeError::New(env, "upload: source does not fit the device tensor at that offset");
  clsa_status s = clsa_device_copy(device_, ptr_ + off, a.Data(), a.ElementLength() * sizeof(float),
                                   CLSA_COPY_HOST_TO_DEVICE, nullptr);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value DeviceBuffer::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLive(env, ptr_);
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  int64_t off = info.Length() > 1 ? info[1].As<Napi::Number>().Int64Value() : 0;
  if (off < 0 || off + int64_t(a.ElementLength()) > length_)
    throw Napi::RangeError::New(env, "download: destination does not fit the device tensor at that offset");
  clsa_status s = clsa_device_copy(device_, a.Data(), ptr_ + off, a.ElementLength() * sizeof(float),
                                   CLSA_COPY_DEVICE_TO_HOST, nullptr);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value DeviceBuffer::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLive(env, ptr_);
  clsa_status s = clsa_device_fill(device_, ptr_, length_, info[0].As<Napi::Number>().FloatValue(), nullptr);
  if (s == CLSA_OK) s = clsa_cuda_synchronize(device_, nullptr);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value DeviceBuffer::CopyFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckLive(env, ptr_);
  if (!IsInstance(info[0])) throw Napi::TypeError::New(env, "copyFrom: expected a device tensor");
  DeviceBuffer* o = Unwrap(info[0].As<Napi::Object>());
  CheckLive(env, o->ptr_);
  if (o->length_ != length_) throw Napi::RangeError::New(env, "copyFrom: lengths differ");
  clsa_status s = clsa_device_copy(device_, ptr_, o->ptr_, size_t(length_) * sizeof(float), CLSA_COPY_DEVICE_TO_DEVICE,
                                   nullptr);
  if (s != CLSA_OK) ThrowStatus(env, s);
  return env.Undefined();
}

Napi::Value DeviceBuffer::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}
Napi::Value DeviceBuffer::Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(length_)); }
Napi::Value DeviceBuffer::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr_ == nullptr); }
Napi::Value DeviceBuffer::DeviceIndex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }

void InitDeviceBuffer(Napi::Env env, Napi::Object exports) { DeviceBuffer::Init(env, exports); }

}  // namespace clsa_addon
