// The alpha-beta-gamma model (Thakur, Rabenseifner & Gropp 2005): a message of n bytes takes
// alpha + n*beta seconds, reducing n bytes takes n*gamma. Plain data: the transports' registry
// gives each transport its default, lib/comm/config.ts applies the calibration file and the
// environment, and the simulator, `auto` and the algorithms' closed forms read it.
#pragma once

namespace dtrain {

struct CostModel {
  double alpha = 5e-6;   // seconds per message
  double beta = 1e-10;   // seconds per byte (10 GB/s)
  double gamma = 5e-11;  // seconds per byte reduced (20 GB/s)
  // Messages between ranks of one host (same group), when that link differs; negative = the
  // same as between hosts. This is what makes hierarchical algorithms pay off.
  double alphaIntra = -1;
  double betaIntra = -1;

  double alphaFor(bool sameHost) const { return sameHost && alphaIntra >= 0 ? alphaIntra : alpha; }
  double betaFor(bool sameHost) const { return sameHost && betaIntra >= 0 ? betaIntra : beta; }
};

}  // namespace dtrain
