// DeviceBuffer: a float32 allocation in GPU memory, owned by a JavaScript object. Freed by
// dispose() or, as a fallback, by the garbage collector.
#pragma once
#include <napi.h>

#include <cstdint>

namespace clsa_addon {

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static bool IsInstance(Napi::Value v);
  explicit DeviceBuffer(const Napi::CallbackInfo& info);
  ~DeviceBuffer() override;

  float* ptr() const { return ptr_; }
  int64_t length() const { return length_; }
  int32_t device_index() const { return device_; }

 private:
  Napi::Value Upload(const Napi::CallbackInfo& info);    // (Float32Array, offset?)
  Napi::Value Download(const Napi::CallbackInfo& info);  // (Float32Array, offset?)
  Napi::Value Fill(const Napi::CallbackInfo& info);      // (value)
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);  // (DeviceBuffer)
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Length(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value DeviceIndex(const Napi::CallbackInfo& info);
  void Release();

  static Napi::FunctionReference* constructor_;
  float* ptr_ = nullptr;
  int64_t length_ = 0;
  int32_t device_ = 0;
};

}  // namespace clsa_addon
