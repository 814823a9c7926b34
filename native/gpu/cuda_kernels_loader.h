// libdtrain_cuda.so, the CUDA kernels (kernels/cuda/kernels_abi.h), loaded with dlopen from the
// path lib/cuda finds beside the addon, and only where a GPU is present: the addon itself never
// links CUDA.
#pragma once

#include <string>

#include "kernels/cuda/kernels_abi.h"

namespace dtrain {

// Loads the library at `path` once (later calls return the first one loaded, whatever their
// path); null with the reason in `why` when it cannot be opened or is of another ABI.
const DtrainCudaKernels* loadCudaKernels(const std::string& path, std::string* why);
// The loaded library, or null (with the reason in `why`: never asked for, or why it failed).
const DtrainCudaKernels* cudaKernels(std::string* why = nullptr);
// The path it was loaded from ("" when none is).
std::string cudaKernelsPath();

}  // namespace dtrain
