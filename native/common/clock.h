// Deadlines: every wait in the core is bounded by one.
#pragma once

#include <chrono>
#include <cstdint>

namespace dtrain {

using Clock = std::chrono::steady_clock;

struct Deadline {
  Clock::time_point at;
  static Deadline after(double seconds) {
    // Beyond about 292 years the clock's nanosecond count would overflow (and the deadline
    // pass at once): treat anything over 100 years as "no deadline" of 100 years.
    constexpr double kMax = 100.0 * 365 * 24 * 3600;
    if (!(seconds < kMax)) seconds = kMax;
    return {Clock::now() + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds))};
  }
  bool passed() const { return Clock::now() >= at; }
  // Milliseconds left, clamped to [0, cap].
  int msLeft(int cap) const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now()).count();
    if (left < 0) return 0;
    return left > cap ? cap : static_cast<int>(left);
  }
};

}  // namespace dtrain
