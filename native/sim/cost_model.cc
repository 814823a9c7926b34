#include "sim/cost_model.h"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

namespace dtrain {

namespace {

// Reads "<transport>": {"alpha": .., "beta": .., "gamma": ..} from the calibration JSON. The
// file is ours and flat, so a small pattern match is enough.
void applyCalibration(const std::string& path, const std::string& transport, CostModel* m) {
  std::ifstream in(path);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::smatch block;
  if (!std::regex_search(text, block, std::regex("\"" + transport + "\"\\s*:\\s*\\{([^}]*)\\}")))
    return;
  const std::string body = block[1];
  auto field = [&](const char* name, double* out) {
    std::smatch v;
    if (std::regex_search(body, v, std::regex(std::string("\"") + name + "\"\\s*:\\s*([-+0-9.eE]+)")))
      *out = std::strtod(v[1].str().c_str(), nullptr);
  };
  field("alpha", &m->alpha);
  field("beta", &m->beta);
  field("gamma", &m->gamma);
}

void applyEnv(const char* name, double* out) {
  const char* v = std::getenv(name);
  if (!v || !*v) return;
  char* end = nullptr;
  double d = std::strtod(v, &end);
  if (end && *end == '\0' && d >= 0) *out = d;
}

}  // namespace

CostModel costModelFor(const std::string& transport) {
  CostModel m;
  // Defaults: `dtrain bench allreduce --calibrate` on the development machine (2-core AMD EPYC,
  // 2 ranks), rounded; see docs/algorithms.md.
  if (transport == "shm") m = {1e-6, 1.0e-10, 1.2e-10};
  else if (transport == "tcp") m = {2e-5, 4.4e-10, 1.2e-10};
  const char* path = std::getenv("DTRAIN_CALIBRATION");
  if (path && *path) {
    applyCalibration(path, transport, &m);
  } else if (const char* home = std::getenv("HOME")) {
    applyCalibration(std::string(home) + "/.dtrain/calibration.json", transport, &m);
  }
  applyEnv("DTRAIN_ALPHA", &m.alpha);
  applyEnv("DTRAIN_BETA", &m.beta);
  applyEnv("DTRAIN_GAMMA", &m.gamma);
  return m;
}

}  // namespace dtrain
