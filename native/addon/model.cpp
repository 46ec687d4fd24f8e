// Bindings of clsa/model.h: the NativeModel class. step() and embed() run on libuv workers
// (ModelStepWorker, ModelEmbedWorker) and return Promises; the facade (lib/model.ts) validates
// every argument and keeps one call in flight at a time.
#include <string>
#include <vector>

#include "comm_handle.h"
#include "common.h"

namespace clsa_addon {
namespace {

// Host floats, or a device buffer (the facade admits those only for a model on that GPU; the
// library checks the pointer's device again).
clsa_images ReadImages(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, std::string(name) + ": expected an images object");
  Napi::Object o = v.As<Napi::Object>();
  TensorArg t = GetTensor(env, o.Get("data"), name);
  clsa_images im{t.data, GetInt(o, "n"), GetInt(o, "c"), GetInt(o, "h"), GetInt(o, "w")};
  if (im.n * im.c * im.h * im.w != t.length)
    throw Napi::RangeError::New(env, std::string(name) + ": data length does not match n*c*h*w");
  return im;
}

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod("info", &NativeModel::Info), InstanceMethod("step", &NativeModel::Step),
                        InstanceMethod("embed", &NativeModel::Embed), InstanceMethod("getBuffer", &NativeModel::GetBuffer),
                        InstanceMethod("setBuffer", &NativeModel::SetBuffer),
                        InstanceMethod("bufferNames", &NativeModel::BufferNames),
                        InstanceMethod("getCounters", &NativeModel::GetCounters),
                        InstanceMethod("setCounters", &NativeModel::SetCounters),
                        InstanceMethod("setComm", &NativeModel::SetComm),
                        InstanceMethod("dispose", &NativeModel::Dispose)});
  }

  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    clsa_model_config c;
    clsa_model_config_default(&c);
    c.arch = int32_t(GetInt(o, "arch"));
    c.width = int32_t(GetInt(o, "width"));
    c.depth = int32_t(GetInt(o, "depth"));
    c.in_channels = int32_t(GetInt(o, "inChannels"));
    c.proj_hidden = int32_t(GetInt(o, "projHidden"));
    c.proj_dim = int32_t(GetInt(o, "projDim"));
    c.queue_size = GetInt(o, "queueSize");
    c.temperature = float(GetNumber(o, "temperature"));
    c.ddm_temperature = float(GetNumber(o, "ddmTemperature"));
    c.ddm_weight = float(GetNumber(o, "ddmWeight"));
    c.encoder_momentum = float(GetNumber(o, "encoderMomentum"));
    c.momentum = float(GetNumber(o, "momentum"));
    c.weight_decay = float(GetNumber(o, "weightDecay"));
    c.split_bn = int32_t(GetInt(o, "splitBN"));
    c.bn_momentum = float(GetNumber(o, "bnMomentum"));
    c.bn_eps = float(GetNumber(o, "bnEps"));
    c.seed = uint32_t(GetInt(o, "seed"));
    c.device = int32_t(GetInt(o, "device"));
    c.device_index = int32_t(GetInt(o, "deviceIndex"));
    c.precision = int32_t(GetInt(o, "precision"));
    c.symmetric = int32_t(GetInt(o, "symmetric"));
    c.loss_reduction = int32_t(GetInt(o, "lossReduction"));
    clsa_status s = clsa_model_create(&c, &model_);
    if (s != CLSA_OK) ThrowStatus(env, s);
  }
  ~NativeModel() override { clsa_model_destroy(model_); }

  // The NativeComm the model is attached to (kept alive and counted as a user while attached).
  void Attached(Napi::Value comm) {
    if (!comm_.IsEmpty()) CommUsers(comm_.Value(), -1);
    comm_.Reset();
    if (comm.IsObject()) {
      comm_ = Napi::Persistent(comm.As<Napi::Object>());
      CommUsers(comm, +1);
    }
  }

  clsa_model* model(Napi::Env env) {
    if (!model_) throw Napi::Error::New(env, "model: has been disposed");
    return model_;
  }
  int running = 0;

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Embed(const Napi::CallbackInfo& info);
  Napi::Value SetComm(const Napi::CallbackInfo& info);
  Napi::Value GetBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int32_t b = int32_t(info[0].As<Napi::Number>().Int32Value());
    int64_t count = 0;
    clsa_status s = clsa_model_buffer_size(model(env), b, &count);
    if (s != CLSA_OK) ThrowStatus(env, s);
    Napi::Float32Array out = Napi::Float32Array::New(env, size_t(count));
    s = clsa_model_get_buffer(model_, b, out.Data(), count);
    if (s != CLSA_OK) ThrowStatus(env, s);
    return out;
  }
  Napi::Value SetBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int32_t b = int32_t(info[0].As<Napi::Number>().Int32Value());
    TensorArg t = GetTensor(env, info[1], "data");
    clsa_status s = clsa_model_set_buffer(model(env), b, t.data, t.length);
    if (s != CLSA_OK) ThrowStatus(env, s);
    return env.Undefined();
  }
  Napi::Value BufferNames(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env, CLSA_MODEL_BUFFER_COUNT);
    for (int32_t i = 0; i < CLSA_MODEL_BUFFER_COUNT; ++i) a.Set(uint32_t(i), clsa_model_buffer_name(i));
    return a;
  }
  Napi::Value GetCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_model_counters c;
    clsa_status s = clsa_model_get_counters(model(env), &c);
    if (s != CLSA_OK) ThrowStatus(env, s);
    Napi::Object o = Napi::Object::New(env);
    o.Set("queuePointer", double(c.queue_pointer));
    o.Set("step", double(c.step));
    Napi::Array rng = Napi::Array::New(env, 4);
    for (uint32_t i = 0; i < 4; ++i) rng.Set(i, double(c.rng[i]));
    o.Set("rng", rng);
    return o;
  }
  Napi::Value SetCounters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    clsa_model_counters c;
    c.queue_pointer = GetInt(o, "queuePointer");
    c.step = GetInt(o, "step");
    Napi::Array rng = o.Get("rng").As<Napi::Array>();
    for (uint32_t i = 0; i < 4; ++i) c.rng[i] = uint32_t(rng.Get(i).As<Napi::Number>().Int64Value());
    clsa_status s = clsa_model_set_counters(model(env), &c);
    if (s != CLSA_OK) ThrowStatus(env, s);
    return env.Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (running > 0) throw Napi::Error::New(info.Env(), "dispose: a step or embed is still running; await it first");
    clsa_model_destroy(model_);
    model_ = nullptr;
    Attached(info.Env().Undefined());
    return info.Env().Undefined();
  }

  clsa_model* model_ = nullptr;
  Napi::ObjectReference comm_;
};

// clsa_model_set_comm waits for every rank (it broadcasts rank 0's state), so it runs on a worker.
class ModelCommWorker : public Napi::AsyncWorker {
 public:
  ModelCommWorker(Napi::Env env, NativeModel* owner, Napi::Object self, Napi::Value comm, int64_t check_every)
      : Napi::AsyncWorker(env, "clsa.ModelCommWorker"), deferred_(Napi::Promise::Deferred::New(env)), owner_(owner),
        check_every_(check_every) {
    self_ = Napi::Persistent(self);
    model_ = owner->model(env);
    if (comm.IsObject()) {
      comm_ = CommOf(env, comm, "comm");
      comm_ref_ = Napi::Persistent(comm.As<Napi::Object>());
    }
    owner_->running++;
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    status_ = clsa_model_set_comm(model_, comm_, check_every_);
    if (status_ != CLSA_OK) message_ = std::string(clsa_status_string(status_)) + ": " + clsa_last_error();
  }
  void OnOK() override {
    owner_->running--;
    Napi::Env env = Env();
    if (status_ != CLSA_OK) {
      deferred_.Reject(StatusError(env, status_, message_).Value());
      return;
    }
    owner_->Attached(comm_ref_.IsEmpty() ? env.Undefined() : comm_ref_.Value());
    deferred_.Resolve(env.Undefined());
  }
  void OnError(const Napi::Error& e) override {
    owner_->running--;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_, comm_ref_;
  NativeModel* owner_;
  clsa_model* model_;
  clsa_comm* comm_ = nullptr;
  int64_t check_every_;
  clsa_status status_ = CLSA_OK;
  std::string message_;
};

// The one worker of a training step: the whole step runs natively on a libuv thread.
class ModelStepWorker : public Napi::AsyncWorker {
 public:
  ModelStepWorker(Napi::Env env, NativeModel* owner, Napi::Object self, Napi::Object args)
      : Napi::AsyncWorker(env, "clsa.ModelStepWorker"), deferred_(Napi::Promise::Deferred::New(env)), owner_(owner) {
    self_ = Napi::Persistent(self);
    args_ = Napi::Persistent(args);  // keeps every view's buffer alive until the step is done
    model_ = owner->model(env);
    views_.key = ReadImages(env, args.Get("key"), "key");
    Napi::Array weak = args.Get("weak").As<Napi::Array>();
    Napi::Array strong = args.Get("strong").As<Napi::Array>();
    for (uint32_t i = 0; i < weak.Length(); ++i) weak_.push_back(ReadImages(env, weak.Get(i), "weak"));
    for (uint32_t i = 0; i < strong.Length(); ++i) strong_.push_back(ReadImages(env, strong.Get(i), "strong"));
    views_.weak = weak_.data();
    views_.num_weak = int64_t(weak_.size());
    views_.strong = strong_.empty() ? nullptr : strong_.data();
    views_.num_strong = int64_t(strong_.size());
    lr_ = float(GetNumber(args, "lr"));
    owner_->running++;
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    status_ = clsa_model_step(model_, &views_, lr_, &result_);
    if (status_ != CLSA_OK) message_ = std::string(clsa_status_string(status_)) + ": " + clsa_last_error();
  }
  void OnOK() override {
    owner_->running--;
    Napi::Env env = Env();
    if (status_ != CLSA_OK) {
      deferred_.Reject(StatusError(env, status_, message_).Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", double(result_.loss));
    o.Set("nceLoss", double(result_.nce_loss));
    o.Set("ddmLoss", double(result_.ddm_loss));
    o.Set("accuracy", double(result_.accuracy));
    Napi::Object t = Napi::Object::New(env);
    t.Set("keyForward", result_.seconds_key_forward);
    t.Set("queryForward", result_.seconds_query_forward);
    t.Set("head", result_.seconds_head);
    t.Set("backward", result_.seconds_backward);
    t.Set("update", result_.seconds_update);
    t.Set("comm", result_.seconds_comm);
    o.Set("seconds", t);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    owner_->running--;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_, args_;
  NativeModel* owner_;
  clsa_model* model_;
  clsa_step_views views_{};
  std::vector<clsa_images> weak_, strong_;
  float lr_ = 0;
  clsa_step_result result_{};
  clsa_status status_ = CLSA_OK;
  std::string message_;
};

class ModelEmbedWorker : public Napi::AsyncWorker {
 public:
  ModelEmbedWorker(Napi::Env env, NativeModel* owner, Napi::Object self, Napi::Object images, Napi::Value out)
      : Napi::AsyncWorker(env, "clsa.ModelEmbedWorker"), deferred_(Napi::Promise::Deferred::New(env)), owner_(owner) {
    self_ = Napi::Persistent(self);
    images_ref_ = Napi::Persistent(images);
    out_ref_ = Napi::Persistent(out.As<Napi::Object>());
    model_ = owner->model(env);
    images_ = ReadImages(env, images, "images");
    out_ = GetTensor(env, out, "features").data;
    owner_->running++;
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    status_ = clsa_model_embed(model_, &images_, out_);
    if (status_ != CLSA_OK) message_ = std::string(clsa_status_string(status_)) + ": " + clsa_last_error();
  }
  void OnOK() override {
    owner_->running--;
    if (status_ != CLSA_OK)
      deferred_.Reject(StatusError(Env(), status_, message_).Value());
    else
      deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    owner_->running--;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_, images_ref_, out_ref_;
  NativeModel* owner_;
  clsa_model* model_;
  clsa_images images_{};
  float* out_ = nullptr;
  clsa_status status_ = CLSA_OK;
  std::string message_;
};

Napi::Value NativeModel::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  clsa_model_info mi;
  clsa_status s = clsa_model_get_info(model(env), &mi);
  if (s != CLSA_OK) ThrowStatus(env, s);
  Napi::Object o = Napi::Object::New(env);
  o.Set("parameterCount", double(mi.parameter_count));
  o.Set("statsCount", double(mi.stats_count));
  o.Set("featureDim", double(mi.feature_dim));
  o.Set("projDim", double(mi.proj_dim));
  o.Set("queueSize", double(mi.queue_size));
  return o;
}

Napi::Value NativeModel::Step(const Napi::CallbackInfo& info) {
  auto* w = new ModelStepWorker(info.Env(), this, info.This().As<Napi::Object>(), info[0].As<Napi::Object>());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// setComm(comm | null, checkEvery) -> Promise<void>
Napi::Value NativeModel::SetComm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* w = new ModelCommWorker(env, this, info.This().As<Napi::Object>(), info[0], info[1].As<Napi::Number>().Int64Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value NativeModel::Embed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorArg out = GetTensor(env, info[1], "features");
  clsa_model_info mi;
  clsa_model_get_info(model(env), &mi);
  clsa_images im = ReadImages(env, info[0], "images");
  if (out.length != im.n * mi.feature_dim)
    throw Napi::RangeError::New(env, "features: expected n * featureDim floats");
  auto* w = new ModelEmbedWorker(env, this, info.This().As<Napi::Object>(), info[0].As<Napi::Object>(), info[1]);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitModel(Napi::Env env, Napi::Object exports) { exports.Set("NativeModel", NativeModel::Define(env)); }

}  // namespace clsa_addon
