// Waiting for another thread or process: poll with pause, then yield the core, then let the
// caller block. On a machine with fewer cores than busy threads, a waiter that only spins
// starves the thread it waits for; one that blocks at once pays a futex wake (~10 us) on
// every hand-off.
#pragma once

#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace dtrain {

class Backoff {
 public:
  // `spins`: polls with pause before yielding. Worth raising when every waiter has a core of
  // its own, as MPI libraries do: then the peer is running and a poll finds its data soonest.
  explicit Backoff(int spins = kDefaultSpins) : spins_(spins) {}
  static constexpr int kDefaultSpins = 200;

  // True while the caller should poll again; false when it is time to block.
  bool next() {
    ++n_;
    if (n_ < spins_) {
#if defined(__x86_64__) || defined(__i386__)
      _mm_pause();
#endif
      return true;
    }
    if (n_ < spins_ + kYields) {
      sched_yield();
      return true;
    }
    return false;
  }
  void reset() { n_ = 0; }

 private:
  static constexpr int kYields = 50;
  int spins_;
  int n_ = 0;
};

}  // namespace dtrain
