#include "gpu/cuda_kernels_loader.h"

#include <dlfcn.h>

#include <mutex>

namespace dtrain {

namespace {

std::mutex mu;
const DtrainCudaKernels* loaded = nullptr;
std::string loadedPath;
std::string failure =
    "libdtrain_cuda.so was not loaded (it is loaded on first use where a CUDA device is present)";

}  // namespace

const DtrainCudaKernels* loadCudaKernels(const std::string& path, std::string* why) {
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return loaded;
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    failure = "cannot load " + path + ": " + (e ? e : "dlopen failed");
  } else {
    auto entry = reinterpret_cast<dtrain_cuda_kernels_fn>(dlsym(h, "dtrain_cuda_kernels"));
    const DtrainCudaKernels* t = entry ? entry(kDtrainCudaAbi) : nullptr;
    if (!entry) {
      failure = path + " does not export dtrain_cuda_kernels: it is not dtrain's CUDA library";
    } else if (!t || t->size < sizeof(DtrainCudaKernels)) {
      failure = path + " was built for another version of dtrain (kernel ABI " +
                std::to_string(kDtrainCudaAbi) +
                " wanted): rebuild it with `npm rebuild dtrain` where nvcc is installed";
    } else {
      loaded = t;
      loadedPath = path;
      return loaded;
    }
    dlclose(h);
  }
  if (why) *why = failure;
  return nullptr;
}

const DtrainCudaKernels* cudaKernels(std::string* why) {
  std::lock_guard<std::mutex> lock(mu);
  if (!loaded && why) *why = failure;
  return loaded;
}

std::string cudaKernelsPath() {
  std::lock_guard<std::mutex> lock(mu);
  return loadedPath;
}

}  // namespace dtrain
