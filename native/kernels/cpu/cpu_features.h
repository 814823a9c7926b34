// The SIMD level of the CPU this process runs on, read from CPUID at run time.
#pragma once

namespace dtrain {

// "avx512" (F+BW+VL), "avx2" (with FMA and F16C), "sse4.2", or "baseline".
const char* detectSimdLevel();

}  // namespace dtrain
