// simulate({ algorithm, np, bytes, collective?, alpha?, beta?, gamma?, hosts? }) for `dtrain
// simulate` (and its --train mode), and measureReduce for `dtrain bench allreduce --calibrate`.
#include <napi.h>

#include "napi/errors.h"
#include "napi/wraps.h"
#include "sched/algorithm.h"
#include "sim/calibrate.h"
#include "sim/simulator.h"

namespace dtrain {

Napi::Value simulateJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "simulate: options must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  auto num = [&](const char* k, double dflt) {
    Napi::Value v = o.Get(k);
    if (v.IsUndefined()) return dflt;
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("simulate: ") + k + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  };
  // Any collective with schedules. bytes: the vector of a reduction or broadcast; what each
  // rank contributes to an all-gather or gather, receives from a scatter, sends each peer in an
  // all-to-all. Reductions move float32; the others bytes, so a packed code of any length fits.
  Napi::Value coll = o.Get("collective");
  if (!coll.IsUndefined() && !coll.IsString())
    throw Napi::TypeError::New(env, "simulate: collective must be a string");
  const std::string collName = coll.IsUndefined() ? "allreduce" : coll.As<Napi::String>().Utf8Value();
  OpKind kind = OpKind::kBarrier;
  std::string known;
  for (OpKind k : scheduledCollectives()) {
    if (collName == opKindName(k)) kind = k;
    known += (known.empty() ? "" : ", ") + std::string(opKindName(k));
  }
  if (kind == OpKind::kBarrier)
    throw Napi::RangeError::New(env, "simulate: collective must be one of " + known);
  Napi::Value algoName = o.Get("algorithm");
  if (!algoName.IsString()) throw Napi::TypeError::New(env, "simulate: algorithm must be a string");
  const AlgorithmChoice choice =
      guarded(env, [&] { return parseAlgorithm(algoName.As<Napi::String>(), kind); });
  if (choice.isAuto()) {
    throw Napi::RangeError::New(env, "simulate: name an algorithm; auto is what the simulator decides between");
  }
  const double np = num("np", 0), bytes = num("bytes", -1), hosts = num("hosts", 0);
  if (np < 1 || np != static_cast<int>(np) || np > 1 << 20)
    throw Napi::RangeError::New(env, "simulate: np must be an integer >= 1");
  if (bytes < 0 || bytes != static_cast<double>(static_cast<size_t>(bytes)))
    throw Napi::RangeError::New(env, "simulate: bytes must be a whole number >= 0");
  if (hosts < 0 || hosts > np || hosts != static_cast<int>(hosts))
    throw Napi::RangeError::New(env, "simulate: hosts must be an integer in [1, np]");
  CostModel m;
  m.alpha = num("alpha", m.alpha);
  m.beta = num("beta", m.beta);
  m.gamma = num("gamma", m.gamma);
  m.alphaIntra = num("alphaIntra", -1);
  m.betaIntra = num("betaIntra", -1);
  const int p = static_cast<int>(np);
  Topology topo;
  if (hosts >= 1) {
    // H hosts of ceil(p/H) consecutive ranks.
    const int per = (p + static_cast<int>(hosts) - 1) / static_cast<int>(hosts);
    for (int r = 0; r < p; ++r) topo.push_back(r / per);
  }
  guarded(env, [&] { checkAlgorithm(kind, choice, p); });
  // All-reduce: float32 elements, bytes / 4 (the simulator counts bytes again from them). An
  // all-gather moves bytes as they are: byte elements, so a packed code of any length fits.
  const bool reduces =
      kind == OpKind::kAllreduce || kind == OpKind::kReduceScatter || kind == OpKind::kReduce;
  const size_t elemSize = reduces ? 4 : 1;
  const size_t count = static_cast<size_t>(bytes) / elemSize;
  const SimResult res = guarded(env, [&] {
    return simulate(
        [&](int r) {
          if (kind == OpKind::kAllreduce) return allreduceSchedule(choice, r, p, count, topo);
          ScheduleArgs a;
          a.rank = r;
          a.size = p;
          a.count = count;
          a.elemSize = elemSize;
          a.topology = &topo;
          return scheduleFor(kind, choice, a);
        },
        p, elemSize, m, topo);
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("algorithm", choice.name());
  out.Set("collective", collName);
  out.Set("np", p);
  out.Set("bytes", bytes);
  out.Set("steps", res.steps);
  out.Set("maxBytesSentPerRank", static_cast<double>(res.maxBytesSentPerRank));
  out.Set("idleRanks", res.idleRanks);
  out.Set("predictedS", res.predictedS);
  // The closed forms assume one kind of link; the registry has them for all-reduce only.
  const bool uniform = topo.empty() || (m.alphaIntra < 0 && m.betaIntra < 0);
  const AlgorithmDef* def = choice.def();
  std::optional<double> f;
  if (uniform && (p == 1 || count == 0)) {
    f = 0.0;  // nothing moves, whatever the algorithm
  } else if (uniform && def->closedForm && kind == OpKind::kAllreduce) {
    f = def->closedForm(p, static_cast<double>(count * 4), m);
  }
  out.Set("formulaS", f ? Napi::Value(Napi::Number::New(env, *f)) : env.Null());
  Napi::Object model = Napi::Object::New(env);
  model.Set("alpha", m.alpha);
  model.Set("beta", m.beta);
  model.Set("gamma", m.gamma);
  if (m.alphaIntra >= 0) model.Set("alphaIntra", m.alphaIntra);
  if (m.betaIntra >= 0) model.Set("betaIntra", m.betaIntra);
  out.Set("model", model);
  if (hosts >= 1) out.Set("hosts", hosts);
  return out;
}

// measureReduce(bytes): seconds per byte this core takes to sum float32 (gamma).
Napi::Value measureReduceJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "bytes must be a number");
  return Napi::Number::New(
      info.Env(), guarded(info.Env(), [&] {
        return measureReduceSecondsPerByte(info[0].As<Napi::Number>().Int64Value());
      }));
}

}  // namespace dtrain
