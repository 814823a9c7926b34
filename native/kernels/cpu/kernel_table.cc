#include "kernels/cpu/kernel_table.h"

#include <string>

#include "common/error.h"

namespace dtrain {

const CpuKernelTable& cpuKernels(Isa isa) {
  if (!isaSupported(isa)) {
    throw Error(ErrorCode::kInvalidArgument, std::string("this CPU cannot run the ") +
                                                 isaName(isa) +
                                                 " kernels (best: " + isaName(bestIsa()) + ")");
  }
  switch (isa) {
    case Isa::kAvx2:
      return avx2KernelTable();
    case Isa::kAvx512:
      return avx512KernelTable();
    default:
      return scalarKernelTable();
  }
}

const CpuKernelTable& cpuKernels() {
  static const CpuKernelTable& t = cpuKernels(activeIsa());
  return t;
}

}  // namespace dtrain
