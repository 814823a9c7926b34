// Named collective algorithms, the schedule each generates, and `auto`'s choice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sched/schedule.h"

namespace dtrain {

// Values are part of the binding's ABI and of the descriptor ranks compare.
enum class Algorithm : uint8_t {
  kAuto = 0,
  kRing = 1,
  kHalvingDoubling = 2,
  kBinaryBlocks = 3,
  kRecursiveDoubling = 4,
  kHierarchical = 5,
};

// An all-reduce algorithm, and for hierarchical the one its group leaders run. Encoded in one
// byte (low 4 bits: algorithm, high 4 bits: inner) for the binding and the descriptor.
struct AlgorithmChoice {
  Algorithm algo = Algorithm::kAuto;
  Algorithm inner = Algorithm::kAuto;
  uint8_t encode() const { return static_cast<uint8_t>(algo) | static_cast<uint8_t>(inner) << 4; }
  static AlgorithmChoice decode(uint8_t v) {
    return {static_cast<Algorithm>(v & 15), static_cast<Algorithm>(v >> 4)};
  }
  std::string name() const;
};

const char* algorithmName(Algorithm a);
// "ring", "halving-doubling", "binary-blocks", "recursive-doubling", "hierarchical",
// "hierarchical:<inner>", "auto". Throws Error(kInvalidArgument) listing the known names.
AlgorithmChoice parseAlgorithm(const std::string& name);
// The names parseAlgorithm accepts (for `dtrain info` and errors).
std::vector<std::string> algorithmNames();

// Ranks' group ids (hosts), for hierarchical; empty = every rank its own group.
using Topology = std::vector<int>;

// The all-reduce schedule for one rank. `choice` must not be auto (see chooseAllreduce).
Schedule allreduceSchedule(AlgorithmChoice choice, int rank, int size, size_t count,
                           const Topology& topo);

}  // namespace dtrain
