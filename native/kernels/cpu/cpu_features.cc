#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <cstdint>
#endif

namespace dtrain {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// The OS must save the wide registers on context switch, or the instructions fault; XGETBV tells.
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

}  // namespace

const char* detectSimdLevel() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return "baseline";
  const bool sse42 = c & (1u << 20);
  const bool osxsave = c & (1u << 27);
  const bool avx = c & (1u << 28);
  const bool fma = c & (1u << 12);
  const bool f16c = c & (1u << 29);
  if (!osxsave || !avx) return sse42 ? "sse4.2" : "baseline";
  const uint64_t xcr0 = xgetbv0();
  const bool ymmState = (xcr0 & 0x6) == 0x6;
  const bool zmmState = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return sse42 ? "sse4.2" : "baseline";
  const bool avx2 = b & (1u << 5);
  const bool avx512f = b & (1u << 16);
  const bool avx512bw = b & (1u << 30);
  const bool avx512vl = b & (1u << 31);
  if (zmmState && avx512f && avx512bw && avx512vl) return "avx512";
  if (ymmState && avx2 && fma && f16c) return "avx2";
  return sse42 ? "sse4.2" : "baseline";
#else
  return "baseline";
#endif
}

}  // namespace dtrain
