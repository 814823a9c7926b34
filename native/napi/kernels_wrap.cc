#include "napi/kernels_wrap.h"

#include <string>
#include <vector>

#include "bench/kernel_bench.h"
#include "common/error.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/sparsify.h"
#include "napi/errors.h"
#include "napi/typed_view.h"

namespace dtrain {
namespace {

template <typename T>
View<T> view(const Napi::Value& v, napi_typedarray_type type, const char* name) {
  return typedView<T>(v, type, name);
}

View<float> f32(const Napi::Value& v, const char* name) {
  return view<float>(v, napi_float32_array, name);
}
View<uint16_t> u16(const Napi::Value& v, const char* name) {
  return view<uint16_t>(v, napi_uint16_array, name);
}
View<uint32_t> u32(const Napi::Value& v, const char* name) {
  return view<uint32_t>(v, napi_uint32_array, name);
}
View<uint8_t> u8(const Napi::Value& v, const char* name) {
  return view<uint8_t>(v, napi_uint8_array, name);
}

void need(const Napi::Env& env, bool ok, const std::string& what) {
  if (!ok) throw Napi::RangeError::New(env, what);
}

double num(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool flag(const Napi::Object& o, const char* key) { return o.Get(key).ToBoolean(); }

// The table at the process's level; a forced level this CPU lacks throws here, at first use.
const CpuKernelTable& table(const Napi::Env& env) {
  return guarded(env, []() -> const CpuKernelTable& { return cpuKernels(); });
}

Napi::Value kernelsInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array levels = Napi::Array::New(env);
  for (int l = 0; l < kIsaCount; ++l) {
    if (isaSupported(static_cast<Isa>(l)))
      levels.Set(levels.Length(), isaName(static_cast<Isa>(l)));
  }
  o.Set("supported", levels);
  o.Set("best", isaName(bestIsa()));
  const std::string& forced = forcedIsa();
  o.Set("forced", forced.empty() ? env.Null() : Napi::Value(Napi::String::New(env, forced)));
  try {
    o.Set("isa", isaName(activeIsa()));
  } catch (const Error& e) {
    o.Set("isa", env.Null());
    o.Set("error", e.what());
  }
  return o;
}

// (name, source): lib/comm/config.ts's DTRAIN_ISA, before any kernel runs.
Napi::Value forceIsaJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsString() || !info[1].IsString()) {
    throw Napi::TypeError::New(info.Env(), "forceIsa(name, source): two strings");
  }
  forceIsa(info[0].As<Napi::String>(), info[1].As<Napi::String>());
  return info.Env().Undefined();
}

// (src Float32Array, dst Uint16Array, scale, bf16)
Napi::Value castToHalf(const Napi::CallbackInfo& info) {
  auto src = f32(info[0], "src");
  auto dst = u16(info[1], "out");
  need(info.Env(), dst.length >= src.length, "out is shorter than src");
  const float scale = info[2].As<Napi::Number>().FloatValue();
  const CpuKernelTable& k = table(info.Env());
  (info[3].ToBoolean() ? k.castToBFloat16 : k.castToHalf)(src.data, dst.data, src.length, scale);
  return info.Env().Undefined();
}

// (src Uint16Array, dst Float32Array, scale, bf16) -> nonFinite
Napi::Value castFromHalf(const Napi::CallbackInfo& info) {
  auto src = u16(info[0], "src");
  auto dst = f32(info[1], "out");
  need(info.Env(), dst.length >= src.length, "out is shorter than src");
  const float scale = info[2].As<Napi::Number>().FloatValue();
  const CpuKernelTable& k = table(info.Env());
  const bool bad = (info[3].ToBoolean() ? k.castFromBFloat16 : k.castFromHalf)(src.data, dst.data,
                                                                               src.length, scale);
  return Napi::Boolean::New(info.Env(), bad);
}

// (x) -> sum of squares (float32 lanes, double across blocks)
Napi::Value sumSquaresJs(const Napi::CallbackInfo& info) {
  auto x = f32(info[0], "x");
  return Napi::Number::New(info.Env(), table(info.Env()).sumSquares(x.data, x.length));
}

// (dtype, op, dst, src): the TS layer matched the array types to dtype and the lengths.
Napi::Value reduce(const Napi::CallbackInfo& info) {
  const int dtype = info[0].As<Napi::Number>().Int32Value();
  const int op = info[1].As<Napi::Number>().Int32Value();
  need(info.Env(), validDType(dtype) && validReduceOp(op), "bad dtype or op");
  Napi::TypedArray d = info[2].As<Napi::TypedArray>(), s = info[3].As<Napi::TypedArray>();
  const size_t es = dtypeSize(static_cast<DType>(dtype));
  need(info.Env(),
       d.ByteLength() == s.ByteLength() && d.ElementSize() == es && s.ElementSize() == es,
       "dst and src must be the same length and element size");
  table(info.Env())
      .reduce(static_cast<DType>(dtype), static_cast<ReduceOp>(op),
              typedArrayBytes(d), typedArrayBytes(s), d.ElementLength());
  return info.Env().Undefined();
}

// (tensors: {weights, grad, state, weights16?, exclude?}[], gradHalf) -> slots
std::vector<TensorSlot> slotsOf(const Napi::Value& v, bool gradHalf) {
  Napi::Array a = v.As<Napi::Array>();
  std::vector<TensorSlot> slots(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Object t = a.Get(i).As<Napi::Object>();
    auto w = f32(t.Get("weights"), "weights");
    auto s = f32(t.Get("state"), "state");
    TensorSlot& slot = slots[i];
    slot.weights = w.data;
    slot.state = s.data;
    slot.n = w.length;
    size_t gl;
    if (gradHalf) {
      auto g = u16(t.Get("grad"), "grad");
      slot.grad = g.data;
      gl = g.length;
    } else {
      auto g = f32(t.Get("grad"), "grad");
      slot.grad = g.data;
      gl = g.length;
    }
    size_t hl = w.length;
    if (t.Get("weights16").IsTypedArray()) {
      auto h = u16(t.Get("weights16"), "weights16");
      slot.weights16 = h.data;
      hl = h.length;
    }
    slot.exclude = t.Get("exclude").ToBoolean();
    need(v.Env(), gl == w.length && s.length == w.length && hl == w.length,
         "tensor " + std::to_string(i) + ": weights, grad, state and weights16 lengths differ");
  }
  return slots;
}

Napi::Value sgdStepJs(const Napi::CallbackInfo& info) {
  Napi::Object o = info[1].As<Napi::Object>();
  SgdOptions opt;
  opt.lr = static_cast<float>(num(o, "lr"));
  opt.momentum = static_cast<float>(num(o, "momentum"));
  opt.weightDecay = static_cast<float>(num(o, "weightDecay"));
  opt.gradScale = static_cast<float>(num(o, "gradScale"));
  opt.nesterov = flag(o, "nesterov");
  opt.gradHalf = flag(o, "gradHalf");
  opt.checkFinite = flag(o, "checkFinite");
  auto slots = slotsOf(info[0], opt.gradHalf);
  return Napi::Boolean::New(info.Env(),
                            sgdStep(table(info.Env()), opt, slots.data(), slots.size()));
}

Napi::Value larsStepJs(const Napi::CallbackInfo& info) {
  Napi::Object o = info[1].As<Napi::Object>();
  LarsOptions opt;
  opt.lr = static_cast<float>(num(o, "lr"));
  opt.momentum = static_cast<float>(num(o, "momentum"));
  opt.weightDecay = static_cast<float>(num(o, "weightDecay"));
  opt.eta = static_cast<float>(num(o, "eta"));
  opt.gradScale = static_cast<float>(num(o, "gradScale"));
  opt.gradHalf = flag(o, "gradHalf");
  opt.checkFinite = flag(o, "checkFinite");
  auto slots = slotsOf(info[0], opt.gradHalf);
  auto trust = f32(info[2], "trust");
  need(info.Env(), trust.length >= slots.size(), "trust is shorter than tensors");
  return Napi::Boolean::New(
      info.Env(), larsStep(table(info.Env()), opt, slots.data(), slots.size(), trust.data));
}

// (u, v, g, idx, values, half, opts) -> { count, threshold, rounds }
Napi::Value dgcStepJs(const Napi::CallbackInfo& info) {
  auto u = f32(info[0], "u"), v = f32(info[1], "v"), g = f32(info[2], "grad");
  auto idx = u32(info[3], "indices");
  const bool half = info[5].ToBoolean();
  Napi::Object o = info[6].As<Napi::Object>();
  DgcOptions opt;
  opt.momentum = static_cast<float>(num(o, "momentum"));
  opt.density = static_cast<float>(num(o, "density"));
  opt.sampleRatio = static_cast<float>(num(o, "sampleRatio"));
  opt.seed = static_cast<uint32_t>(num(o, "seed"));
  opt.maxRounds = static_cast<int>(num(o, "maxRounds"));
  const size_t n = g.length, k = dgcTargetCount(n, opt.density);
  need(info.Env(), u.length == n && v.length == n, "u, v and grad must be the same length");
  float* v32 = nullptr;
  uint16_t* v16 = nullptr;
  size_t vl;
  if (half) {
    auto vals = u16(info[4], "values");
    v16 = vals.data;
    vl = vals.length;
  } else {
    auto vals = f32(info[4], "values");
    v32 = vals.data;
    vl = vals.length;
  }
  need(info.Env(), idx.length >= k && vl >= k, "indices and values must hold the target count");
  const DgcResult r = guarded(info.Env(), [&] {
    return dgcStep(table(info.Env()), u.data, v.data, g.data, n, opt, idx.data, v32, v16);
  });
  Napi::Object res = Napi::Object::New(info.Env());
  res.Set("count", static_cast<double>(r.count));
  res.Set("threshold", r.threshold);
  res.Set("rounds", r.rounds);
  return res;
}

// (dense, indices, values, half, count)
Napi::Value scatterAddJs(const Napi::CallbackInfo& info) {
  auto dense = f32(info[0], "dense");
  auto idx = u32(info[1], "indices");
  const bool half = info[3].ToBoolean();
  const size_t count = static_cast<size_t>(info[4].As<Napi::Number>().Int64Value());
  need(info.Env(), count <= idx.length, "count exceeds indices");
  if (half) {
    auto vals = u16(info[2], "values");
    need(info.Env(), count <= vals.length, "count exceeds values");
    guarded(info.Env(), [&] {
      scatterAdd(dense.data, dense.length, idx.data, nullptr, vals.data, count);
      return 0;
    });
  } else {
    auto vals = f32(info[2], "values");
    need(info.Env(), count <= vals.length, "count exceeds values");
    guarded(info.Env(), [&] {
      scatterAdd(dense.data, dense.length, idx.data, vals.data, nullptr, count);
      return 0;
    });
  }
  return info.Env().Undefined();
}

// (x, k, indices, values)
Napi::Value topkJs(const Napi::CallbackInfo& info) {
  auto x = f32(info[0], "x");
  const size_t k = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  auto idx = u32(info[2], "indices");
  auto val = f32(info[3], "values");
  need(info.Env(), k <= x.length && idx.length >= k && val.length >= k, "k out of range");
  guarded(info.Env(), [&] {
    topkAbs(table(info.Env()), x.data, x.length, k, idx.data, val.data);
    return 0;
  });
  return info.Env().Undefined();
}

// (x, s, seed, code, norm) -> norm
Napi::Value qsgdEncodeJs(const Napi::CallbackInfo& info) {
  auto x = f32(info[0], "x");
  const uint32_t s = info[1].As<Napi::Number>().Uint32Value();
  const uint32_t seed = info[2].As<Napi::Number>().Uint32Value();
  auto code = u8(info[3], "code");
  need(info.Env(), s >= 1 && code.length >= qsgdCodeBytes(x.length, s), "code is too short");
  const float norm = info[4].As<Napi::Number>().FloatValue();
  return Napi::Number::New(
      info.Env(), qsgdEncode(table(info.Env()), x.data, x.length, s, seed, code.data, norm));
}

// (code, s, norm, out, accumulate)
Napi::Value qsgdDecodeJs(const Napi::CallbackInfo& info) {
  auto code = u8(info[0], "code");
  const uint32_t s = info[1].As<Napi::Number>().Uint32Value();
  const float norm = info[2].As<Napi::Number>().FloatValue();
  auto out = f32(info[3], "out");
  need(info.Env(), s >= 1 && code.length >= qsgdCodeBytes(out.length, s), "code is too short");
  qsgdDecode(table(info.Env()), code.data, out.length, s, norm, out.data, info[4].ToBoolean());
  return info.Env().Undefined();
}

// (x, seed, code) -> scale
Napi::Value ternGradEncodeJs(const Napi::CallbackInfo& info) {
  auto x = f32(info[0], "x");
  const uint32_t seed = info[1].As<Napi::Number>().Uint32Value();
  auto code = u8(info[2], "code");
  need(info.Env(), code.length >= ternGradCodeBytes(x.length), "code is too short");
  return Napi::Number::New(info.Env(),
                           ternGradEncode(table(info.Env()), x.data, x.length, seed, code.data));
}

// (code, scale, out, accumulate)
Napi::Value ternGradDecodeJs(const Napi::CallbackInfo& info) {
  auto code = u8(info[0], "code");
  auto out = f32(info[2], "out");
  need(info.Env(), code.length >= ternGradCodeBytes(out.length), "code is too short");
  ternGradDecode(table(info.Env()), code.data, out.length, info[1].As<Napi::Number>().FloatValue(),
                 out.data, info[3].ToBoolean());
  return info.Env().Undefined();
}

// (grad, residual, code) -> scale
Napi::Value signEncodeJs(const Napi::CallbackInfo& info) {
  auto g = f32(info[0], "grad");
  auto e = f32(info[1], "residual");
  auto code = u8(info[2], "code");
  need(info.Env(), e.length == g.length, "residual and grad must be the same length");
  need(info.Env(), code.length >= bitPlaneBytes(g.length), "code is too short");
  return Napi::Number::New(info.Env(),
                           signEncode(table(info.Env()), g.data, e.data, g.length, code.data));
}

size_t chunkArg(const Napi::Value& v) {
  const int64_t c = v.As<Napi::Number>().Int64Value();
  need(v.Env(), c >= 8 && c % 8 == 0 && c <= (int64_t{1} << 30), "chunk must be a multiple of 8");
  return static_cast<size_t>(c);
}

// (x, s, seed, chunk, code, norms)
Napi::Value qsgdEncodeChunksJs(const Napi::CallbackInfo& info) {
  auto x = f32(info[0], "x");
  const uint32_t s = info[1].As<Napi::Number>().Uint32Value();
  const uint32_t seed = info[2].As<Napi::Number>().Uint32Value();
  const size_t chunk = chunkArg(info[3]);
  auto code = u8(info[4], "code");
  auto norms = f32(info[5], "norms");
  need(info.Env(), s >= 1 && code.length >= qsgdCodeBytes(x.length, s), "code is too short");
  need(info.Env(), norms.length >= chunkCount(x.length, chunk), "norms is too short");
  qsgdEncodeChunks(table(info.Env()), x.data, x.length, s, seed, chunk, code.data, norms.data);
  return info.Env().Undefined();
}

// (code, s, chunk, norms, out, accumulate)
Napi::Value qsgdDecodeChunksJs(const Napi::CallbackInfo& info) {
  auto code = u8(info[0], "code");
  const uint32_t s = info[1].As<Napi::Number>().Uint32Value();
  const size_t chunk = chunkArg(info[2]);
  auto norms = f32(info[3], "norms");
  auto out = f32(info[4], "out");
  need(info.Env(), s >= 1 && code.length >= qsgdCodeBytes(out.length, s), "code is too short");
  need(info.Env(), norms.length >= chunkCount(out.length, chunk), "norms is too short");
  qsgdDecodeChunks(table(info.Env()), code.data, out.length, s, chunk, norms.data, out.data,
                   info[5].ToBoolean());
  return info.Env().Undefined();
}

// (x, seed, chunk, code, scales)
Napi::Value ternGradEncodeChunksJs(const Napi::CallbackInfo& info) {
  auto x = f32(info[0], "x");
  const uint32_t seed = info[1].As<Napi::Number>().Uint32Value();
  const size_t chunk = chunkArg(info[2]);
  auto code = u8(info[3], "code");
  auto scales = f32(info[4], "scales");
  need(info.Env(), code.length >= ternGradCodeBytes(x.length), "code is too short");
  need(info.Env(), scales.length >= chunkCount(x.length, chunk), "scales is too short");
  ternGradEncodeChunks(table(info.Env()), x.data, x.length, seed, chunk, code.data, scales.data);
  return info.Env().Undefined();
}

// (code, chunk, scales, out, accumulate)
Napi::Value ternGradDecodeChunksJs(const Napi::CallbackInfo& info) {
  auto code = u8(info[0], "code");
  const size_t chunk = chunkArg(info[1]);
  auto scales = f32(info[2], "scales");
  auto out = f32(info[3], "out");
  need(info.Env(), code.length >= ternGradCodeBytes(out.length), "code is too short");
  need(info.Env(), scales.length >= chunkCount(out.length, chunk), "scales is too short");
  ternGradDecodeChunks(table(info.Env()), code.data, out.length, chunk, scales.data, out.data,
                       info[4].ToBoolean());
  return info.Env().Undefined();
}

// (grad, residual, chunk, code, scales)
Napi::Value signEncodeChunksJs(const Napi::CallbackInfo& info) {
  auto g = f32(info[0], "grad");
  auto e = f32(info[1], "residual");
  const size_t chunk = chunkArg(info[2]);
  auto code = u8(info[3], "code");
  auto scales = f32(info[4], "scales");
  need(info.Env(), e.length == g.length, "residual and grad must be the same length");
  need(info.Env(), code.length >= bitPlaneBytes(g.length), "code is too short");
  need(info.Env(), scales.length >= chunkCount(g.length, chunk), "scales is too short");
  signEncodeChunks(table(info.Env()), g.data, e.data, g.length, chunk, code.data, scales.data);
  return info.Env().Undefined();
}

// (code, chunk, scales, out, accumulate)
Napi::Value signDecodeChunksJs(const Napi::CallbackInfo& info) {
  auto code = u8(info[0], "code");
  const size_t chunk = chunkArg(info[1]);
  auto scales = f32(info[2], "scales");
  auto out = f32(info[3], "out");
  need(info.Env(), code.length >= bitPlaneBytes(out.length), "code is too short");
  need(info.Env(), scales.length >= chunkCount(out.length, chunk), "scales is too short");
  signDecodeChunks(table(info.Env()), code.data, out.length, chunk, scales.data, out.data,
                   info[4].ToBoolean());
  return info.Env().Undefined();
}

// (code, scale, out, accumulate)
Napi::Value signDecodeJs(const Napi::CallbackInfo& info) {
  auto code = u8(info[0], "code");
  auto out = f32(info[2], "out");
  need(info.Env(), code.length >= bitPlaneBytes(out.length), "code is too short");
  signDecode(table(info.Env()), code.data, out.length, info[1].As<Napi::Number>().FloatValue(),
             out.data, info[3].ToBoolean());
  return info.Env().Undefined();
}

Napi::Object benchResult(Napi::Env env, const KernelBenchResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kernel", r.kernel);
  o.Set("bytesMoved", r.bytesMoved);
  o.Set("seconds", r.seconds);
  o.Set("GBs", r.gbPerSecond());
  return o;
}

// (name, isa, bytes, minSeconds), or ('memcpy' | 'probe_read' | 'probe_write', null, bytes,
// minSeconds)
Napi::Value benchJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  const size_t bytes = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  const double minSeconds = info[3].As<Napi::Number>().DoubleValue();
  if (name == "memcpy") return benchResult(env, benchMemcpy(bytes, minSeconds));
  if (name.rfind("probe_", 0) == 0) {
    return guarded(env, [&] { return benchResult(env, benchProbe(name, bytes, minSeconds)); });
  }
  Isa isa;
  if (!info[1].IsString() || !parseIsa(info[1].As<Napi::String>().Utf8Value().c_str(), &isa)) {
    throw Napi::RangeError::New(env, "unknown isa");
  }
  return guarded(env, [&] { return benchResult(env, benchKernel(name, isa, bytes, minSeconds)); });
}

Napi::Value benchNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env());
  for (const auto& n : kernelBenchNames()) a.Set(a.Length(), n);
  return a;
}

// The option structs' defaults (kernels/params.h), so lib/kernels/ defines none of its own.
Napi::Object defaults(Napi::Env env) {
  const SgdOptions sgd;
  const LarsOptions lars;
  const DgcOptions dgc;
  Napi::Object s = Napi::Object::New(env), l = Napi::Object::New(env), d = Napi::Object::New(env);
  s.Set("momentum", sgd.momentum);
  s.Set("weightDecay", sgd.weightDecay);
  s.Set("gradScale", sgd.gradScale);
  s.Set("nesterov", sgd.nesterov);
  s.Set("checkFinite", sgd.checkFinite);
  l.Set("momentum", lars.momentum);
  l.Set("weightDecay", lars.weightDecay);
  l.Set("eta", lars.eta);
  l.Set("gradScale", lars.gradScale);
  l.Set("checkFinite", lars.checkFinite);
  d.Set("momentum", dgc.momentum);
  d.Set("density", dgc.density);
  d.Set("sampleRatio", dgc.sampleRatio);
  d.Set("maxRounds", dgc.maxRounds);
  Napi::Object o = Napi::Object::New(env);
  o.Set("sgd", s);
  o.Set("lars", l);
  o.Set("dgc", d);
  return o;
}

}  // namespace

void registerKernels(Napi::Env env, Napi::Object exports) {
  Napi::Object k = Napi::Object::New(env);
  k.Set("info", Napi::Function::New(env, kernelsInfo));
  k.Set("forceIsa", Napi::Function::New(env, forceIsaJs));
  k.Set("defaults", defaults(env));
  k.Set("castToHalf", Napi::Function::New(env, castToHalf));
  k.Set("castFromHalf", Napi::Function::New(env, castFromHalf));
  k.Set("reduce", Napi::Function::New(env, reduce));
  k.Set("sumSquares", Napi::Function::New(env, sumSquaresJs));
  k.Set("sgdStep", Napi::Function::New(env, sgdStepJs));
  k.Set("larsStep", Napi::Function::New(env, larsStepJs));
  k.Set("dgcStep", Napi::Function::New(env, dgcStepJs));
  k.Set("scatterAdd", Napi::Function::New(env, scatterAddJs));
  k.Set("topk", Napi::Function::New(env, topkJs));
  k.Set("qsgdEncode", Napi::Function::New(env, qsgdEncodeJs));
  k.Set("qsgdDecode", Napi::Function::New(env, qsgdDecodeJs));
  k.Set("ternGradEncode", Napi::Function::New(env, ternGradEncodeJs));
  k.Set("ternGradDecode", Napi::Function::New(env, ternGradDecodeJs));
  k.Set("qsgdEncodeChunks", Napi::Function::New(env, qsgdEncodeChunksJs));
  k.Set("qsgdDecodeChunks", Napi::Function::New(env, qsgdDecodeChunksJs));
  k.Set("ternGradEncodeChunks", Napi::Function::New(env, ternGradEncodeChunksJs));
  k.Set("ternGradDecodeChunks", Napi::Function::New(env, ternGradDecodeChunksJs));
  k.Set("signEncodeChunks", Napi::Function::New(env, signEncodeChunksJs));
  k.Set("signDecodeChunks", Napi::Function::New(env, signDecodeChunksJs));
  k.Set("signEncode", Napi::Function::New(env, signEncodeJs));
  k.Set("signDecode", Napi::Function::New(env, signDecodeJs));
  k.Set("bench", Napi::Function::New(env, benchJs));
  k.Set("benchNames", Napi::Function::New(env, benchNames));
  exports.Set("kernels", k);
}

}  // namespace dtrain
