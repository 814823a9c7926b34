// Which CPU instruction set the kernels use: the best one the CPU has, unless the process forces
// a lower one (DTRAIN_ISA through lib/comm/config.ts, or a test's --isa), which is how tests and
// benchmarks run every level on one machine.
#pragma once

#include <cstdint>
#include <string>

namespace dtrain {

enum class Isa : uint8_t { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

constexpr int kIsaCount = 3;

const char* isaName(Isa isa);

// Parses "scalar", "avx2" or "avx512"; false for anything else.
bool parseIsa(const char* name, Isa* out);

// From CPUID (detectSimdLevel): avx2 needs FMA and F16C, avx512 needs F, BW and VL.
bool isaSupported(Isa isa);

Isa bestIsa();

// Forces the level by name before the first kernel runs (later calls change nothing once a
// kernel has run); `source` names where the name came from, for errors ("DTRAIN_ISA").
void forceIsa(const std::string& name, const std::string& source);
// The forced name, or empty.
const std::string& forcedIsa();

// The forced level if any, else bestIsa(); decided once. Throws dtrain::Error
// (kInvalidArgument) when the forced name is an unknown level or one this CPU lacks: silently
// running another level would make a forced test run prove nothing.
Isa activeIsa();

}  // namespace dtrain
