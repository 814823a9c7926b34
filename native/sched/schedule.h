// The schedule IR: a collective algorithm written once, as data. A schedule is the list of
// steps one rank performs, grouped into rounds: the steps of a round run concurrently, and a
// round starts when the previous one has finished on this rank (its dependencies). Executors
// run the same schedule over a real transport (engine/executor), over threads in one process
// (tests), or against a network model (the simulator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dtrain {

// Buffers a step may name. kData is the collective's in/out buffer; kInput the separate input
// of all-gather; kScratch a buffer of Schedule::scratchElems the executor provides (for
// algorithms that send a vector while reducing into it, such as recursive doubling).
enum class BufferId : uint8_t { kData = 0, kInput = 1, kScratch = 2 };

struct Chunk {
  BufferId buffer = BufferId::kData;
  size_t offset = 0;  // in elements
  size_t count = 0;   // in elements
};

enum class StepKind : uint8_t {
  kSend,        // send `src` to `peer`
  kRecv,        // receive from `peer` into `dst`
  kRecvReduce,  // receive from `peer` and reduce into `dst` (dst = dst op incoming)
  kCopy,        // local copy src -> dst, done before the round's transfers
  kReduce,      // local dst = dst op src, done after the round's transfers
};

struct Step {
  StepKind kind;
  int peer = -1;
  Chunk src;
  Chunk dst;
};

struct Round {
  std::vector<Step> steps;
};

struct Schedule {
  std::string algorithm;
  int rank = 0;
  int size = 1;
  std::vector<Round> rounds;
  size_t scratchElems = 0;

  size_t elementsSent() const;
};

// Appends `more`'s rounds after `s`'s (a later phase of the same collective).
void appendRounds(Schedule& s, Schedule&& more);

// The contiguous chunk covering chunks[lo, hi).
Chunk spanOf(const std::vector<Chunk>& chunks, size_t lo, size_t hi);

// Splits `count` elements into `parts` near-equal contiguous chunks (the first count % parts
// chunks one element longer).
std::vector<Chunk> splitEven(size_t count, int parts, BufferId buffer = BufferId::kData,
                             size_t base = 0);

}  // namespace dtrain
