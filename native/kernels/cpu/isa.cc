#include "kernels/cpu/isa.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"
#include "kernels/cpu/cpu_features.h"

namespace dtrain {

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool parseIsa(const char* name, Isa* out) {
  for (int i = 0; i < kIsaCount; ++i) {
    if (std::strcmp(name, isaName(static_cast<Isa>(i))) == 0) {
      *out = static_cast<Isa>(i);
      return true;
    }
  }
  return false;
}

bool isaSupported(Isa isa) {
  const std::string level = detectSimdLevel();
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return level == "avx2" || level == "avx512";
    case Isa::kAvx512:
      return level == "avx512";
  }
  return false;
}

Isa bestIsa() {
  if (isaSupported(Isa::kAvx512)) return Isa::kAvx512;
  if (isaSupported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

namespace {

Isa readIsaFromEnv() {
  const char* forced = std::getenv("DTRAIN_ISA");
  if (!forced || !*forced) return bestIsa();
  Isa isa;
  if (!parseIsa(forced, &isa)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("DTRAIN_ISA=") + forced + " is not one of scalar, avx2, avx512");
  }
  if (!isaSupported(isa)) {
    throw Error(ErrorCode::kInvalidArgument, std::string("DTRAIN_ISA=") + forced +
                                                 ", but this CPU supports at most " +
                                                 isaName(bestIsa()));
  }
  return isa;
}

}  // namespace

Isa activeIsa() {
  static const Isa isa = readIsaFromEnv();
  return isa;
}

}  // namespace dtrain
