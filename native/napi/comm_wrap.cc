#include "napi/comm_wrap.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>

#include "napi/errors.h"
#include "napi/request.h"
#include "napi/wraps.h"
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
    case napi_uint8_array:
      t = DType::kUint8;
      break;
    case napi_int8_array:
      t = DType::kInt8;
      break;
    case napi_bigint64_array:
      t = DType::kInt64;
      break;
    case napi_uint16_array:
      if (named == static_cast<double>(DType::kFloat16)) return DType::kFloat16;
      if (named == static_cast<double>(DType::kBFloat16)) return DType::kBFloat16;
      throw Napi::TypeError::New(env, std::string(name) +
                                          " is a Uint16Array: name its element type, float16 or "
                                          "bfloat16");
    default:
      throw Napi::TypeError::New(env, std::string(name) +
                                          " must be a Float32Array, Float64Array, Int32Array, "
                                          "BigInt64Array, Uint8Array, Int8Array or Uint16Array "
                                          "(float16 or bfloat16 bits)");
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

// The array's memory, over an ArrayBuffer or a SharedArrayBuffer alike (Napi's ArrayBuffer()
// refuses the latter; napi_get_typedarray_info's pointer is already offset).
uint8_t* dataOf(const Napi::TypedArray& ta) {
  void* data = nullptr;
  if (napi_get_typedarray_info(ta.Env(), ta, nullptr, nullptr, &data, nullptr, nullptr) !=
      napi_ok) {
    throw Napi::TypeError::New(ta.Env(), "could not read the array's memory");
  }
  return static_cast<uint8_t*>(data);
}

// Element counts from a Float64Array of non-negative integers (all-to-all's splits).
std::vector<size_t> countsArg(const Napi::CallbackInfo& info, size_t i, const char* name,
                              int size) {
  if (!info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a Float64Array");
  }
  Napi::Float64Array a = info[i].As<Napi::Float64Array>();
  if (a.ElementLength() != static_cast<size_t>(size)) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must have size() entries");
  }
  std::vector<size_t> out(size);
  for (int r = 0; r < size; ++r) {
    const double v = a[r];
    if (!(v >= 0) || v != static_cast<double>(static_cast<size_t>(v))) {
      throw Napi::RangeError::New(info.Env(), std::string(name) + " must hold integers >= 0");
    }
    out[r] = static_cast<size_t>(v);
  }
  return out;
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
                         InstanceAccessor<&CommWrap::getJoinAnswered>("joinAnswered"),
                         InstanceMethod<&CommWrap::drainTimeline>("drainTimeline"),
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
  cfg.net.hostRanks = static_cast<int>(numberField(o, "hostRanks", 0));
  cfg.costModels = costModelsField(o);
  cfg.testNoPeerMaps = numberField(o, "testNoPeerMaps", 0) != 0;
  const double stallMs = numberField(o, "testStallMs", 0);
  if (stallMs > 0) cfg.hooks = stallBeforeAllreduce(static_cast<int>(stallMs));
  cfg.localSizeOverride = static_cast<int>(numberField(o, "localSizeOverride", 0));
  cfg.hostName = stringField(o, "hostName", "");
  cfg.timeoutSec = numberField(o, "timeoutSec", 30);
  cfg.bootstrapTimeoutSec = numberField(o, "bootstrapTimeoutSec", 60);
  cfg.generation = static_cast<int>(numberField(o, "generation", 0));
  cfg.prefix = stringField(o, "prefix", "");
  cfg.debug = static_cast<int>(numberField(o, "debug", 0));
  cfg.stallWarnSec = numberField(o, "stallWarnSec", 0);
  cfg.timeline = numberField(o, "timeline", 0) != 0;
  inlineBytes_ = static_cast<size_t>(numberField(o, "inlineBytes", 64 << 10));
  cfg.eagerBytes = static_cast<size_t>(numberField(o, "eagerBytes", 16 << 10));
  cfg.logName = stringField(o, "logName", "rank " + std::to_string(cfg.rank));
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
// An async collective of at most inlineBytes_ (64 KiB by default; any size in a worker bound to
// one CPU, where the engine thread has no core of its own to overlap on) may run on the JS
// thread when the engine is idle, waiting at most kInlineBudgetSec for the peers to join and
// then at most kInlineDataBudgetSec for its data (a peer descheduled or stopped mid-call);
// whichever runs out, the engine thread takes over from where it got to. It saves two thread
// hand-offs and an event-loop wake-up, which are most of a small collective's time on a busy
// machine, and the event loop never waits much longer than a millisecond. The join budget is
// a few wake-ups long: a peer that arrives within it is cheaper to wait for than a hand-over
// (docs/performance.md measured 50 against 200 us).
constexpr double kInlineBudgetSec = 200e-6;
constexpr double kInlineDataBudgetSec = 1e-3;
}  // namespace

Napi::Value CommWrap::dispatch(Napi::Env env, OpRequest op, bool sync, Napi::Object keep1,
                               Napi::Object keep2) {
  // join() waits for every rank, which may take many of the others' steps: never on this thread.
  // Nor a call on device buffers: its first sets up NCCL, which may take seconds.
  const bool mayInline = op.kind != OpKind::kJoin && op.device < 0;
  if (sync) {
    // The JS thread runs or waits for the op; its own stack keeps the buffers alive.
    Status inlineStatus;
    if (mayInline &&
        comm_->tryRunInline(op, -1, -1, &inlineStatus) == Communicator::Inline::kDone) {
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
  const bool perRank = op.kind == OpKind::kAllgather || op.kind == OpKind::kGather ||
                       op.kind == OpKind::kScatter || op.kind == OpKind::kAlltoall;
  size_t elems = op.count * (perRank ? static_cast<size_t>(comm_->size()) : 1);
  for (size_t c : op.sendCounts) elems += c;
  const size_t bytes = elems * dtypeSize(op.dtype);
  const bool small = mayInline && bytes <= inlineBytes_ && inFlight_ == 0;
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

// run(buf?, other?, sendCounts?, recvCounts?): the request's numbers are in the slot
// (napi/request.h). buf is the collective's buffer (all-gather, gather, all-to-all: the input;
// scatter: the receiving one; a grouped all-reduce: an Array of arrays); other is all-gather's,
// gather's (root) and all-to-all's output, and scatter's send buffer (root).
Napi::Value CommWrap::run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto field = [this](RequestField f) { return request_[static_cast<size_t>(f)]; };
  const double kind = field(RequestField::kKind);
  if (!validKind(kind)) throw Napi::RangeError::New(env, "kind is not a known collective");
  OpRequest op;
  op.kind = static_cast<OpKind>(kind);
  op.timeoutSec = field(RequestField::kTimeoutSec);
  const bool sync = field(RequestField::kSync) != 0;
  const int size = comm_->size();
  if (op.kind == OpKind::kBarrier || op.kind == OpKind::kJoin) {
    return dispatch(env, std::move(op), sync, {}, {});
  }
  auto intField = [&](RequestField f, const char* name, int lo, int hi) {
    const double v = field(f);
    if (v != static_cast<int>(v) || v < lo || v >= hi) {
      throw Napi::RangeError::New(env, std::string(name) + " is out of range");
    }
    return static_cast<int>(v);
  };
  const bool reduces = op.kind == OpKind::kAllreduce || op.kind == OpKind::kReduceScatter ||
                       op.kind == OpKind::kReduce;
  if (reduces) {
    const double redop = field(RequestField::kOp);
    if (redop != static_cast<int>(redop) || !validReduceOp(static_cast<int>(redop))) {
      throw Napi::RangeError::New(env, "op is not a known reduction");
    }
    op.op = static_cast<ReduceOp>(static_cast<int>(redop));
  }
  const bool rooted = op.kind == OpKind::kBroadcast || op.kind == OpKind::kReduce ||
                      op.kind == OpKind::kGather || op.kind == OpKind::kScatter;
  if (rooted) op.root = intField(RequestField::kRoot, "root", 0, size);
  if (pointToPoint(op.kind)) {
    op.peer = intField(RequestField::kPeer, "peer", 0, size);
    if (op.peer == comm_->rank()) throw Napi::RangeError::New(env, "peer must be another rank");
    const double tag = field(RequestField::kTag);
    if (tag != static_cast<double>(static_cast<uint32_t>(tag))) {
      throw Napi::RangeError::New(env, "tag must be an integer in [0, 2^32)");
    }
    op.tag = static_cast<uint32_t>(tag);
  } else if (op.kind != OpKind::kBroadcast) {
    const double algo = field(RequestField::kAlgorithm);
    if (algo < 0 || algo > 255 || algo != static_cast<int>(algo)) {
      throw Napi::RangeError::New(env, "algorithm is not a known algorithm id");
    }
    const AlgorithmChoice c = AlgorithmChoice::decode(static_cast<uint8_t>(algo));
    guarded(env, [&] { checkAlgorithm(op.kind, c, size); });
    op.algorithm = c.encode();
  }
  const double named = field(RequestField::kDType);

  DeviceView dev;
  if (deviceViewOf(env, info[0], &dev)) return runOnDevice(info, std::move(op), sync, named, dev);

  if (op.kind == OpKind::kAllreduce && info[0].IsArray()) {
    // A grouped all-reduce: one descriptor exchange, one schedule over the arrays in order.
    Napi::Array list = info[0].As<Napi::Array>();
    const uint32_t n = list.Length();
    if (n == 0) throw Napi::RangeError::New(env, "bufs must hold at least one array");
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value v = list.Get(i);
      if (!v.IsTypedArray()) throw Napi::TypeError::New(env, "bufs must hold TypedArrays");
      Napi::TypedArray ta = v.As<Napi::TypedArray>();
      const DType t = dtypeOf(env, ta, named, "bufs[i]");
      if (i > 0 && t != op.dtype) {
        throw Napi::TypeError::New(env, "bufs must all have one element type");
      }
      op.dtype = t;
      op.segments.push_back({dataOf(ta), ta.ElementLength()});
      op.count += ta.ElementLength();
    }
    return dispatch(env, std::move(op), sync, list, {});
  }

  const char* bufName =
      op.kind == OpKind::kAllgather || op.kind == OpKind::kGather || op.kind == OpKind::kAlltoall
          ? "input"
      : op.kind == OpKind::kScatter ? "recv"
                                    : "buf";
  Napi::TypedArray buf = arrayArg(info, 0, bufName);
  op.dtype = dtypeOf(env, buf, named, bufName);
  op.count = buf.ElementLength();
  auto sameType = [&](const Napi::TypedArray& o, const char* name) {
    if (o.TypedArrayType() != buf.TypedArrayType()) {
      throw Napi::TypeError::New(env, std::string(name) + " must have " + bufName + "'s type");
    }
  };
  switch (op.kind) {
    case OpKind::kAllgather:
    case OpKind::kGather: {
      op.input = dataOf(buf);
      if (op.kind == OpKind::kGather && comm_->rank() != op.root) {
        return dispatch(env, std::move(op), sync, buf, {});
      }
      Napi::TypedArray out = arrayArg(info, 1, "output");
      sameType(out, "output");
      if (out.ElementLength() != buf.ElementLength() * static_cast<size_t>(size)) {
        throw Napi::RangeError::New(env, "output must have size() * input.length elements");
      }
      op.data = dataOf(out);
      return dispatch(env, std::move(op), sync, buf, out);
    }
    case OpKind::kScatter: {
      op.data = dataOf(buf);
      if (comm_->rank() != op.root) return dispatch(env, std::move(op), sync, buf, {});
      Napi::TypedArray send = arrayArg(info, 1, "send");
      sameType(send, "send");
      if (send.ElementLength() != buf.ElementLength() * static_cast<size_t>(size)) {
        throw Napi::RangeError::New(env, "send must have size() * recv.length elements");
      }
      op.input = dataOf(send);
      return dispatch(env, std::move(op), sync, buf, send);
    }
    case OpKind::kAlltoall: {
      Napi::TypedArray out = arrayArg(info, 1, "output");
      sameType(out, "output");
      op.input = dataOf(buf);
      op.data = dataOf(out);
      if (info.Length() > 2 && !info[2].IsUndefined()) {
        op.sendCounts = countsArg(info, 2, "sendCounts", size);
        op.recvCounts = countsArg(info, 3, "recvCounts", size);
        size_t in = 0, got = 0;
        for (int r = 0; r < size; ++r) in += op.sendCounts[r], got += op.recvCounts[r];
        if (in != buf.ElementLength() || got != out.ElementLength()) {
          throw Napi::RangeError::New(env, "the splits must add up to the arrays' lengths");
        }
        op.count = 0;
      } else {
        if (buf.ElementLength() % size != 0 || out.ElementLength() != buf.ElementLength()) {
          throw Napi::RangeError::New(env, "input must hold size() equal chunks, output as many");
        }
        op.count = buf.ElementLength() / size;
      }
      return dispatch(env, std::move(op), sync, buf, out);
    }
    default:
      op.data = dataOf(buf);
      return dispatch(env, std::move(op), sync, buf, {});
  }
}

// run(buf, other?, stream?) with device buffers (dtrain.cuda): the dtype is named (the slot's),
// the lengths are the buffers', and the call waits for what `stream` had queued when it was made.
Napi::Value CommWrap::runOnDevice(const Napi::CallbackInfo& info, OpRequest op, bool sync,
                                  double named, const DeviceView& buf) {
  Napi::Env env = info.Env();
  if (!validDType(static_cast<int>(named)) || named != static_cast<int>(named)) {
    throw Napi::TypeError::New(env, "a collective on a device buffer needs its dtype");
  }
  op.dtype = static_cast<DType>(static_cast<int>(named));
  const size_t es = dtypeSize(op.dtype);
  if (buf.bytes % es != 0)
    throw Napi::RangeError::New(env, "the device buffer is not a whole number of elements");
  op.count = buf.bytes / es;
  op.device = buf.device;
  const size_t size = static_cast<size_t>(comm_->size());
  Napi::Object keep2;
  switch (op.kind) {
    case OpKind::kAllreduce:
    case OpKind::kBroadcast:
    case OpKind::kReduceScatter:
      op.data = buf.ptr;
      break;
    case OpKind::kAllgather: {
      DeviceView out;
      if (!deviceViewOf(env, info[1], &out))
        throw Napi::TypeError::New(env, "output must be a device buffer");
      if (out.device != buf.device)
        throw Napi::RangeError::New(env, "output must be on input's device");
      if (out.bytes != buf.bytes * size) {
        throw Napi::RangeError::New(env, "output must have size() * input.length elements");
      }
      op.input = buf.ptr;
      op.data = out.ptr;
      keep2 = info[1].As<Napi::Object>();
      break;
    }
    default:
      throw Napi::TypeError::New(
          env, std::string(opKindName(op.kind)) +
                   " takes host arrays; device buffers take allreduce, broadcast, "
                   "allgather, reduceScatter and reduce");
  }
  op.ready = recordReady(env, info[2], op.device);
  return dispatch(env, std::move(op), sync, info[0].As<Napi::Object>(), keep2);
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
Napi::Value CommWrap::getJoinAnswered(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(comm_->joinAnswered()));
}

// drainTimeline() -> { events: Float64Array (kTimelineFields per event), dropped, algorithms:
// { code: name } } or null without a timeline. Numbers, not objects, so a drain of thousands
// of events costs one allocation.
Napi::Value CommWrap::drainTimeline(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Timeline* t = comm_ ? comm_->timeline() : nullptr;
  if (!t) return env.Null();
  uint64_t dropped = 0;
  const std::vector<TimelineEvent> ev = t->drain(&dropped);
  constexpr size_t kFields = 9;
  Napi::Float64Array a = Napi::Float64Array::New(env, ev.size() * kFields);
  double* d = a.Data();
  bool seen[256] = {false};
  Napi::Object names = Napi::Object::New(env);
  for (size_t i = 0; i < ev.size(); ++i) {
    const TimelineEvent& e = ev[i];
    double* f = d + i * kFields;
    f[0] = e.kind;
    f[1] = e.phase;
    f[2] = e.thread;
    f[3] = e.algorithm;
    f[4] = static_cast<double>(e.startNs);
    f[5] = static_cast<double>(e.durNs);
    f[6] = static_cast<double>(e.bytes);
    f[7] = static_cast<double>(e.index);
    f[8] = static_cast<double>(e.seq);
    if (!seen[e.algorithm]) {
      seen[e.algorithm] = true;
      names.Set(std::to_string(e.algorithm), AlgorithmChoice::decode(e.algorithm).name());
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("events", a);
  out.Set("dropped", static_cast<double>(dropped));
  out.Set("algorithms", names);
  return out;
}
Napi::Value CommWrap::getAutoCandidates(const Napi::CallbackInfo& info) {
  const std::vector<AlgorithmChoice> candidates = comm_->autoCandidates();
  Napi::Array a = Napi::Array::New(info.Env(), candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) a.Set(i, candidates[i].name());
  return a;
}

}  // namespace dtrain
