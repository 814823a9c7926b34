// The registries and constants as the binding exports them: lib/native.ts derives the
// TypeScript layer's maps from these, and checks abiVersion, so nothing is copied by hand.
#include <dlfcn.h>
#include <napi.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/error.h"
#include "engine/backend.h"
#include "kernels/cpu/cpu_features.h"
#include "napi/errors.h"
#include "napi/request.h"
#include "napi/wraps.h"
#include "sched/algorithm.h"
#include "sim/choose.h"
#include "transport/registry.h"

namespace dtrain {

namespace {

// Raised whenever what the binding exports or accepts changes shape, so a stale build is caught
// at load instead of misreading arguments (lib/native.ts expects the same number).
constexpr int kAbiVersion = 6;


Napi::Object costModel(Napi::Env env, const CostModel& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("alpha", m.alpha);
  o.Set("beta", m.beta);
  o.Set("gamma", m.gamma);
  return o;
}

Napi::Object constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  Napi::Object dtypes = Napi::Object::New(env);
  for (int t = 0; validDType(t); ++t) dtypes.Set(dtypeName(static_cast<DType>(t)), t);
  c.Set("dtypes", dtypes);
  Napi::Object ops = Napi::Object::New(env);
  for (int o = 0; validReduceOp(o); ++o) ops.Set(reduceOpName(static_cast<ReduceOp>(o)), o);
  c.Set("reduceOps", ops);
  Napi::Object kinds = Napi::Object::New(env);
  for (int k = 0; k < kOpKindCount; ++k) kinds.Set(opKindName(static_cast<OpKind>(k)), k);
  c.Set("opKinds", kinds);
  std::vector<std::string> codes;
  for (int e = 0; e < kErrorCodeCount; ++e)
    codes.push_back(errorCodeName(static_cast<ErrorCode>(e)));
  c.Set("errorCodes", strings(env, codes));
  return c;
}

Napi::Object algorithmEntry(Napi::Env env, const AlgorithmDef& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", d.name);
  o.Set("summary", d.summary);
  std::vector<std::string> implements, powerOfTwo;
  for (OpKind k : scheduledCollectives()) {
    if (!d.support(k).implemented()) continue;
    implements.push_back(opKindName(k));
    if (d.support(k).powerOfTwoSizes) powerOfTwo.push_back(opKindName(k));
  }
  o.Set("collectives", strings(env, implements));
  o.Set("powerOfTwoOnly", strings(env, powerOfTwo));
  o.Set("takesInner", d.takesInner);
  o.Set("auto", d.allreduce.generate && d.autoCandidate);
  o.Set("closedForm", d.closedForm != nullptr);
  // A whole-collective algorithm (mpi) names the backend that runs it instead of a schedule.
  o.Set("backend", d.allreduce.backend ? Napi::Value(Napi::String::New(env, d.allreduce.backend)) : env.Null());
  return o;
}

// Whether an optional runtime library can be loaded here, and if not, why (dlerror's text).
Napi::Object probeLibrary(Napi::Env env, std::initializer_list<const char*> names,
                          const char* purpose, const char* presentButUnused) {
  Napi::Object o = Napi::Object::New(env);
  std::string why;
  Napi::Array tried = Napi::Array::New(env);
  for (const char* name : names) tried.Set(tried.Length(), name);
  o.Set("tried", tried);
  for (const char* name : names) {
    void* h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
    if (h) {
      dlclose(h);
      // Present, but nothing in this build uses it yet.
      o.Set("usable", false);
      o.Set("library", name);
      o.Set("reason", presentButUnused);
      return o;
    }
    const char* err = dlerror();
    why += (why.empty() ? "" : "; ") + std::string(err ? err : name);
  }
  o.Set("usable", false);
  o.Set("reason", std::string(purpose) + " not found: " + why);
  return o;
}

}  // namespace

Napi::Array strings(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(i, v[i]);
  return a;
}

Napi::Object registryExports(Napi::Env env) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("abiVersion", kAbiVersion);
  r.Set("constants", constants(env));
  r.Set("requestFields",
        strings(env, {std::begin(kRequestFieldNames), std::end(kRequestFieldNames)}));
  Napi::Array algorithmList = Napi::Array::New(env);
  for (const AlgorithmDef* d : algorithms())
    algorithmList.Set(algorithmList.Length(), algorithmEntry(env, *d));
  r.Set("algorithms", algorithmList);
  Napi::Object names = Napi::Object::New(env);
  for (OpKind k : scheduledCollectives()) names.Set(opKindName(k), strings(env, algorithmNames(k)));
  r.Set("algorithmNames", names);
  Napi::Array transportList = Napi::Array::New(env);
  for (const TransportDef* t : transports()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t->name);
    o.Set("summary", t->summary);
    o.Set("auto", t->autoCandidate);
    o.Set("defaultCostModel", costModel(env, t->defaultCost));
    transportList.Set(transportList.Length(), o);
  }
  r.Set("transports", transportList);
  Napi::Array backendList = Napi::Array::New(env);
  for (const BackendDef* b : backends()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", b->name);
    o.Set("summary", b->summary);
    backendList.Set(backendList.Length(), o);
  }
  r.Set("backends", backendList);
  return r;
}

Napi::Value nativeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("simd", detectSimdLevel());
  std::vector<std::string> transportNames, autoTransports, autoAlgorithms, backendNames;
  for (const TransportDef* t : transports()) {
    transportNames.push_back(t->name);
    if (t->autoCandidate) autoTransports.push_back(t->name);
  }
  o.Set("transports", strings(env, transportNames));
  o.Set("algorithms", strings(env, algorithmNames(OpKind::kAllreduce)));
  Napi::Object collectives = Napi::Object::New(env);
  for (OpKind k : scheduledCollectives()) collectives.Set(opKindName(k), strings(env, algorithmNames(k)));
  o.Set("collectives", collectives);
  for (const AlgorithmDef* d : algorithms())
    if (d->allreduce.generate && d->autoCandidate) autoAlgorithms.push_back(d->name);
  Napi::Object autoChoices = Napi::Object::New(env);
  autoChoices.Set("allreduce", strings(env, autoAlgorithms));
  autoChoices.Set("transport", strings(env, autoTransports));
  o.Set("auto", autoChoices);
  for (const BackendDef* b : backends()) backendNames.push_back(b->name);
  o.Set("backends", strings(env, backendNames));
  o.Set("mpi", probeLibrary(env, {"libmpi.so.40", "libmpi.so.12", "libmpi.so"},
                            "an MPI library (libmpi.so)",
                            "MPI is present; the MPI plugin decides whether dtrain can use it"));
  return o;
}

// algorithmId(name, kind = allreduce): the encoded choice; a RangeError names the known ones.
Napi::Value algorithmId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "algorithm must be a string");
  OpKind kind = OpKind::kAllreduce;
  if (info[1].IsNumber()) {
    const int k = info[1].As<Napi::Number>().Int32Value();
    if (k < 0 || k >= kOpKindCount)
      throw Napi::RangeError::New(env, "kind is not a known collective");
    kind = static_cast<OpKind>(k);
  }
  const std::string name = info[0].As<Napi::String>();
  return Napi::Number::New(env, guarded(env, [&] { return parseAlgorithm(name, kind).encode(); }));
}

// chunkOf(count, parts, index) -> [offset, count]: the split every schedule uses (splitEven).
Napi::Value chunkOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double count = info[0].As<Napi::Number>().DoubleValue();
  const int parts = info[1].As<Napi::Number>().Int32Value();
  const int index = info[2].As<Napi::Number>().Int32Value();
  if (count < 0 || parts < 1 || index < 0 || index >= parts) {
    throw Napi::RangeError::New(env, "chunkOf: needs count >= 0 and 0 <= index < parts");
  }
  const Chunk c = splitEven(static_cast<size_t>(count), parts)[index];
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, static_cast<double>(c.offset));
  out.Set(1u, static_cast<double>(c.count));
  return out;
}

}  // namespace dtrain
