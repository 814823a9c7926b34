#include "kernels/cpu/isa.h"

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

struct Forced {
  std::string name, source;
};
Forced& forced() {
  static Forced f;
  return f;
}

Isa resolve() {
  const Forced& f = forced();
  if (f.name.empty()) return bestIsa();
  Isa isa;
  if (!parseIsa(f.name.c_str(), &isa)) {
    throw Error(ErrorCode::kConfig,
                f.source + "=" + f.name + " is not one of scalar, avx2, avx512");
  }
  if (!isaSupported(isa)) {
    throw Error(ErrorCode::kConfig,
                f.source + "=" + f.name + ", but this CPU supports at most " + isaName(bestIsa()));
  }
  return isa;
}

}  // namespace

void forceIsa(const std::string& name, const std::string& source) { forced() = {name, source}; }

const std::string& forcedIsa() { return forced().name; }

Isa activeIsa() {
  static const Isa isa = resolve();
  return isa;
}

}  // namespace dtrain
