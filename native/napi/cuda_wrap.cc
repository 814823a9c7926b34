// `binding.cuda`: the CUDA runtime and NCCL as found at run time (gpu/cuda_api.h), and device
// memory for lib/cuda: every call on a machine without a usable device throws
// ERR_DTRAIN_NO_GPU naming the libraries tried.
#include <napi.h>

#include "common/error.h"
#include "gpu/cuda_api.h"
#include "gpu/cuda_kernels_loader.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/sparsify.h"
#include "napi/errors.h"
#include "napi/instance.h"
#include "napi/wraps.h"

namespace dtrain {

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The runtime with at least one device, or the error saying what was tried and why not.
const CudaRuntime& usableRuntime(const char* who) {
  GpuProbe p = probeGpu();
  const CudaRuntime* rt = cudaRuntime();
  if (!rt || p.devices == 0) {
    throw Error(ErrorCode::kNoGpu, std::string(who) +
                                       ": no CUDA device or library was found (tried " +
                                       joined(p.cudartTried) + ": " +
                                       (p.cudartError.empty() ? "no device" : p.cudartError) + ")");
  }
  return *rt;
}

Napi::Object probe(Napi::Env env) {
  const GpuProbe p = probeGpu();
  Napi::Object o = Napi::Object::New(env);
  Napi::Object c = Napi::Object::New(env);
  const CudaRuntime* rt = cudaRuntime();
  c.Set("usable", rt != nullptr && p.devices > 0);
  c.Set("library", rt ? Napi::Value(Napi::String::New(env, rt->library)) : env.Null());
  c.Set("tried", strings(env, p.cudartTried));
  c.Set("devices", p.devices);
  c.Set("runtimeVersion", p.runtimeVersion);
  c.Set("driverVersion", p.driverVersion);
  c.Set("reason", p.cudartError.empty()
                      ? std::string("CUDA runtime ") + std::to_string(p.runtimeVersion) + " with " +
                            std::to_string(p.devices) + " device(s)"
                      : p.cudartError);
  o.Set("cuda", c);
  Napi::Object n = Napi::Object::New(env);
  const Nccl* nc = nccl();
  n.Set("usable", nc != nullptr && p.devices > 0);
  n.Set("library", nc ? Napi::Value(Napi::String::New(env, nc->library)) : env.Null());
  n.Set("tried", strings(env, p.ncclTried));
  n.Set("version", nc ? nc->version : 0);
  n.Set("reason", !p.ncclError.empty() ? p.ncclError
                  : p.devices == 0 ? std::string("NCCL ") + std::to_string(nc ? nc->version : 0) +
                                         " is present, but there is no CUDA device"
                                   : std::string("NCCL ") + std::to_string(nc ? nc->version : 0));
  o.Set("nccl", n);
  Napi::Object k = Napi::Object::New(env);
  std::string why;
  const DtrainCudaKernels* kt = cudaKernels(&why);
  k.Set("loaded", kt != nullptr);
  k.Set("library", kt ? Napi::Value(Napi::String::New(env, cudaKernelsPath())) : env.Null());
  k.Set("reason", kt ? std::string(kt->describe()) : why);
  o.Set("kernels", k);
  return o;
}

class DeviceMemory : public Napi::ObjectWrap<DeviceMemory> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "DeviceMemory",
                       {InstanceMethod<&DeviceMemory::upload>("upload"),
                        InstanceMethod<&DeviceMemory::download>("download"),
                        InstanceMethod<&DeviceMemory::copyDevice>("copyDevice"),
                        InstanceMethod<&DeviceMemory::release>("free"),
                        InstanceAccessor<&DeviceMemory::getBytes>("bytes"),
                        InstanceAccessor<&DeviceMemory::getDevice>("device")});
  }

  // new DeviceMemory(bytes, device)
  explicit DeviceMemory(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceMemory>(info) {
    Napi::Env env = info.Env();
    bytes_ = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
    device_ = info[1].As<Napi::Number>().Int32Value();
    guarded(env, [&] {
      const CudaRuntime& rt = usableRuntime("dtrain.cuda.alloc");
      rt.check(rt.setDevice(device_), "cudaSetDevice");
      rt.check(rt.malloc(&ptr_, bytes_ == 0 ? 1 : bytes_), "cudaMalloc");
      rt_ = &rt;
    });
  }
  ~DeviceMemory() override {
    if (ptr_ && rt_) rt_->free(ptr_);
  }

  // For the collectives and kernels: throws when freed.
  DeviceView view(Napi::Env env) const {
    if (!ptr_) throw Napi::Error::New(env, "dtrain.cuda: this device buffer was freed");
    return {ptr_, bytes_, device_};
  }

 private:
  // upload(typedArray, offsetBytes): host -> device.
  Napi::Value upload(const Napi::CallbackInfo& info) { return copy(info, kCudaMemcpyHostToDevice); }
  // download(typedArray, offsetBytes): device -> host.
  Napi::Value download(const Napi::CallbackInfo& info) {
    return copy(info, kCudaMemcpyDeviceToHost);
  }

  Napi::Value copy(const Napi::CallbackInfo& info, int kind) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "a TypedArray is needed");
    Napi::TypedArray a = info[0].As<Napi::TypedArray>();
    const size_t offset =
        info[1].IsNumber() ? static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue()) : 0;
    if (!ptr_) throw Napi::Error::New(env, "dtrain.cuda: this device buffer was freed");
    if (offset + a.ByteLength() > bytes_)
      throw Napi::RangeError::New(env, "dtrain.cuda: the copy runs past the device buffer's end");
    uint8_t* host = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
    uint8_t* dev = static_cast<uint8_t*>(ptr_) + offset;
    guarded(env, [&] {
      rt_->check(rt_->setDevice(device_), "cudaSetDevice");
      rt_->check(kind == kCudaMemcpyHostToDevice ? rt_->memcpy(dev, host, a.ByteLength(), kind)
                                                 : rt_->memcpy(host, dev, a.ByteLength(), kind),
                 "cudaMemcpy");
      // cudaMemcpy from pageable memory may return before the DMA lands, and the collectives'
      // and kernels' non-blocking streams do not wait for the default stream: done means done.
      rt_->check(rt_->streamSynchronize(nullptr), "cudaStreamSynchronize");
    });
    return info[0];
  }

  // copyDevice(src, srcOffsetBytes, dstOffsetBytes, bytes): device -> device (peer copies
  // between devices go through cudaMemcpy's unified addressing).
  Napi::Value copyDevice(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() ||
        !info[0].As<Napi::Object>().InstanceOf(instanceData(env).deviceMemoryClass.Value())) {
      throw Napi::TypeError::New(env, "dtrain.cuda: src must be a device buffer");
    }
    const DeviceView src = Unwrap(info[0].As<Napi::Object>())->view(env), dst = view(env);
    const size_t so = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
    const size_t d = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
    const size_t n = static_cast<size_t>(info[3].As<Napi::Number>().DoubleValue());
    if (so + n > src.bytes || d + n > dst.bytes)
      throw Napi::RangeError::New(env, "dtrain.cuda: the copy runs past a buffer's end");
    guarded(env, [&] {
      rt_->check(rt_->setDevice(device_), "cudaSetDevice");
      rt_->check(
          rt_->memcpy(static_cast<uint8_t*>(dst.ptr) + d, static_cast<const uint8_t*>(src.ptr) + so,
                      n, kCudaMemcpyDeviceToDevice),
          "cudaMemcpy");
      // A device-to-device cudaMemcpy does not wait on the host (CUDA's "API synchronization
      // behavior"): finish it here, as copyFrom does.
      rt_->check(rt_->streamSynchronize(nullptr), "cudaStreamSynchronize");
    });
    return env.Undefined();
  }

  Napi::Value release(const Napi::CallbackInfo& info) {
    if (ptr_ && rt_) rt_->free(ptr_);
    ptr_ = nullptr;
    return info.Env().Undefined();
  }
  Napi::Value getBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
  }
  Napi::Value getDevice(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), device_);
  }

  const CudaRuntime* rt_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
};

// A CUDA stream of one device: copies, kernels and device collectives given it are ordered on
// it. Created non-blocking, so it does not wait for the legacy default stream.
class Stream : public Napi::ObjectWrap<Stream> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "Stream",
        {InstanceMethod<&Stream::synchronize>("synchronize"),
         InstanceMethod<&Stream::query>("query"), InstanceMethod<&Stream::destroy>("destroy"),
         InstanceAccessor<&Stream::getDevice>("device")});
  }

  // new Stream(device)
  explicit Stream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Stream>(info) {
    Napi::Env env = info.Env();
    device_ = info[0].As<Napi::Number>().Int32Value();
    guarded(env, [&] {
      const CudaRuntime& rt = usableRuntime("dtrain.cuda.stream");
      rt.check(rt.setDevice(device_), "cudaSetDevice");
      rt.check(rt.streamCreateWithFlags(&stream_, kCudaStreamNonBlocking),
               "cudaStreamCreateWithFlags");
      rt_ = &rt;
    });
  }
  ~Stream() override {
    if (stream_ && rt_) rt_->streamDestroy(stream_);
  }

  cudaStream handle(Napi::Env env) const {
    if (!stream_) throw Napi::Error::New(env, "dtrain.cuda: this stream was destroyed");
    return stream_;
  }
  int device() const { return device_; }

 private:
  Napi::Value synchronize(const Napi::CallbackInfo& info) {
    guarded(info.Env(), [&] {
      rt_->check(rt_->streamSynchronize(handle(info.Env())), "cudaStreamSynchronize");
    });
    return info.Env().Undefined();
  }
  // True when everything queued on it has run.
  Napi::Value query(const Napi::CallbackInfo& info) {
    int rc = 0;
    cudaStream s = handle(info.Env());
    guarded(info.Env(), [&] {
      rc = rt_->streamQuery ? rt_->streamQuery(s) : rt_->streamSynchronize(s);
      if (rc != 0 && rc != kCudaErrorNotReady) rt_->check(rc, "cudaStreamQuery");
    });
    return Napi::Boolean::New(info.Env(), rc == 0);
  }
  Napi::Value destroy(const Napi::CallbackInfo& info) {
    if (stream_ && rt_) rt_->streamDestroy(stream_);
    stream_ = nullptr;
    return info.Env().Undefined();
  }
  Napi::Value getDevice(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), device_);
  }

  const CudaRuntime* rt_ = nullptr;
  cudaStream stream_ = nullptr;
  int device_ = 0;
};

cudaStream streamArg(Napi::Env env, Napi::Value v, int device) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  InstanceData& d = instanceData(env);
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(d.streamClass.Value())) {
    throw Napi::TypeError::New(env, "stream must be a dtrain.cuda Stream");
  }
  Stream* s = Stream::Unwrap(v.As<Napi::Object>());
  if (s->device() != device) {
    throw Napi::RangeError::New(env, "the stream is on device " + std::to_string(s->device()) +
                                         ", the buffer on " + std::to_string(device));
  }
  return s->handle(env);
}

DeviceView viewArg(Napi::Env env, Napi::Value v, const char* name) {
  DeviceView out;
  if (!deviceViewOf(env, v, &out))
    throw Napi::TypeError::New(env, std::string(name) + " must be a device buffer");
  return out;
}

// The kernels library, loaded: throws ERR_DTRAIN_NO_GPU saying why not.
const DtrainCudaKernels& kernelsOrThrow(const char* who) {
  std::string why;
  const DtrainCudaKernels* k = cudaKernels(&why);
  if (!k)
    throw Error(ErrorCode::kNoGpu,
                std::string(who) + ": the CUDA kernels are not available: " + why);
  return *k;
}

void kcheck(const DtrainCudaKernels& k, int rc) {
  if (rc != 0) throw Error(ErrorCode::kSystem, k.lastError());
}

// loadKernels(path): loads libdtrain_cuda.so; returns what it says of itself, or throws.
Napi::Value loadKernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string why;
  const DtrainCudaKernels* k = loadCudaKernels(info[0].As<Napi::String>().Utf8Value(), &why);
  if (!k) throw toJsError(env, Status{false, ErrorCode::kNoGpu, why, {}});
  return Napi::String::New(env, k->describe());
}

// The kernels on device buffers. Element counts and offsets are checked in lib/cuda; here the
// byte ranges are checked again against each buffer, since a wrong one would write past it.
// A kernel reads and writes one device's memory: another device's pointer would fault (and a
// fault ends the process's CUDA context).
void sameDevice(Napi::Env env, const DeviceView& a, const DeviceView& b) {
  if (a.device != b.device) {
    throw Napi::RangeError::New(env, "the buffers are on devices " + std::to_string(a.device) +
                                         " and " + std::to_string(b.device) +
                                         ": a kernel's buffers must be on one device");
  }
}

void needBytes(Napi::Env env, const DeviceView& v, size_t bytes, const char* name) {
  if (bytes > v.bytes)
    throw Napi::RangeError::New(env, std::string(name) + " is too small for the call");
}

// A cast's arguments: (src, dst, n, scale, bfloat16, stream?), src of srcBytes per element and
// dst of dstBytes.
struct CastArgs {
  DeviceView src, dst;
  size_t n;
  float scale;
  bool bf16;
  cudaStream stream;
  CastArgs(const Napi::CallbackInfo& info, size_t srcBytes, size_t dstBytes) {
    Napi::Env env = info.Env();
    src = viewArg(env, info[0], "src");
    dst = viewArg(env, info[1], "dst");
    n = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
    needBytes(env, src, n * srcBytes, "src");
    needBytes(env, dst, n * dstBytes, "dst");
    sameDevice(env, src, dst);
    scale = info[3].As<Napi::Number>().FloatValue();
    bf16 = info[4].ToBoolean();
    stream = streamArg(env, info[5], src.device);
  }
};

// castToHalf(src, dst, n, scale, bfloat16, stream?)
Napi::Value castToHalfJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CastArgs a(info, 4, 2);
  guarded(env, [&] {
    const DtrainCudaKernels& k = kernelsOrThrow("dtrain.cuda.castToHalf");
    kcheck(k, k.setDevice(a.src.device));
    kcheck(k, k.castToHalf(static_cast<const float*>(a.src.ptr), static_cast<uint16_t*>(a.dst.ptr),
                           a.n, a.scale, a.bf16, a.stream));
  });
  return env.Undefined();
}

// castFromHalf(src, dst, n, scale, bfloat16, stream?) -> whether any output is inf or NaN.
// Synchronizes the stream (the answer is on the device until then).
Napi::Value castFromHalfJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CastArgs a(info, 2, 4);
  int flag = 0;
  guarded(env, [&] {
    const CudaRuntime& rt = usableRuntime("dtrain.cuda.castFromHalf");
    const DtrainCudaKernels& k = kernelsOrThrow("dtrain.cuda.castFromHalf");
    rt.check(rt.setDevice(a.src.device), "cudaSetDevice");
    kcheck(k, k.setDevice(a.src.device));
    void* dflag = nullptr;
    rt.check(rt.malloc(&dflag, sizeof(int)), "cudaMalloc");
    struct Free {
      const CudaRuntime& rt;
      void* p;
      ~Free() { rt.free(p); }
    } guard{rt, dflag};
    rt.check(rt.memsetAsync(dflag, 0, sizeof(int), a.stream), "cudaMemsetAsync");
    kcheck(k,
           k.castFromHalf(static_cast<const uint16_t*>(a.src.ptr), static_cast<float*>(a.dst.ptr),
                          a.n, a.scale, a.bf16, static_cast<int*>(dflag), a.stream));
    rt.check(rt.streamSynchronize(a.stream), "cudaStreamSynchronize");
    rt.check(rt.memcpy(&flag, dflag, sizeof(int), kCudaMemcpyDeviceToHost), "cudaMemcpy");
  });
  return Napi::Boolean::New(env, flag != 0);
}

// reduce(dtype, op, dst, src, n, stream?): dst = dst op src.
Napi::Value reduceJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int dtype = info[0].As<Napi::Number>().Int32Value(),
            op = info[1].As<Napi::Number>().Int32Value();
  if (!validDType(dtype) || !validReduceOp(op))
    throw Napi::RangeError::New(env, "unknown dtype or op");
  const DeviceView dst = viewArg(env, info[2], "dst"), src = viewArg(env, info[3], "src");
  const size_t n = static_cast<size_t>(info[4].As<Napi::Number>().DoubleValue());
  const size_t es = dtypeSize(static_cast<DType>(dtype));
  needBytes(env, dst, n * es, "dst");
  needBytes(env, src, n * es, "src");
  sameDevice(env, dst, src);
  cudaStream s = streamArg(env, info[5], dst.device);
  guarded(env, [&] {
    const DtrainCudaKernels& k = kernelsOrThrow("dtrain.cuda.reduce");
    kcheck(k, k.setDevice(dst.device));
    kcheck(k, k.reduce(dtype, op, dst.ptr, src.ptr, n, s));
  });
  return env.Undefined();
}

// scale(dtype, dst, n, divisor, stream?): dst /= divisor.
Napi::Value scaleJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int dtype = info[0].As<Napi::Number>().Int32Value();
  if (!validDType(dtype)) throw Napi::RangeError::New(env, "unknown dtype");
  const DeviceView dst = viewArg(env, info[1], "dst");
  const size_t n = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
  needBytes(env, dst, n * dtypeSize(static_cast<DType>(dtype)), "dst");
  const int divisor = info[3].As<Napi::Number>().Int32Value();
  cudaStream s = streamArg(env, info[4], dst.device);
  guarded(env, [&] {
    const DtrainCudaKernels& k = kernelsOrThrow("dtrain.cuda.scale");
    kcheck(k, k.setDevice(dst.device));
    kcheck(k, k.scale(dtype, dst.ptr, n, divisor, s));
  });
  return env.Undefined();
}

// The slots of a multi-tensor step: [{ weights, grad, state, weights16?, exclude }], device
// buffers of float32 (grad: float16 bits when gradHalf), all on one device.
std::vector<TensorSlot> slotsArg(Napi::Env env, Napi::Value v, bool gradHalf, int* device) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "tensors must be an Array");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<TensorSlot> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Object t = a.Get(i).As<Napi::Object>();
    const DeviceView w = viewArg(env, t.Get("weights"), "weights"),
                     g = viewArg(env, t.Get("grad"), "grad"),
                     st = viewArg(env, t.Get("state"), "state");
    const size_t n = w.bytes / 4;
    if (i == 0) *device = w.device;
    if (w.device != *device || g.device != *device || st.device != *device) {
      throw Napi::RangeError::New(env, "every tensor of one step must be on one device");
    }
    needBytes(env, g, n * (gradHalf ? 2 : 4), "grad");
    needBytes(env, st, n * 4, "state");
    TensorSlot& s = out[i];
    s.weights = static_cast<float*>(w.ptr);
    s.grad = g.ptr;
    s.state = static_cast<float*>(st.ptr);
    s.weights16 = nullptr;
    Napi::Value w16 = t.Get("weights16");
    if (!w16.IsUndefined() && !w16.IsNull()) {
      const DeviceView h = viewArg(env, w16, "weights16");
      needBytes(env, h, n * 2, "weights16");
      sameDevice(env, w, h);
      s.weights16 = static_cast<uint16_t*>(h.ptr);
    }
    s.n = n;
    s.exclude = t.Get("exclude").ToBoolean();
  }
  return out;
}

float floatOpt(const Napi::Object& o, const char* k, float d) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().FloatValue() : d;
}

// The options SGD and LARS share.
template <typename Options>
Options stepOptions(const Napi::Object& o) {
  Options p;
  p.lr = floatOpt(o, "lr", p.lr);
  p.momentum = floatOpt(o, "momentum", p.momentum);
  p.weightDecay = floatOpt(o, "weightDecay", p.weightDecay);
  p.gradScale = floatOpt(o, "gradScale", p.gradScale);
  p.gradHalf = o.Get("gradHalf").ToBoolean();
  p.checkFinite = o.Has("checkFinite") ? o.Get("checkFinite").ToBoolean().Value() : true;
  return p;
}

// (options, tensors, stream?): one multi-tensor step, launched by `launch(kernels, slots, stream)`.
template <typename Options, typename Launch>
Napi::Value runStep(const Napi::CallbackInfo& info, const char* who, const Options& p,
                    Launch launch) {
  Napi::Env env = info.Env();
  int device = 0;
  const std::vector<TensorSlot> slots = slotsArg(env, info[1], p.gradHalf, &device);
  cudaStream s = streamArg(env, info[2], device);
  guarded(env, [&] {
    const DtrainCudaKernels& k = kernelsOrThrow(who);
    kcheck(k, k.setDevice(device));
    kcheck(k, launch(k, slots, s));
  });
  return env.Undefined();
}

// sgdStep(options, tensors, stream?) / larsStep(options, tensors, stream?): the fused
// multi-tensor updates on FP32 master weights, skipped on the device when a gradient is inf or
// NaN (checkFinite).
Napi::Value sgdStepJs(const Napi::CallbackInfo& info) {
  const Napi::Object o = info[0].As<Napi::Object>();
  SgdOptions p = stepOptions<SgdOptions>(o);
  p.nesterov = o.Get("nesterov").ToBoolean();
  return runStep(info, "dtrain.cuda.sgdStep", p,
                 [&](const DtrainCudaKernels& k, const std::vector<TensorSlot>& t, cudaStream s) {
                   return k.sgdStep(&p, t.data(), static_cast<int>(t.size()), s);
                 });
}

Napi::Value larsStepJs(const Napi::CallbackInfo& info) {
  const Napi::Object o = info[0].As<Napi::Object>();
  LarsOptions p = stepOptions<LarsOptions>(o);
  p.eta = floatOpt(o, "eta", p.eta);
  return runStep(info, "dtrain.cuda.larsStep", p,
                 [&](const DtrainCudaKernels& k, const std::vector<TensorSlot>& t, cudaStream s) {
                   return k.larsStep(&p, t.data(), static_cast<int>(t.size()), nullptr, s);
                 });
}

// ---- compression kernels on device buffers (codes laid out as on the CPU, quantize.h) ------

size_t sizeArg(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<size_t>(info[i].As<Napi::Number>().DoubleValue());
}

// Runs `launch(kernels)` on `device` with the kernels loaded, turning a failure into a JS error.
template <typename Launch>
void onKernels(Napi::Env env, const char* who, int device, Launch launch) {
  guarded(env, [&] {
    const DtrainCudaKernels& k = kernelsOrThrow(who);
    kcheck(k, k.setDevice(device));
    kcheck(k, launch(k));
  });
}

// qsgdEncode(x, code, n, levels, seed, norm (< 0: compute it), stream?) -> the norm used.
Napi::Value qsgdEncodeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DeviceView x = viewArg(env, info[0], "x"), code = viewArg(env, info[1], "code");
  const size_t n = sizeArg(info, 2);
  const uint32_t levels = info[3].As<Napi::Number>().Uint32Value();
  needBytes(env, x, n * 4, "x");
  needBytes(env, code, qsgdCodeBytes(n, levels), "code");
  sameDevice(env, x, code);
  const uint32_t seed = info[4].As<Napi::Number>().Uint32Value();
  const float norm = info[5].As<Napi::Number>().FloatValue();
  cudaStream s = streamArg(env, info[6], x.device);
  float used = 0;
  onKernels(env, "dtrain.cuda.qsgdEncode", x.device, [&](const DtrainCudaKernels& k) {
    return k.qsgdEncode(static_cast<const float*>(x.ptr), n, levels, seed,
                        static_cast<uint8_t*>(code.ptr), norm, &used, s);
  });
  return Napi::Number::New(env, used);
}

// The decoders: (code, out, n, <levels,> scale or norm, accumulate, stream?).
Napi::Value qsgdDecodeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DeviceView code = viewArg(env, info[0], "code"), out = viewArg(env, info[1], "out");
  const size_t n = sizeArg(info, 2);
  const uint32_t levels = info[3].As<Napi::Number>().Uint32Value();
  needBytes(env, code, qsgdCodeBytes(n, levels), "code");
  needBytes(env, out, n * 4, "out");
  sameDevice(env, code, out);
  const float norm = info[4].As<Napi::Number>().FloatValue();
  const int acc = info[5].ToBoolean() ? 1 : 0;
  cudaStream s = streamArg(env, info[6], out.device);
  onKernels(env, "dtrain.cuda.qsgdDecode", out.device, [&](const DtrainCudaKernels& k) {
    return k.qsgdDecode(static_cast<const uint8_t*>(code.ptr), n, levels, norm,
                        static_cast<float*>(out.ptr), acc, s);
  });
  return env.Undefined();
}

// ternGradEncode(x, code, n, seed, stream?) -> the scale (max |x|).
Napi::Value ternGradEncodeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DeviceView x = viewArg(env, info[0], "x"), code = viewArg(env, info[1], "code");
  const size_t n = sizeArg(info, 2);
  needBytes(env, x, n * 4, "x");
  needBytes(env, code, ternGradCodeBytes(n), "code");
  sameDevice(env, x, code);
  const uint32_t seed = info[3].As<Napi::Number>().Uint32Value();
  cudaStream s = streamArg(env, info[4], x.device);
  float scale = 0;
  onKernels(env, "dtrain.cuda.ternGradEncode", x.device, [&](const DtrainCudaKernels& k) {
    return k.ternGradEncode(static_cast<const float*>(x.ptr), n, seed,
                            static_cast<uint8_t*>(code.ptr), &scale, s);
  });
  return Napi::Number::New(env, scale);
}

// ternGradDecode / signDecode(code, out, n, scale, accumulate, stream?); `planes` bit planes.
template <typename Decode>
Napi::Value planesDecode(const Napi::CallbackInfo& info, const char* who, size_t planes,
                         Decode decode) {
  Napi::Env env = info.Env();
  const DeviceView code = viewArg(env, info[0], "code"), out = viewArg(env, info[1], "out");
  const size_t n = sizeArg(info, 2);
  needBytes(env, code, planes * bitPlaneBytes(n), "code");
  needBytes(env, out, n * 4, "out");
  sameDevice(env, code, out);
  const float scale = info[3].As<Napi::Number>().FloatValue();
  const int acc = info[4].ToBoolean() ? 1 : 0;
  cudaStream s = streamArg(env, info[5], out.device);
  onKernels(env, who, out.device, [&](const DtrainCudaKernels& k) {
    return decode(k, static_cast<const uint8_t*>(code.ptr), n, scale, static_cast<float*>(out.ptr),
                  acc, s);
  });
  return env.Undefined();
}

Napi::Value ternGradDecodeJs(const Napi::CallbackInfo& info) {
  return planesDecode(info, "dtrain.cuda.ternGradDecode", 2,
                      [](const DtrainCudaKernels& k, auto... a) { return k.ternGradDecode(a...); });
}

Napi::Value signDecodeJs(const Napi::CallbackInfo& info) {
  return planesDecode(info, "dtrain.cuda.signDecode", 1,
                      [](const DtrainCudaKernels& k, auto... a) { return k.signDecode(a...); });
}

// signEncode(grad, residual, code, n, stream?) -> the scale (1-bit SGD with error feedback).
Napi::Value signEncodeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DeviceView g = viewArg(env, info[0], "grad"), r = viewArg(env, info[1], "residual"),
                   code = viewArg(env, info[2], "code");
  const size_t n = sizeArg(info, 3);
  needBytes(env, g, n * 4, "grad");
  needBytes(env, r, n * 4, "residual");
  needBytes(env, code, bitPlaneBytes(n), "code");
  sameDevice(env, g, r);
  sameDevice(env, g, code);
  cudaStream s = streamArg(env, info[4], g.device);
  float scale = 0;
  onKernels(env, "dtrain.cuda.signEncode", g.device, [&](const DtrainCudaKernels& k) {
    return k.signEncode(static_cast<const float*>(g.ptr), static_cast<float*>(r.ptr), n,
                        static_cast<uint8_t*>(code.ptr), &scale, s);
  });
  return Napi::Number::New(env, scale);
}

// dgcStep(u, v, g, n, options, idx, values, half, stream?) -> pairs written (values: float32,
// or float16 bits when half).
Napi::Value dgcStepJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DeviceView u = viewArg(env, info[0], "u"), v = viewArg(env, info[1], "v"),
                   g = viewArg(env, info[2], "grad");
  const size_t n = sizeArg(info, 3);
  const Napi::Object o = info[4].As<Napi::Object>();
  DgcOptions p;
  p.momentum = floatOpt(o, "momentum", p.momentum);
  p.density = floatOpt(o, "density", p.density);
  p.sampleRatio = floatOpt(o, "sampleRatio", p.sampleRatio);
  if (o.Get("seed").IsNumber()) p.seed = o.Get("seed").As<Napi::Number>().Uint32Value();
  if (o.Get("maxRounds").IsNumber())
    p.maxRounds = o.Get("maxRounds").As<Napi::Number>().Int32Value();
  const DeviceView idx = viewArg(env, info[5], "idx"), val = viewArg(env, info[6], "values");
  const bool half = info[7].ToBoolean();
  for (const DeviceView* b : {&u, &v, &g}) needBytes(env, *b, n * 4, "u, v and grad");
  const size_t target = dgcTargetCount(n, p.density);
  needBytes(env, idx, target * 4, "idx");
  needBytes(env, val, target * (half ? 2 : 4), "values");
  for (const DeviceView* b : {&v, &g, &idx, &val}) sameDevice(env, u, *b);
  cudaStream s = streamArg(env, info[8], u.device);
  size_t count = 0;
  onKernels(env, "dtrain.cuda.dgcStep", u.device, [&](const DtrainCudaKernels& k) {
    return k.dgcStep(static_cast<float*>(u.ptr), static_cast<float*>(v.ptr),
                     static_cast<const float*>(g.ptr), n, &p, static_cast<uint32_t*>(idx.ptr),
                     half ? nullptr : static_cast<float*>(val.ptr),
                     half ? static_cast<uint16_t*>(val.ptr) : nullptr, &count, s);
  });
  return Napi::Number::New(env, static_cast<double>(count));
}

// scatterAdd(dense, idx, values, count, half, stream?): dense[idx[i]] += values[i]; an index
// past dense's end is skipped on the GPU and fails the call.
Napi::Value scatterAddJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DeviceView dense = viewArg(env, info[0], "dense"), idx = viewArg(env, info[1], "idx"),
                   val = viewArg(env, info[2], "values");
  const size_t count = sizeArg(info, 3);
  const bool half = info[4].ToBoolean();
  needBytes(env, idx, count * 4, "idx");
  needBytes(env, val, count * (half ? 2 : 4), "values");
  sameDevice(env, dense, idx);
  sameDevice(env, dense, val);
  cudaStream s = streamArg(env, info[5], dense.device);
  onKernels(env, "dtrain.cuda.scatterAdd", dense.device, [&](const DtrainCudaKernels& k) {
    return k.scatterAdd(static_cast<float*>(dense.ptr), dense.bytes / 4,
                        static_cast<const uint32_t*>(idx.ptr),
                        half ? nullptr : static_cast<const float*>(val.ptr),
                        half ? static_cast<const uint16_t*>(val.ptr) : nullptr, count, s);
  });
  return env.Undefined();
}

Napi::Value probeJs(const Napi::CallbackInfo& info) { return probe(info.Env()); }

// deviceCount(): 0 without a runtime or a device.
Napi::Value deviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), probeGpu().devices);
}

}  // namespace

void registerCuda(Napi::Env env, Napi::Object exports) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("probe", Napi::Function::New(env, probeJs));
  c.Set("deviceCount", Napi::Function::New(env, deviceCount));
  Napi::Function memory = DeviceMemory::define(env), stream = Stream::define(env);
  instanceData(env).deviceMemoryClass = Napi::Persistent(memory);
  instanceData(env).streamClass = Napi::Persistent(stream);
  c.Set("DeviceMemory", memory);
  c.Set("Stream", stream);
  c.Set("loadKernels", Napi::Function::New(env, loadKernels));
  c.Set("castToHalf", Napi::Function::New(env, castToHalfJs));
  c.Set("castFromHalf", Napi::Function::New(env, castFromHalfJs));
  c.Set("reduce", Napi::Function::New(env, reduceJs));
  c.Set("scale", Napi::Function::New(env, scaleJs));
  c.Set("sgdStep", Napi::Function::New(env, sgdStepJs));
  c.Set("larsStep", Napi::Function::New(env, larsStepJs));
  c.Set("qsgdEncode", Napi::Function::New(env, qsgdEncodeJs));
  c.Set("qsgdDecode", Napi::Function::New(env, qsgdDecodeJs));
  c.Set("ternGradEncode", Napi::Function::New(env, ternGradEncodeJs));
  c.Set("ternGradDecode", Napi::Function::New(env, ternGradDecodeJs));
  c.Set("signEncode", Napi::Function::New(env, signEncodeJs));
  c.Set("signDecode", Napi::Function::New(env, signDecodeJs));
  c.Set("dgcStep", Napi::Function::New(env, dgcStepJs));
  c.Set("scatterAdd", Napi::Function::New(env, scatterAddJs));
  exports.Set("cuda", c);
}

bool deviceViewOf(Napi::Env env, Napi::Value v, DeviceView* out) {
  InstanceData& d = instanceData(env);
  if (!v.IsObject() || d.deviceMemoryClass.IsEmpty() ||
      !v.As<Napi::Object>().InstanceOf(d.deviceMemoryClass.Value())) {
    return false;
  }
  *out = DeviceMemory::Unwrap(v.As<Napi::Object>())->view(env);
  return true;
}

std::shared_ptr<void> recordReady(Napi::Env env, Napi::Value stream, int device) {
  cudaStream s = streamArg(env, stream, device);
  std::shared_ptr<void> out;
  guarded(env, [&] {
    const CudaRuntime& rt = usableRuntime("a collective on device buffers");
    rt.check(rt.setDevice(device), "cudaSetDevice");
    cudaEvent ev = nullptr;
    rt.check(rt.eventCreateWithFlags(&ev, kCudaEventDisableTiming), "cudaEventCreateWithFlags");
    const CudaRuntime* r = &rt;
    out = std::shared_ptr<void>(ev, [r](void* e) { r->eventDestroy(e); });
    rt.check(rt.eventRecord(ev, s), "cudaEventRecord");
  });
  return out;
}

}  // namespace dtrain
