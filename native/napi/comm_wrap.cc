#include "napi/comm_wrap.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>

#include "napi/errors.h"
#include "napi/request.h"
#include "sched/algorithm.h"

namespace dtrain {

namespace {

// The collective's element type: the array's own, or, for a Uint16Array (float16 or bfloat16
// bits, which JavaScript has no array for), the one the caller names. named is a DType value,
// or -1 for "the array's".
DType dtypeOf(const Napi::Env& env, const Napi::TypedArray& ta, double named, const char* name) {
  DType t;
  switch (ta.TypedArrayType()) {
    case napi_float32_array:
      t = DType::kFloat32;
      break;
    case napi_float64_array:
      t = DType::kFloat64;
      break;
    case napi_int32_array:
      t = DType::kInt32;
      break;
    case napi_uint16_array:
      if (named == static_cast<double>(DType::kFloat16)) return DType::kFloat16;
      if (named == static_cast<double>(DType::kBFloat16)) return DType::kBFloat16;
      throw Napi::TypeError::New(env, std::string(name) +
                                          " is a Uint16Array: name its element type, float16 or "
                                          "bfloat16");
    default:
      throw Napi::TypeError::New(env, std::string(name) +
                                          " must be a Float32Array, Float64Array, Int32Array or "
                                          "Uint16Array (float16 or bfloat16 bits)");
  }
  if (named >= 0 && named != static_cast<double>(t)) {
    throw Napi::TypeError::New(env, std::string("dtype does not match ") + name + "'s type");
  }
  return t;
}

Napi::TypedArray arrayArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a TypedArray");
  }
  return info[i].As<Napi::TypedArray>();
}

uint8_t* dataOf(const Napi::TypedArray& ta) {
  return static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
}

std::string stringField(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : dflt;
}

double numberField(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}

// { transport: { alpha, beta, gamma } } as configured (calibration file, environment).
std::map<std::string, CostModel> costModelsField(const Napi::Object& o) {
  std::map<std::string, CostModel> out;
  Napi::Value v = o.Get("costModels");
  if (!v.IsObject()) return out;
  Napi::Object models = v.As<Napi::Object>();
  Napi::Array names = models.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value m = models.Get(name);
    if (!m.IsObject()) continue;
    CostModel c;
    c.alpha = numberField(m.As<Napi::Object>(), "alpha", c.alpha);
    c.beta = numberField(m.As<Napi::Object>(), "beta", c.beta);
    c.gamma = numberField(m.As<Napi::Object>(), "gamma", c.gamma);
    out[name] = c;
  }
  return out;
}

}  // namespace

void settlePending(Napi::Env env, Napi::Function, CommWrap* self, Pending* p) {
  std::unique_ptr<Pending> owned(p);
  if (env == nullptr) return;  // the environment is going away
  Napi::HandleScope scope(env);
  if (p->status.ok) {
    p->deferred.Resolve(env.Undefined());
  } else {
    p->deferred.Reject(toJsError(env, p->status).Value());
  }
  self->settled(env);
}

Napi::Function CommWrap::define(Napi::Env env) {
  return DefineClass(env, "Communicator",
                     {
                         InstanceMethod<&CommWrap::ready>("ready"),
                         InstanceMethod<&CommWrap::run>("run"),
                         InstanceMethod<&CommWrap::shutdown>("shutdown"),
                         InstanceAccessor<&CommWrap::getRank>("rank"),
                         InstanceAccessor<&CommWrap::getSize>("size"),
                         InstanceAccessor<&CommWrap::getLocalRank>("localRank"),
                         InstanceAccessor<&CommWrap::getLocalSize>("localSize"),
                         InstanceAccessor<&CommWrap::getTransport>("transport"),
                         InstanceAccessor<&CommWrap::getBytesSent>("bytesSent"),
                         InstanceAccessor<&CommWrap::getTransportReason>("transportReason"),
                         InstanceAccessor<&CommWrap::getAutoCandidates>("autoCandidates"),
                         InstanceAccessor<&CommWrap::getRequestSlot>("requestSlot"),
                     });
}

CommWrap::CommWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CommWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "config must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  CommConfig cfg;
  cfg.rank = static_cast<int>(numberField(o, "rank", 0));
  cfg.size = static_cast<int>(numberField(o, "size", 1));
  cfg.net.storeAddress = stringField(o, "store", "");
  cfg.net.token = stringField(o, "token", "");
  cfg.net.jobId = stringField(o, "jobId", "job");
  cfg.transport = stringField(o, "transport", "shm");
  cfg.net.tcpAddr = stringField(o, "tcpAddr", "127.0.0.1");
  cfg.net.shmChannelBytes = static_cast<size_t>(numberField(o, "shmChannelBytes", 1 << 20));
  cfg.net.shmSpin = static_cast<int>(numberField(o, "shmSpin", -1));
  cfg.costModels = costModelsField(o);
  const double stallMs = numberField(o, "testStallMs", 0);
  if (stallMs > 0) cfg.hooks = stallBeforeAllreduce(static_cast<int>(stallMs));
  cfg.localSizeOverride = static_cast<int>(numberField(o, "localSizeOverride", 0));
  cfg.timeoutSec = numberField(o, "timeoutSec", 30);
  cfg.bootstrapTimeoutSec = numberField(o, "bootstrapTimeoutSec", 60);
  cfg.generation = static_cast<int>(numberField(o, "generation", 0));
  if (cfg.size < 1 || cfg.rank < 0 || cfg.rank >= cfg.size) {
    throw Napi::RangeError::New(env, "rank must be in [0, size) and size >= 1");
  }
  if (cfg.size > 1 && cfg.net.storeAddress.empty()) {
    throw Napi::Error::New(env, "a communicator of several ranks needs a rendezvous store");
  }
  Napi::Float64Array slot = Napi::Float64Array::New(env, static_cast<size_t>(RequestField::kCount));
  requestSlot_ = Napi::Persistent(slot);
  request_ = slot.Data();
  auto* hold = new std::shared_ptr<SettlerLife>(life_);
  settler_ = Settler::New(
      env, "dtrain-communicator", 0, 1, this,
      [](Napi::Env, std::shared_ptr<SettlerLife>* h, CommWrap*) {
        (*h)->alive.store(false);
        delete h;
      },
      hold);
  Pending* ready = track(env);
  readyPromise_ = Napi::Persistent(ready->deferred.Promise());
  comm_ = std::make_unique<Communicator>(std::move(cfg), [this, ready](const Status& st) {
    ready->status = st;
    post(ready);
  });
}

CommWrap::~CommWrap() {
  comm_.reset();  // joins the engine thread
  if (life_->alive.load()) settler_.Release();
}

void CommWrap::post(Pending* p) {
  if (!life_->alive.load() || settler_.NonBlockingCall(p) != napi_ok) {
    delete p;  // the environment is going away; nobody is left to settle it for
  }
}

Pending* CommWrap::track(Napi::Env env) {
  // While work is in flight, keep the event loop alive and this object from being collected.
  if (inFlight_++ == 0) {
    settler_.Ref(env);
    Ref();
  }
  return new Pending(env);
}

void CommWrap::settled(Napi::Env env) {
  if (--inFlight_ == 0) {
    settler_.Unref(env);
    Unref();
  }
}

Napi::Value CommWrap::ready(const Napi::CallbackInfo& info) { return readyPromise_.Value(); }

namespace {
// An async collective of at most this many bytes may run on the JS thread when the engine is
// idle, waiting at most kInlineBudgetSec for the peers to join and then at most
// kInlineDataBudgetSec for its data (a peer descheduled or stopped mid-call); whichever runs
// out, the engine thread takes over from where it got to. It saves two thread hand-offs and an
// event-loop wake-up, which are most of a small collective's time on a busy machine, and the
// event loop never waits much longer than a millisecond.
constexpr size_t kInlineBytes = 64 << 10;
constexpr double kInlineBudgetSec = 50e-6;
constexpr double kInlineDataBudgetSec = 1e-3;
}  // namespace

Napi::Value CommWrap::dispatch(Napi::Env env, OpRequest op, bool sync, Napi::Object keep1,
                               Napi::Object keep2) {
  if (sync) {
    // The JS thread runs or waits for the op; its own stack keeps the buffers alive.
    Status inlineStatus;
    if (comm_->tryRunInline(op, -1, -1, &inlineStatus) == Communicator::Inline::kDone) {
      if (!inlineStatus.ok) throw toJsError(env, inlineStatus);
      return env.Undefined();
    }
    struct SyncWait {
      std::atomic<bool> ready{false};
      std::mutex mu;
      std::condition_variable cv;
      Status st;
    };
    auto wait = std::make_shared<SyncWait>();
    op.done = [wait](const Status& st) {
      std::lock_guard<std::mutex> lock(wait->mu);
      wait->st = st;
      wait->ready.store(true, std::memory_order_release);
      wait->cv.notify_one();
    };
    comm_->submit(std::move(op));
    std::unique_lock<std::mutex> lock(wait->mu);
    wait->cv.wait(lock, [&] { return wait->ready.load(std::memory_order_acquire); });
    Status st = wait->st;
    if (!st.ok) throw toJsError(env, st);
    return env.Undefined();
  }
  // Only when no earlier Promise is still unsettled, so Promises settle in call order.
  const size_t bytes = op.count * dtypeSize(op.dtype) *
                       (op.kind == OpKind::kAllgather ? static_cast<size_t>(comm_->size()) : 1);
  const bool small = bytes <= kInlineBytes && inFlight_ == 0;
  Pending* p = track(env);
  if (!keep1.IsEmpty()) p->keep1 = Napi::Persistent(keep1);
  if (!keep2.IsEmpty()) p->keep2 = Napi::Persistent(keep2);
  Napi::Promise promise = p->deferred.Promise();
  op.done = [this, p](const Status& st) {
    p->status = st;
    post(p);
  };
  Status st;
  Communicator::Inline how =
      small ? comm_->tryRunInline(op, kInlineBudgetSec, kInlineDataBudgetSec, &st)
            : Communicator::Inline::kBusy;
  if (how == Communicator::Inline::kDone) {
    p->status = st;
    settlePending(env, Napi::Function(), this, p);  // settles and frees p
  } else if (how == Communicator::Inline::kBusy) {
    comm_->submit(std::move(op));
  }
  return promise;
}

namespace {
bool validKind(double k) { return k >= 0 && k < kOpKindCount && k == static_cast<int>(k); }
}  // namespace

// run(buf?, output?): the request's numbers are in the slot (napi/request.h); buf is every
// collective's buffer but a barrier's (all-gather: the input), output all-gather's.
Napi::Value CommWrap::run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto field = [this](RequestField f) { return request_[static_cast<size_t>(f)]; };
  const double kind = field(RequestField::kKind);
  if (!validKind(kind)) throw Napi::RangeError::New(env, "kind is not a known collective");
  OpRequest op;
  op.kind = static_cast<OpKind>(kind);
  op.timeoutSec = field(RequestField::kTimeoutSec);
  const bool sync = field(RequestField::kSync) != 0;
  if (op.kind == OpKind::kBarrier) return dispatch(env, std::move(op), sync, {}, {});

  const char* bufName = op.kind == OpKind::kAllgather ? "input" : "buf";
  Napi::TypedArray buf = arrayArg(info, 0, bufName);
  op.dtype = dtypeOf(env, buf, field(RequestField::kDType), bufName);
  op.count = buf.ElementLength();
  if (op.kind == OpKind::kAllreduce || op.kind == OpKind::kReduceScatter) {
    const double redop = field(RequestField::kOp);
    if (redop != static_cast<int>(redop) || !validReduceOp(static_cast<int>(redop))) {
      throw Napi::RangeError::New(env, "op is not a known reduction");
    }
    op.op = static_cast<ReduceOp>(static_cast<int>(redop));
  }
  if (op.kind != OpKind::kBroadcast) {
    const double algo = field(RequestField::kAlgorithm);
    if (algo < 0 || algo > 255 || algo != static_cast<int>(algo)) {
      throw Napi::RangeError::New(env, "algorithm is not a known algorithm id");
    }
    const AlgorithmChoice c = AlgorithmChoice::decode(static_cast<uint8_t>(algo));
    guarded(env, [&] { checkAlgorithm(op.kind, c, comm_->size()); });
    op.algorithm = c.encode();
  } else {
    op.root = static_cast<int>(field(RequestField::kRoot));
    if (op.root < 0 || op.root >= comm_->size()) {
      throw Napi::RangeError::New(env, "root must be a rank in [0, size)");
    }
  }
  if (op.kind != OpKind::kAllgather) {
    op.data = dataOf(buf);
    return dispatch(env, std::move(op), sync, buf, {});
  }
  Napi::TypedArray out = arrayArg(info, 1, "output");
  if (out.TypedArrayType() != buf.TypedArrayType() ||
      out.ElementLength() != buf.ElementLength() * static_cast<size_t>(comm_->size())) {
    throw Napi::RangeError::New(env,
                                "output must have input's type and size() * input.length elements");
  }
  op.input = dataOf(buf);
  op.data = dataOf(out);
  return dispatch(env, std::move(op), sync, buf, out);
}

Napi::Value CommWrap::getRequestSlot(const Napi::CallbackInfo& info) {
  return requestSlot_.Value();
}

Napi::Value CommWrap::shutdown(const Napi::CallbackInfo& info) {
  Pending* p = track(info.Env());
  Napi::Promise promise = p->deferred.Promise();
  comm_->shutdown([this, p](const Status& st) {
    p->status = st;
    post(p);
  });
  return promise;
}

Napi::Value CommWrap::getRank(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), comm_->rank());
}
Napi::Value CommWrap::getSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), comm_->size());
}
Napi::Value CommWrap::getLocalRank(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), comm_->localRank());
}
Napi::Value CommWrap::getLocalSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), comm_->localSize());
}
Napi::Value CommWrap::getTransport(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), comm_->transportName());
}
Napi::Value CommWrap::getBytesSent(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(comm_->bytesSent()));
}
Napi::Value CommWrap::getTransportReason(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), comm_->transportReason());
}
Napi::Value CommWrap::getAutoCandidates(const Napi::CallbackInfo& info) {
  const std::vector<AlgorithmChoice> candidates = comm_->autoCandidates();
  Napi::Array a = Napi::Array::New(info.Env(), candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) a.Set(i, candidates[i].name());
  return a;
}

}  // namespace dtrain
