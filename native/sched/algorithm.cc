#include "sched/algorithm.h"

#include "common/error.h"
#include "sched/ring.h"

namespace dtrain {

const char* algorithmName(Algorithm a) {
  switch (a) {
    case Algorithm::kAuto: return "auto";
    case Algorithm::kRing: return "ring";
  }
  return "?";
}

Algorithm parseAlgorithm(const std::string& name) {
  if (name.empty() || name == "auto") return Algorithm::kAuto;
  if (name == "ring") return Algorithm::kRing;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown all-reduce algorithm '" + name + "'; known: auto, ring");
}

Schedule allreduceSchedule(Algorithm a, int rank, int size, size_t count) {
  switch (a) {
    case Algorithm::kAuto:
    case Algorithm::kRing:
      return ringAllreduce(rank, size, count);
  }
  return ringAllreduce(rank, size, count);
}

}  // namespace dtrain
