// Bindings of the evaluation kernels: knnTopk (fused similarity + top-k, CPU or CUDA), probeTrain
// (the AdamW probe), probeLbfgs (the converged probe) and probePredict, each in a sync form and an
// async one that runs on a named libuv worker (clsa.KnnWorker, clsa.ProbeWorker,
// clsa.ProbeLbfgsWorker, clsa.ProbePredictWorker) and resolves a Promise on the main thread.
// For device 1 (CUDA) the worker stages host arrays through device memory with the C API, so
// callers pass plain typed arrays either way.
#include <string>
#include <vector>

#include "common.h"

namespace clsa_addon {
namespace {

struct KnnCall {
  clsa_knn_desc desc{};
  const float* train = nullptr;
  const float* test = nullptr;
  int32_t* out_index = nullptr;
  float* out_sim = nullptr;
};

template <typename T>
T* TypedData(Napi::Env env, Napi::Value v, napi_typedarray_type type, int64_t need, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(env, std::string(name) + ": expected a typed array of the right type");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (int64_t(ta.ElementLength()) < need)
    throw Napi::RangeError::New(env, std::string(name) + ": expected at least " + std::to_string(need) +
                                         " elements but got " + std::to_string(ta.ElementLength()));
  auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return reinterpret_cast<T*>(base);
}

// An optional Int32Array(1) the facade sets to 1 on AbortSignal; the worker's argument object
// keeps it alive, and the native call polls it.
const int32_t* OptionalFlag(Napi::Env env, Napi::Value v) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  return TypedData<int32_t>(env, v, napi_int32_array, 1, "cancel");
}

// The two forms of one blocking call: Read prepares the arguments on the JS thread (throwing a
// TypeError/RangeError for bad ones), Call runs the C API, synchronously or on a named worker
// whose Promise settles with the status.
template <typename Args, Args (*Read)(Napi::Env, Napi::Object), clsa_status (*Call)(const Args&)>
struct Blocking {
  static Napi::Value Sync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_status s = Call(Read(env, info[0].As<Napi::Object>()));
    if (s != CLSA_OK) ThrowStatus(env, s);
    return env.Undefined();
  }

  template <const char* Name>
  static Napi::Value Async(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object args = info[0].As<Napi::Object>();
    return Start(new Worker(env, Name, args, Read(env, args)));
  }

  class Worker : public StatusWorker {
   public:
    Worker(Napi::Env env, const char* name, Napi::Object args, Args a) : StatusWorker(env, name, args), a_(a) {}

   protected:
    clsa_status Run() override { return Call(a_); }

   private:
    Args a_;
  };
};

constexpr char kKnnWorker[] = "clsa.KnnWorker";
constexpr char kProbeWorker[] = "clsa.ProbeWorker";
constexpr char kLbfgsWorker[] = "clsa.ProbeLbfgsWorker";
constexpr char kPredictWorker[] = "clsa.ProbePredictWorker";

KnnCall ReadKnnCall(Napi::Env env, Napi::Object o) {
  KnnCall c;
  c.desc.n_train = GetInt(o, "nTrain");
  c.desc.n_test = GetInt(o, "nTest");
  c.desc.d = GetInt(o, "d");
  c.desc.k = GetInt(o, "k");
  c.desc.device = int32_t(GetInt(o, "device"));
  c.desc.device_index = int32_t(GetInt(o, "deviceIndex"));
  c.train = TypedData<float>(env, o.Get("train"), napi_float32_array, c.desc.n_train * c.desc.d, "train");
  c.test = TypedData<float>(env, o.Get("test"), napi_float32_array, c.desc.n_test * c.desc.d, "test");
  c.out_index = TypedData<int32_t>(env, o.Get("outIndex"), napi_int32_array, c.desc.n_test * c.desc.k, "outIndex");
  c.out_sim = TypedData<float>(env, o.Get("outSim"), napi_float32_array, c.desc.n_test * c.desc.k, "outSim");
  c.desc.cancel = OptionalFlag(env, o.Get("cancel"));
  return c;
}

// Runs the call; for CUDA, copies the host arrays to the device and the results back.
clsa_status RunKnn(const KnnCall& c) {
  if (c.desc.device != CLSA_DEVICE_CUDA) return clsa_knn_topk(&c.desc, c.train, c.test, c.out_index, c.out_sim);
  const int32_t dev = c.desc.device_index;
  const size_t b_train = size_t(c.desc.n_train * c.desc.d) * 4, b_test = size_t(c.desc.n_test * c.desc.d) * 4,
               b_out = size_t(c.desc.n_test * c.desc.k) * 4;
  void* p[4] = {nullptr, nullptr, nullptr, nullptr};
  const size_t bytes[4] = {b_train, b_test, b_out, b_out};
  clsa_status s = CLSA_OK;
  for (int i = 0; i < 4 && s == CLSA_OK; ++i) s = clsa_device_alloc(dev, bytes[i], &p[i]);
  if (s == CLSA_OK) s = clsa_device_copy(dev, p[0], c.train, b_train, CLSA_COPY_HOST_TO_DEVICE, nullptr);
  if (s == CLSA_OK) s = clsa_device_copy(dev, p[1], c.test, b_test, CLSA_COPY_HOST_TO_DEVICE, nullptr);
  if (s == CLSA_OK)
    s = clsa_knn_topk(&c.desc, static_cast<float*>(p[0]), static_cast<float*>(p[1]), static_cast<int32_t*>(p[2]),
                      static_cast<float*>(p[3]));
  if (s == CLSA_OK) s = clsa_device_copy(dev, c.out_index, p[2], b_out, CLSA_COPY_DEVICE_TO_HOST, nullptr);
  if (s == CLSA_OK) s = clsa_device_copy(dev, c.out_sim, p[3], b_out, CLSA_COPY_DEVICE_TO_HOST, nullptr);
  for (void* q : p)
    if (q) clsa_device_free(dev, q);  // keeps the first error's message: frees of valid pointers do not fail
  return s;
}


struct ProbeCall {
  clsa_probe_desc desc{};
  const float* x = nullptr;
  const int32_t* labels = nullptr;
  const int32_t* order = nullptr;
  float* weight = nullptr;
  float* bias = nullptr;
  float* epoch_loss = nullptr;
};

ProbeCall ReadProbeCall(Napi::Env env, Napi::Object o) {
  ProbeCall c;
  c.desc.n = GetInt(o, "n");
  c.desc.d = GetInt(o, "d");
  c.desc.classes = int32_t(GetInt(o, "classes"));
  c.desc.epochs = int32_t(GetInt(o, "epochs"));
  c.desc.batch = GetInt(o, "batch");
  c.desc.lr = float(GetNumber(o, "lr"));
  c.desc.weight_decay = float(GetNumber(o, "weightDecay"));
  c.desc.beta1 = float(GetNumber(o, "beta1"));
  c.desc.beta2 = float(GetNumber(o, "beta2"));
  c.desc.eps = float(GetNumber(o, "eps"));
  c.x = TypedData<float>(env, o.Get("x"), napi_float32_array, c.desc.n * c.desc.d, "x");
  c.labels = TypedData<int32_t>(env, o.Get("labels"), napi_int32_array, c.desc.n, "labels");
  c.order = TypedData<int32_t>(env, o.Get("order"), napi_int32_array, int64_t(c.desc.epochs) * c.desc.n, "order");
  c.weight = TypedData<float>(env, o.Get("weight"), napi_float32_array, int64_t(c.desc.classes) * c.desc.d, "weight");
  c.bias = TypedData<float>(env, o.Get("bias"), napi_float32_array, c.desc.classes, "bias");
  c.epoch_loss = TypedData<float>(env, o.Get("epochLoss"), napi_float32_array, c.desc.epochs, "epochLoss");
  c.desc.cancel = OptionalFlag(env, o.Get("cancel"));
  return c;
}

clsa_status RunProbe(const ProbeCall& c) {
  return clsa_probe_train(&c.desc, c.x, c.labels, c.order, c.weight, c.bias, c.epoch_loss);
}


// probeLbfgs({ n, d, classes, maxIterations, history, weightDecay, tolerance, x, labels, weight, bias,
// report: Float64Array(7), cancel? }) and its async twin; the report array receives loss,
// gradientNorm, initialGradientNorm, lastLossChange, iterations, evaluations, converged.
struct LbfgsCall {
  clsa_probe_lbfgs_desc desc{};
  const float* x = nullptr;
  const int32_t* labels = nullptr;
  float* weight = nullptr;
  float* bias = nullptr;
  double* report = nullptr;
};

LbfgsCall ReadLbfgsCall(Napi::Env env, Napi::Object o) {
  LbfgsCall c;
  c.desc.n = GetInt(o, "n");
  c.desc.d = GetInt(o, "d");
  c.desc.classes = int32_t(GetInt(o, "classes"));
  c.desc.max_iterations = int32_t(GetInt(o, "maxIterations"));
  c.desc.history = int32_t(GetInt(o, "history"));
  c.desc.weight_decay = GetNumber(o, "weightDecay");
  c.desc.tolerance = GetNumber(o, "tolerance");
  c.x = TypedData<float>(env, o.Get("x"), napi_float32_array, c.desc.n * c.desc.d, "x");
  c.labels = TypedData<int32_t>(env, o.Get("labels"), napi_int32_array, c.desc.n, "labels");
  c.weight = TypedData<float>(env, o.Get("weight"), napi_float32_array, int64_t(c.desc.classes) * c.desc.d, "weight");
  c.bias = TypedData<float>(env, o.Get("bias"), napi_float32_array, c.desc.classes, "bias");
  c.report = TypedData<double>(env, o.Get("report"), napi_float64_array, 7, "report");
  c.desc.cancel = OptionalFlag(env, o.Get("cancel"));
  return c;
}

clsa_status RunLbfgs(const LbfgsCall& c) {
  clsa_probe_lbfgs_report r{};
  const clsa_status s = clsa_probe_lbfgs(&c.desc, c.x, c.labels, c.weight, c.bias, &r);
  const double out[7] = {r.loss, r.gradient_norm, r.initial_gradient_norm, r.last_loss_change,
                         double(r.iterations), double(r.evaluations), double(r.converged)};
  for (int i = 0; i < 7; ++i) c.report[i] = out[i];
  return s;
}


// probePredict({ n, d, classes, x, weight, bias, out }) and its async twin.
struct PredictCall {
  int64_t n = 0, d = 0;
  int32_t classes = 0;
  const float* x = nullptr;
  const float* w = nullptr;
  const float* b = nullptr;
  int32_t* out = nullptr;
};

PredictCall ReadPredictCall(Napi::Env env, Napi::Object o) {
  PredictCall c;
  c.n = GetInt(o, "n");
  c.d = GetInt(o, "d");
  c.classes = int32_t(GetInt(o, "classes"));
  c.x = TypedData<float>(env, o.Get("x"), napi_float32_array, c.n * c.d, "x");
  c.w = TypedData<float>(env, o.Get("weight"), napi_float32_array, int64_t(c.classes) * c.d, "weight");
  c.b = TypedData<float>(env, o.Get("bias"), napi_float32_array, c.classes, "bias");
  c.out = TypedData<int32_t>(env, o.Get("out"), napi_int32_array, c.n, "out");
  return c;
}

clsa_status RunPredict(const PredictCall& c) { return clsa_probe_predict(c.n, c.d, c.classes, c.x, c.w, c.b, c.out); }


}  // namespace

void InitEval(Napi::Env env, Napi::Object exports) {
  using Knn = Blocking<KnnCall, ReadKnnCall, RunKnn>;
  using Probe = Blocking<ProbeCall, ReadProbeCall, RunProbe>;
  using Lbfgs = Blocking<LbfgsCall, ReadLbfgsCall, RunLbfgs>;
  using Predict = Blocking<PredictCall, ReadPredictCall, RunPredict>;
  exports.Set("knnTopkSync", Napi::Function::New(env, Knn::Sync, "knnTopkSync"));
  exports.Set("knnTopk", Napi::Function::New(env, Knn::Async<kKnnWorker>, "knnTopk"));
  exports.Set("probeTrainSync", Napi::Function::New(env, Probe::Sync, "probeTrainSync"));
  exports.Set("probeTrain", Napi::Function::New(env, Probe::Async<kProbeWorker>, "probeTrain"));
  exports.Set("probeLbfgsSync", Napi::Function::New(env, Lbfgs::Sync, "probeLbfgsSync"));
  exports.Set("probeLbfgs", Napi::Function::New(env, Lbfgs::Async<kLbfgsWorker>, "probeLbfgs"));
  exports.Set("probePredictSync", Napi::Function::New(env, Predict::Sync, "probePredictSync"));
  exports.Set("probePredict", Napi::Function::New(env, Predict::Async<kPredictWorker>, "probePredict"));
}

}  // namespace clsa_addon
