// Runs one schedule per rank as threads over the in-memory transport.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "check.h"
#include "engine/executor.h"
#include "sched/algorithm.h"
#include "transport/mem_transport.h"

namespace dtrain_test {

// One rank's schedule of `kind` by the registered algorithm `name` ("ring", "hierarchical:ring").
inline dtrain::Schedule scheduleOf(const char* name, dtrain::OpKind kind, int rank, int size,
                                   size_t count, const dtrain::Topology& topo = {}) {
  dtrain::ScheduleArgs a;
  a.rank = rank;
  a.size = size;
  a.count = count;
  a.topology = &topo;
  return dtrain::scheduleFor(kind, dtrain::parseAlgorithm(name, kind), a);
}

// Calls fn(rank, transport) on `p` threads sharing one MemHub; an exception fails the test.
template <typename Fn>
void onEveryRank(int p, Fn fn) {
  auto hub = std::make_shared<dtrain::MemHub>(p);
  std::vector<std::thread> threads;
  for (int r = 0; r < p; ++r) {
    threads.emplace_back([&, r] {
      dtrain::MemTransport t(hub, r);
      try {
        fn(r, t);
      } catch (const std::exception& e) {
        CHECK(false, "rank %d threw: %s", r, e.what());
      }
    });
  }
  for (auto& th : threads) th.join();
}

}  // namespace dtrain_test
