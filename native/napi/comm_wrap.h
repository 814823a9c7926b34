// The JS class `Communicator` over engine/communicator: argument checks, TypedArray views,
// Promises settled on the JS thread through one thread-safe function per communicator.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "engine/communicator.h"
#include "napi/wraps.h"

namespace dtrain {

class CommWrap;

// One in-flight asynchronous call: what to settle, and the JS buffers to keep alive meanwhile.
struct Pending {
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference keep1, keep2;
  Status status;
  explicit Pending(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

void settlePending(Napi::Env env, Napi::Function, CommWrap* self, Pending* p);
using Settler = Napi::TypedThreadSafeFunction<CommWrap, Pending, settlePending>;

class CommWrap : public Napi::ObjectWrap<CommWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit CommWrap(const Napi::CallbackInfo& info);
  ~CommWrap() override;

  void settled(Napi::Env env);  // called by settlePending on the JS thread

 private:
  Napi::Value ready(const Napi::CallbackInfo& info);
  // run(buf?, other?, sendCounts?, recvCounts?): every collective, its fields read from the
  // request slot (napi/request.h).
  Napi::Value run(const Napi::CallbackInfo& info);
  Napi::Value runOnDevice(const Napi::CallbackInfo& info, OpRequest op, bool sync, double named,
                          const DeviceView& buf);
  Napi::Value getRequestSlot(const Napi::CallbackInfo& info);
  Napi::Value shutdown(const Napi::CallbackInfo& info);
  Napi::Value getRank(const Napi::CallbackInfo& info);
  Napi::Value getSize(const Napi::CallbackInfo& info);
  Napi::Value getLocalRank(const Napi::CallbackInfo& info);
  Napi::Value getLocalSize(const Napi::CallbackInfo& info);
  Napi::Value getTransport(const Napi::CallbackInfo& info);
  Napi::Value getBytesSent(const Napi::CallbackInfo& info);
  Napi::Value getTransportReason(const Napi::CallbackInfo& info);
  Napi::Value getAutoCandidates(const Napi::CallbackInfo& info);
  Napi::Value getJoinAnswered(const Napi::CallbackInfo& info);
  Napi::Value drainTimeline(const Napi::CallbackInfo& info);

  // Runs or queues a checked request: blocking when `sync`, else through a Promise.
  Napi::Value dispatch(Napi::Env env, OpRequest op, bool sync, Napi::Object keep1,
                       Napi::Object keep2);
  Pending* track(Napi::Env env);
  // Hands a finished call to the JS thread (from any thread).
  void post(Pending* p);

  // Node may finalize the thread-safe function before this object (when the environment is
  // torn down at exit); then it must not be released again. Shared with its finalizer.
  struct SettlerLife {
    std::atomic<bool> alive{true};
  };
  std::shared_ptr<SettlerLife> life_ = std::make_shared<SettlerLife>();
  std::unique_ptr<Communicator> comm_;
  Settler settler_;
  int inFlight_ = 0;
  // An async call of at most this many bytes may run on the JS thread (see dispatch()).
  size_t inlineBytes_ = 64 << 10;
  Napi::Reference<Napi::Promise> readyPromise_;
  Napi::Reference<Napi::Float64Array> requestSlot_;
  const double* request_ = nullptr;  // requestSlot_'s memory
};

}  // namespace dtrain
