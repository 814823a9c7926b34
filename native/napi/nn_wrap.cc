#include "napi/nn_wrap.h"

#include <string>

#include "common/error.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/kernel_table.h"
#include "nn/gemm.h"
#include "bench/gemm_bench.h"
#include "napi/errors.h"
#include "napi/typed_view.h"
#include "nn/layers.h"

namespace dtrain {
namespace {

template <typename T>
View<T> viewOf(const Napi::Value& v, napi_typedarray_type type, const char* name) {
  return typedView<T>(v, type, name);
}

// A Float32Array of at least `need` elements (or null when optional and the value is null).
float* f32(const Napi::Value& v, const char* name, size_t need, bool optional = false) {
  if (optional && (v.IsNull() || v.IsUndefined())) return nullptr;
  View<float> view = viewOf<float>(v, napi_float32_array, name);
  if (view.length < need) {
    throw Napi::RangeError::New(v.Env(), std::string(name) + " has " + std::to_string(view.length) +
                                             " elements; needs " + std::to_string(need));
  }
  return view.data;
}

struct Labels {
  const int32_t* i32 = nullptr;
  const uint8_t* u8 = nullptr;
};

Labels labelsOf(const Napi::Value& v, size_t need) {
  Labels l;
  size_t length = 0;
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    View<int32_t> view = viewOf<int32_t>(v, napi_int32_array, "labels");
    l.i32 = view.data;
    length = view.length;
  } else {
    View<uint8_t> view = viewOf<uint8_t>(v, napi_uint8_array, "labels");
    l.u8 = view.data;
    length = view.length;
  }
  if (length < need) throw Napi::RangeError::New(v.Env(), "labels is shorter than the batch");
  return l;
}

// Every label indexes a logit: out of range, it would read past the row.
void checkLabels(const Napi::Env& env, const Labels& l, size_t batch, size_t classes) {
  for (size_t i = 0; i < batch; ++i) {
    const int64_t v = l.i32 ? l.i32[i] : l.u8[i];
    if (v < 0 || static_cast<size_t>(v) >= classes) {
      throw Napi::RangeError::New(env, "labels[" + std::to_string(i) + "] is " + std::to_string(v) +
                                           "; labels must be in [0, " + std::to_string(classes) + ")");
    }
  }
}

// Sizes are below 2^31, so the product of any two (every length checked here) fits in size_t.
size_t count(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d < 2147483648.0) || d != static_cast<double>(static_cast<size_t>(d))) {
    throw Napi::RangeError::New(v.Env(), std::string(name) + " must be an integer from 0 to 2^31 - 1");
  }
  return static_cast<size_t>(d);
}

LinearShape shapeOf(const Napi::CallbackInfo& info, size_t at) {
  return {count(info[at], "batch"), count(info[at + 1], "inFeatures"),
          count(info[at + 2], "outFeatures")};
}

// (x, w, b|null, y, batch, in, out, relu)
Napi::Value linearForwardJs(const Napi::CallbackInfo& info) {
  const LinearShape s = shapeOf(info, 4);
  const float* x = f32(info[0], "x", s.batch * s.in);
  const float* w = f32(info[1], "weight", s.out * s.in);
  const float* b = f32(info[2], "bias", s.out, true);
  float* y = f32(info[3], "y", s.batch * s.out);
  guarded(info.Env(), [&] { linearForward(s, x, w, b, y, info[7].ToBoolean()); });
  return info.Env().Undefined();
}

// (x, dy, dw, batch, in, out, accumulate)
Napi::Value linearGradWeightJs(const Napi::CallbackInfo& info) {
  const LinearShape s = shapeOf(info, 3);
  const float* x = f32(info[0], "x", s.batch * s.in);
  const float* dy = f32(info[1], "dy", s.batch * s.out);
  float* dw = f32(info[2], "weight.grad", s.out * s.in);
  guarded(info.Env(), [&] { linearGradWeight(s, x, dy, dw, info[6].ToBoolean()); });
  return info.Env().Undefined();
}

// (dy, db, batch, out, accumulate)
Napi::Value linearGradBiasJs(const Napi::CallbackInfo& info) {
  const size_t batch = count(info[2], "batch"), out = count(info[3], "outFeatures");
  const float* dy = f32(info[0], "dy", batch * out);
  float* db = f32(info[1], "bias.grad", out);
  linearGradBias({batch, 0, out}, dy, db, info[4].ToBoolean());
  return info.Env().Undefined();
}

// (dy, w, dx, mask|null, batch, in, out)
Napi::Value linearGradInputJs(const Napi::CallbackInfo& info) {
  const LinearShape s = shapeOf(info, 4);
  const float* dy = f32(info[0], "dy", s.batch * s.out);
  const float* w = f32(info[1], "weight", s.out * s.in);
  float* dx = f32(info[2], "dx", s.batch * s.in);
  const float* mask = f32(info[3], "mask", s.batch * s.in, true);
  guarded(info.Env(), [&] { linearGradInput(s, dy, w, dx, mask); });
  return info.Env().Undefined();
}

// (logits, labels, batch, classes, dlogits|null, scale) -> mean loss
Napi::Value softmaxCrossEntropyJs(const Napi::CallbackInfo& info) {
  const size_t batch = count(info[2], "batch"), classes = count(info[3], "classes");
  const float* z = f32(info[0], "logits", batch * classes);
  const Labels l = labelsOf(info[1], batch);
  checkLabels(info.Env(), l, batch, classes);
  float* d = f32(info[4], "dlogits", batch * classes, true);
  const float scale = info[5].As<Napi::Number>().FloatValue();
  return Napi::Number::New(info.Env(), softmaxCrossEntropy(z, l.i32, l.u8, batch, classes, d, scale));
}

// (logits, labels, batch, classes) -> correct count
Napi::Value countCorrectJs(const Napi::CallbackInfo& info) {
  const size_t batch = count(info[2], "batch"), classes = count(info[3], "classes");
  const float* z = f32(info[0], "logits", batch * classes);
  const Labels l = labelsOf(info[1], batch);
  checkLabels(info.Env(), l, batch, classes);
  return Napi::Number::New(info.Env(), static_cast<double>(countCorrect(z, l.i32, l.u8, batch, classes)));
}

// (src Uint8Array|Float32Array, srcRows, indices Int32Array, start, rows, features, scale, dst)
Napi::Value gatherRowsJs(const Napi::CallbackInfo& info) {
  const size_t srcRows = count(info[1], "count"), start = count(info[3], "start");
  const size_t rows = count(info[4], "rows"), features = count(info[5], "features");
  View<int32_t> idx = viewOf<int32_t>(info[2], napi_int32_array, "indices");
  if (start + rows > idx.length) throw Napi::RangeError::New(info.Env(), "indices is shorter than start + rows");
  for (size_t r = 0; r < rows; ++r) {
    const int32_t i = idx.data[start + r];
    if (i < 0 || static_cast<size_t>(i) >= srcRows) {
      throw Napi::RangeError::New(info.Env(), "indices[" + std::to_string(start + r) + "] = " +
                                                  std::to_string(i) + " is not a row of the data set");
    }
  }
  const uint8_t* s8 = nullptr;
  const float* s32 = nullptr;
  const size_t need = srcRows * features;
  if (info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    View<uint8_t> v = viewOf<uint8_t>(info[0], napi_uint8_array, "x");
    if (v.length < need) throw Napi::RangeError::New(info.Env(), "x is shorter than count x features");
    s8 = v.data;
  } else {
    s32 = f32(info[0], "x", need);
  }
  const float scale = info[6].As<Napi::Number>().FloatValue();
  float* dst = f32(info[7], "batch", rows * features);
  gatherRows(s8, s32, idx.data + start, rows, features, scale, dst);
  return info.Env().Undefined();
}

// (x, y, n)
Napi::Value reluForwardJs(const Napi::CallbackInfo& info) {
  const size_t n = count(info[2], "n");
  reluForward(f32(info[0], "x", n), f32(info[1], "y", n), n);
  return info.Env().Undefined();
}

// (dy, y, dx, n)
Napi::Value reluBackwardJs(const Napi::CallbackInfo& info) {
  const size_t n = count(info[3], "n");
  reluBackward(f32(info[0], "dy", n), f32(info[1], "y", n), f32(info[2], "dx", n), n);
  return info.Env().Undefined();
}

// (x, n) -> whether any of the first n elements is inf or NaN
Napi::Value nonFiniteJs(const Napi::CallbackInfo& info) {
  const size_t n = count(info[1], "n");
  const float* x = f32(info[0], "x", n);
  return Napi::Boolean::New(info.Env(),
                            guarded(info.Env(), [&] { return cpuKernels().nonFiniteFloat(x, n); }));
}

Isa isaOption(const Napi::Object& o) {
  Napi::Value v = o.Get("isa");
  if (v.IsUndefined() || v.IsNull()) return guarded(o.Env(), [] { return activeIsa(); });
  Isa isa;
  const std::string name = v.ToString();
  if (!parseIsa(name.c_str(), &isa)) throw Napi::RangeError::New(o.Env(), "unknown isa " + name);
  if (!isaSupported(isa)) throw Napi::RangeError::New(o.Env(), "this CPU lacks " + name);
  return isa;
}

size_t field(const Napi::Object& o, const char* key) { return count(o.Get(key), key); }

// ({ m, n, k, a, lda, transA, b, ldb, transB, c, ldc, accumulate, bias, relu, mask, ldmask, isa })
Napi::Value gemmJs(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  GemmArgs g;
  g.m = field(o, "m"), g.n = field(o, "n"), g.k = field(o, "k");
  g.transA = o.Get("transA").ToBoolean(), g.transB = o.Get("transB").ToBoolean();
  g.lda = field(o, "lda"), g.ldb = field(o, "ldb"), g.ldc = field(o, "ldc");
  const size_t aRows = g.transA ? g.k : g.m, bRows = g.transB ? g.n : g.k;
  auto span = [](size_t rows, size_t ld, size_t cols) { return rows ? (rows - 1) * ld + cols : 0; };
  g.a = f32(o.Get("a"), "a", span(aRows, g.lda, g.transA ? g.m : g.k));
  g.b = f32(o.Get("b"), "b", span(bRows, g.ldb, g.transB ? g.k : g.n));
  g.c = f32(o.Get("c"), "c", span(g.m, g.ldc, g.n));
  g.accumulate = o.Get("accumulate").ToBoolean();
  g.bias = f32(o.Get("bias"), "bias", g.n, true);
  g.relu = o.Get("relu").ToBoolean();
  if (!o.Get("mask").IsUndefined() && !o.Get("mask").IsNull()) {
    g.ldmask = field(o, "ldmask");
    g.mask = f32(o.Get("mask"), "mask", span(g.m, g.ldmask, g.n));
  }
  const Isa isa = isaOption(o);
  guarded(info.Env(), [&] { sgemm(isa, g); });
  return info.Env().Undefined();
}

// The benchmark's shapes, for `dtrain bench gemm`: [{ op, m, n, k, transA, transB, batch, in, out }]
Napi::Value gemmShapesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<size_t> batches;
  Napi::Array bs = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < bs.Length(); ++i) batches.push_back(count(bs.Get(i), "batch"));
  const std::vector<GemmShape> shapes =
      gemmShapes(batches, {{784, 512}, {512, 256}, {256, 10}});
  Napi::Array out = Napi::Array::New(env, shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    const GemmShape& s = shapes[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("op", s.op);
    o.Set("m", static_cast<double>(s.m));
    o.Set("n", static_cast<double>(s.n));
    o.Set("k", static_cast<double>(s.k));
    o.Set("batch", static_cast<double>(s.batch));
    o.Set("in", static_cast<double>(s.in));
    o.Set("out", static_cast<double>(s.out));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// ({ op, m, n, k, isa?, seconds }) -> GFLOP/s
Napi::Value benchGemmJs(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  GemmShape s;
  s.op = o.Get("op").ToString();
  s.m = field(o, "m"), s.n = field(o, "n"), s.k = field(o, "k");
  s.transA = s.op == "grad_weight";
  s.transB = s.op == "forward";
  const double seconds = o.Get("seconds").As<Napi::Number>().DoubleValue();
  return Napi::Number::New(info.Env(), benchGemm(isaOption(o), s, seconds));
}

// The FMA peak of one core at a level, GFLOP/s (see gemm_bench.h).
Napi::Value fmaPeakJs(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const double seconds = o.Get("seconds").As<Napi::Number>().DoubleValue();
  const FmaPeak p = fmaPeak(isaOption(o), seconds);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("gflops", p.gflops);
  r.Set("fmaPerNs", p.fmaPerNs);
  r.Set("clockGHz", p.clockGHz);
  r.Set("fmaPerCycle", p.fmaPerCycle);
  r.Set("lanes", p.lanes);
  return r;
}

}  // namespace

void registerNn(Napi::Env env, Napi::Object exports) {
  Napi::Object nn = Napi::Object::New(env);
  nn.Set("linearForward", Napi::Function::New(env, linearForwardJs));
  nn.Set("linearGradWeight", Napi::Function::New(env, linearGradWeightJs));
  nn.Set("linearGradBias", Napi::Function::New(env, linearGradBiasJs));
  nn.Set("linearGradInput", Napi::Function::New(env, linearGradInputJs));
  nn.Set("softmaxCrossEntropy", Napi::Function::New(env, softmaxCrossEntropyJs));
  nn.Set("countCorrect", Napi::Function::New(env, countCorrectJs));
  nn.Set("gatherRows", Napi::Function::New(env, gatherRowsJs));
  nn.Set("reluForward", Napi::Function::New(env, reluForwardJs));
  nn.Set("reluBackward", Napi::Function::New(env, reluBackwardJs));
  nn.Set("nonFinite", Napi::Function::New(env, nonFiniteJs));
  nn.Set("gemm", Napi::Function::New(env, gemmJs));
  nn.Set("gemmShapes", Napi::Function::New(env, gemmShapesJs));
  nn.Set("benchGemm", Napi::Function::New(env, benchGemmJs));
  nn.Set("fmaPeak", Napi::Function::New(env, fmaPeakJs));
  exports.Set("nn", nn);
}

}  // namespace dtrain
