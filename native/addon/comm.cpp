// Bindings of clsa/comm.h: the NativeComm class. Collectives wait for the other ranks, so they
// run on libuv workers (StatusWorker) and return Promises; the facade (lib/distributed.ts) holds
// one communicator per process and decides when the job finalises or aborts.
#include <functional>
#include <string>

#include "comm_handle.h"
#include "common.h"

namespace clsa_addon {
namespace {

// A Float32Array (CLSA_COMM_FLOAT32) or a BigUint64Array (CLSA_COMM_UINT64) in host memory. An
// NCCL communicator takes device memory: lib/distributed.ts sends host arrays over MPI instead,
// and only the tests hand these to NCCL's stand-in (test/fake-nccl), which works on the host.
struct HostArray {
  void* data;
  int64_t length;
  int32_t dtype;
};

HostArray ReadArray(Napi::Env env, Napi::Value v, const char* name) {
  if (v.IsTypedArray()) {
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    const napi_typedarray_type type = t.TypedArrayType();
    if (type == napi_float32_array || type == napi_biguint64_array) {
      void* p = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
      return {p, int64_t(t.ElementLength()), type == napi_float32_array ? CLSA_COMM_FLOAT32 : CLSA_COMM_UINT64};
    }
  }
  throw Napi::TypeError::New(env, std::string(name) + ": expected a Float32Array or a BigUint64Array");
}

class CommWorker : public StatusWorker {
 public:
  template <typename F>
  CommWorker(Napi::Env env, const char* name, Napi::Object keep, F run) : StatusWorker(env, name, keep), run_(run) {}

 protected:
  clsa_status Run() override { return run_(); }

 private:
  std::function<clsa_status()> run_;
};

Napi::FunctionReference* g_constructor = nullptr;

class NativeComm : public Napi::ObjectWrap<NativeComm> {
 public:
  static Napi::Function Define(Napi::Env env) {
    Napi::Function f = DefineClass(
        env, "NativeComm",
        {InstanceMethod("info", &NativeComm::Info), InstanceMethod("allReduce", &NativeComm::AllReduce),
         InstanceMethod("allGather", &NativeComm::AllGather), InstanceMethod("broadcast", &NativeComm::Broadcast),
         InstanceMethod("barrier", &NativeComm::Barrier), InstanceMethod("finalize", &NativeComm::Finalize),
         InstanceMethod("abort", &NativeComm::Abort), InstanceMethod("dispose", &NativeComm::Dispose)});
    g_constructor = new Napi::FunctionReference(Napi::Persistent(f));
    return f;
  }

  // new NativeComm({ backend: 1 (MPI) | 2 (NCCL), library?: string, deviceIndex: number (NCCL, < 0: the local rank) })
  explicit NativeComm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeComm>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    clsa_comm_options opts{};
    opts.backend = int32_t(GetInt(o, "backend"));
    opts.device_index = int32_t(GetInt(o, "deviceIndex"));
    std::string library;
    if (o.Get("library").IsString()) library = o.Get("library").As<Napi::String>().Utf8Value();
    opts.library = library.empty() ? nullptr : library.c_str();
    clsa_status s = clsa_comm_create(&opts, &comm_);
    if (s != CLSA_OK) ThrowStatus(env, s);
  }
  ~NativeComm() override { clsa_comm_destroy(comm_); }

  clsa_comm* comm(Napi::Env env) {
    if (!comm_) throw Napi::Error::New(env, "comm: has been disposed");
    return comm_;
  }
  int users = 0;

 private:
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_comm_info ci;
    clsa_status s = clsa_comm_get_info(comm(env), &ci);
    if (s != CLSA_OK) ThrowStatus(env, s);
    Napi::Object o = Napi::Object::New(env);
    o.Set("backend", ci.backend == CLSA_COMM_MPI ? "mpi" : "nccl");
    o.Set("deviceIndex", ci.device_index);
    o.Set("rank", ci.rank);
    o.Set("size", ci.size);
    o.Set("localRank", ci.local_rank);
    o.Set("localSize", ci.local_size);
    o.Set("library", ci.library);
    o.Set("version", ci.version);
    return o;
  }
  // allReduce(send, recv, op) with op 0 = sum, 1 = mean; send === recv reduces in place.
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_comm* c = comm(env);
    HostArray send = ReadArray(env, info[0], "send"), recv = ReadArray(env, info[1], "recv");
    if (recv.length != send.length) throw Napi::RangeError::New(env, "recv: expected as many elements as send");
    const int32_t op = info[2].As<Napi::Number>().Int32Value();
    Napi::Object keep = Napi::Object::New(env);
    keep.Set("send", info[0]);
    keep.Set("recv", info[1]);
    return Start(new CommWorker(env, "clsa.CommAllReduce", keep, [=] {
      return clsa_comm_all_reduce(c, send.data, recv.data, send.length, send.dtype, op, nullptr);
    }));
  }
  // allGather(send, recv): recv holds size * send.length elements, in rank order.
  Napi::Value AllGather(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_comm* c = comm(env);
    HostArray send = ReadArray(env, info[0], "send"), recv = ReadArray(env, info[1], "recv");
    clsa_comm_info ci;
    clsa_comm_get_info(c, &ci);
    if (recv.dtype != send.dtype || recv.length != send.length * ci.size)
      throw Napi::RangeError::New(env, "recv: expected size * send.length elements of send's type");
    Napi::Object keep = Napi::Object::New(env);
    keep.Set("send", info[0]);
    keep.Set("recv", info[1]);
    return Start(new CommWorker(env, "clsa.CommAllGather", keep,
                                [=] { return clsa_comm_all_gather(c, send.data, recv.data, send.length, send.dtype, nullptr); }));
  }
  // broadcast(buf, root)
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_comm* c = comm(env);
    HostArray buf = ReadArray(env, info[0], "buf");
    const int32_t root = info[1].As<Napi::Number>().Int32Value();
    Napi::Object keep = Napi::Object::New(env);
    keep.Set("buf", info[0]);
    return Start(new CommWorker(env, "clsa.CommBroadcast", keep,
                                [=] { return clsa_comm_broadcast(c, buf.data, buf.length, buf.dtype, root, nullptr); }));
  }
  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_comm* c = comm(env);
    return Start(new CommWorker(env, "clsa.CommBarrier", Napi::Object::New(env), [=] { return clsa_comm_barrier(c); }));
  }
  // Synchronous: called from process 'exit' handlers, where nothing asynchronous runs any more.
  Napi::Value Finalize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_status s = clsa_comm_finalize(comm(env));
    if (s != CLSA_OK) ThrowStatus(env, s);
    return env.Undefined();
  }
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    clsa_status s = clsa_comm_abort(comm(env), info[0].As<Napi::Number>().Int32Value());
    ThrowStatus(env, s);  // only reached when the abort failed
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (users > 0) throw Napi::Error::New(info.Env(), "dispose: a model is attached to this communicator; detach or dispose it first");
    clsa_comm_destroy(comm_);
    comm_ = nullptr;
    return info.Env().Undefined();
  }

  clsa_comm* comm_ = nullptr;
};

NativeComm* Unwrap(Napi::Env env, Napi::Value v, const char* name) {
  if (!g_constructor || !v.IsObject() || !v.As<Napi::Object>().InstanceOf(g_constructor->Value()))
    throw Napi::TypeError::New(env, std::string(name) + ": expected a NativeComm");
  return NativeComm::Unwrap(v.As<Napi::Object>());
}

}  // namespace

clsa_comm* CommOf(Napi::Env env, Napi::Value v, const char* name) { return Unwrap(env, v, name)->comm(env); }

void CommUsers(Napi::Value v, int delta) { NativeComm::Unwrap(v.As<Napi::Object>())->users += delta; }

void InitComm(Napi::Env env, Napi::Object exports) { exports.Set("NativeComm", NativeComm::Define(env)); }

}  // namespace clsa_addon
