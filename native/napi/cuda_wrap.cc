// `binding.cuda`: the CUDA runtime and NCCL as found at run time (gpu/cuda_api.h), and device
// memory for lib/cuda: every call on a machine without a usable device throws
// ERR_DTRAIN_NO_GPU naming the libraries tried.
#include <napi.h>

#include "common/error.h"
#include "gpu/cuda_api.h"
#include "napi/errors.h"
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
    throw Error(ErrorCode::kNoGpu, std::string(who) + ": no CUDA device or library was found (tried " + joined(p.cudartTried) +
                                        ": " + (p.cudartError.empty() ? "no device" : p.cudartError) + ")");
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
  c.Set("reason", p.cudartError.empty() ? std::string("CUDA runtime ") + std::to_string(p.runtimeVersion) + " with " +
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
                  : p.devices == 0   ? std::string("NCCL ") + std::to_string(nc ? nc->version : 0) + " is present, but there is no CUDA device"
                                     : std::string("NCCL ") + std::to_string(nc ? nc->version : 0));
  o.Set("nccl", n);
  return o;
}

class DeviceMemory : public Napi::ObjectWrap<DeviceMemory> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "DeviceMemory",
                       {InstanceMethod<&DeviceMemory::upload>("upload"), InstanceMethod<&DeviceMemory::download>("download"),
                        InstanceMethod<&DeviceMemory::release>("free"), InstanceAccessor<&DeviceMemory::getBytes>("bytes"),
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

 private:
  // upload(typedArray, offsetBytes): host -> device.
  Napi::Value upload(const Napi::CallbackInfo& info) { return copy(info, kCudaMemcpyHostToDevice); }
  // download(typedArray, offsetBytes): device -> host.
  Napi::Value download(const Napi::CallbackInfo& info) { return copy(info, kCudaMemcpyDeviceToHost); }

  Napi::Value copy(const Napi::CallbackInfo& info, int kind) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "a TypedArray is needed");
    Napi::TypedArray a = info[0].As<Napi::TypedArray>();
    const size_t offset = info[1].IsNumber() ? static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue()) : 0;
    if (!ptr_) throw Napi::Error::New(env, "dtrain.cuda: this device buffer was freed");
    if (offset + a.ByteLength() > bytes_) throw Napi::RangeError::New(env, "dtrain.cuda: the copy runs past the device buffer's end");
    uint8_t* host = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
    uint8_t* dev = static_cast<uint8_t*>(ptr_) + offset;
    guarded(env, [&] {
      rt_->check(rt_->setDevice(device_), "cudaSetDevice");
      rt_->check(kind == kCudaMemcpyHostToDevice ? rt_->memcpy(dev, host, a.ByteLength(), kind)
                                                 : rt_->memcpy(host, dev, a.ByteLength(), kind),
                 "cudaMemcpy");
    });
    return info[0];
  }

  Napi::Value release(const Napi::CallbackInfo& info) {
    if (ptr_ && rt_) rt_->free(ptr_);
    ptr_ = nullptr;
    return info.Env().Undefined();
  }
  Napi::Value getBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(bytes_)); }
  Napi::Value getDevice(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }

  const CudaRuntime* rt_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  int device_ = 0;
};

Napi::Value probeJs(const Napi::CallbackInfo& info) { return probe(info.Env()); }

// deviceCount(): 0 without a runtime or a device.
Napi::Value deviceCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), probeGpu().devices); }

}  // namespace

void registerCuda(Napi::Env env, Napi::Object exports) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("probe", Napi::Function::New(env, probeJs));
  c.Set("deviceCount", Napi::Function::New(env, deviceCount));
  c.Set("DeviceMemory", DeviceMemory::define(env));
  exports.Set("cuda", c);
}

}  // namespace dtrain
