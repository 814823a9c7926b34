// The AVX-512 (F, BW, VL) level of the kernel table. Only this file's functions use these
// instructions: the target is set by a pragma after every header is included, so no inline function
// shared with other files (std::, the reference) is compiled for it, and the same binary runs on
// CPUs without them as long as cpuKernels() is not asked for this level there.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/scalar_kernels.h"
#include "kernels/elementwise.h"

#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
// GCC 12 warns on its own intrinsics' deliberately undefined lanes (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// The reference rounds every multiply and add; so must the vectors (GCC would fuse them into
// FMAs here, where it may).
#pragma GCC optimize("fp-contract=off")
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")
#endif

#include "kernels/cpu/simd_avx512.h"

namespace dtrain {
namespace avx512 {
namespace {

#include "kernels/cpu/simd_kernels-inl.h"

}  // namespace
}  // namespace avx512
}  // namespace dtrain

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

namespace dtrain {

const CpuKernelTable& avx512KernelTable() {
  using namespace avx512;
  static const CpuKernelTable t = DTRAIN_SIMD_TABLE(Isa::kAvx512);
  return t;
}

}  // namespace dtrain
#else
namespace dtrain {
const CpuKernelTable& avx512KernelTable() { return scalarKernelTable(); }
}  // namespace dtrain
#endif
