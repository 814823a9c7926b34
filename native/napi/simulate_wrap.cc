// simulate({ algorithm, np, bytes, alpha?, beta?, gamma?, hosts? }) for `dtrain simulate`.
#include <napi.h>

#include "common/error.h"
#include "sched/algorithm.h"
#include "sim/calibrate.h"
#include "sim/formulas.h"
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
  Napi::Value algoName = o.Get("algorithm");
  if (!algoName.IsString()) throw Napi::TypeError::New(env, "simulate: algorithm must be a string");
  AlgorithmChoice choice;
  try {
    choice = parseAlgorithm(algoName.As<Napi::String>());
  } catch (const Error& e) {
    throw Napi::RangeError::New(env, e.what());
  }
  if (choice.algo == Algorithm::kAuto) {
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
  // float32 elements: bytes / 4 (the simulator counts bytes again from them).
  const size_t count = static_cast<size_t>(bytes) / 4;
  SimResult res;
  try {
    res = simulate([&](int r) { return allreduceSchedule(choice, r, p, count, topo); }, p, 4, m,
                   topo);
  } catch (const Error& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("algo", choice.name());
  out.Set("np", p);
  out.Set("bytes", bytes);
  out.Set("steps", res.steps);
  out.Set("max_bytes_sent_per_rank", static_cast<double>(res.maxBytesSentPerRank));
  out.Set("idle_ranks", res.idleRanks);
  out.Set("predicted_s", res.predictedS);
  // The closed forms assume one kind of link.
  const bool uniform = topo.empty() || (m.alphaIntra < 0 && m.betaIntra < 0);
  std::optional<double> f =
      uniform ? formulaSeconds(choice.algo, p, static_cast<double>(count * 4), m) : std::nullopt;
  out.Set("formula_s", f ? Napi::Value(Napi::Number::New(env, *f)) : env.Null());
  Napi::Object model = Napi::Object::New(env);
  model.Set("alpha", m.alpha);
  model.Set("beta", m.beta);
  model.Set("gamma", m.gamma);
  if (m.alphaIntra >= 0) model.Set("alpha_intra", m.alphaIntra);
  if (m.betaIntra >= 0) model.Set("beta_intra", m.betaIntra);
  out.Set("model", model);
  if (hosts >= 1) out.Set("hosts", hosts);
  return out;
}

// The cost model `auto` uses for a transport (defaults, calibration file, environment).
Napi::Value costModelJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "transport must be a string");
  CostModel m = costModelFor(info[0].As<Napi::String>());
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("alpha", m.alpha);
  o.Set("beta", m.beta);
  o.Set("gamma", m.gamma);
  return o;
}

// measureReduce(bytes): seconds per byte this core takes to sum float32 (gamma).
Napi::Value measureReduceJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "bytes must be a number");
  return Napi::Number::New(info.Env(),
                           measureReduceSecondsPerByte(info[0].As<Napi::Number>().Int64Value()));
}

}  // namespace dtrain
