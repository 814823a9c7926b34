// Which CPU instruction set the kernels use: the best one the CPU has, unless DTRAIN_ISA forces
// a lower one (tests and benchmarks run every level on one machine this way).
#pragma once

#include <cstdint>

namespace dtrain {

enum class Isa : uint8_t { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

constexpr int kIsaCount = 3;

const char* isaName(Isa isa);

// Parses "scalar", "avx2" or "avx512"; false for anything else.
bool parseIsa(const char* name, Isa* out);

// From CPUID (detectSimdLevel): avx2 needs FMA and F16C, avx512 needs F, BW and VL.
bool isaSupported(Isa isa);

Isa bestIsa();

// DTRAIN_ISA if set, else bestIsa(); read once. Throws dtrain::Error (kInvalidArgument) when
// DTRAIN_ISA names an unknown level or one this CPU lacks: silently running another level would
// make a forced test run prove nothing.
Isa activeIsa();

}  // namespace dtrain
