// Deadlines: every wait in the core is bounded by one.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace dtrain {

using Clock = std::chrono::steady_clock;

struct Deadline {
  Clock::time_point at;
  static Deadline after(double seconds) { return after(seconds, Clock::now()); }
  // `seconds` from `from` (a time the caller has read already).
  static Deadline after(double seconds, Clock::time_point from) {
    // Beyond about 292 years the clock's nanosecond count would overflow (and the deadline
    // pass at once): treat anything over 100 years as "no deadline" of 100 years.
    constexpr double kMax = 100.0 * 365 * 24 * 3600;
    if (!(seconds < kMax)) seconds = kMax;
    return {from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))};
  }
  bool passed() const { return Clock::now() >= at; }
  // Milliseconds left, clamped to [0, cap].
  int msLeft(int cap) const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now()).count();
    if (left < 0) return 0;
    return left > cap ? cap : static_cast<int>(left);
  }
  // Time left, clamped to [0, capMs] milliseconds, as a relative timespec for futex and ppoll:
  // a deadline less than a millisecond away is slept until, not polled for (msLeft gives 0).
  timespec timespecLeft(int capMs) const {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(at - Clock::now()).count();
    const long long cap = static_cast<long long>(capMs) * 1000000;
    if (left < 0) left = 0;
    if (left > cap) left = cap;
    return {static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
  }
};

}  // namespace dtrain
