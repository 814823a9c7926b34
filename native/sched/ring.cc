#include "sched/ring.h"

namespace dtrain {

namespace {
int mod(int a, int p) { return ((a % p) + p) % p; }
}  // namespace

Schedule ringReduceScatter(int rank, int size, size_t count) {
  Schedule s{"ring", rank, size, {}};
  if (size == 1 || count == 0) return s;
  const int right = mod(rank + 1, size), left = mod(rank - 1, size);
  std::vector<Chunk> chunks = splitEven(count, size);
  // After round k, chunk (rank - k - 2) holds the partial sum of k + 2 ranks; rank r
  // finishes chunk r.
  for (int k = 0; k < size - 1; ++k) {
    Round r;
    r.steps.push_back({StepKind::kSend, right, chunks[mod(rank - k - 1, size)], {}});
    r.steps.push_back({StepKind::kRecvReduce, left, {}, chunks[mod(rank - k - 2, size)]});
    s.rounds.push_back(std::move(r));
  }
  return s;
}

Schedule ringAllgatherInPlace(int rank, int size, size_t count) {
  Schedule s{"ring", rank, size, {}};
  if (size == 1 || count == 0) return s;
  const int right = mod(rank + 1, size), left = mod(rank - 1, size);
  std::vector<Chunk> chunks = splitEven(count, size);
  for (int k = 0; k < size - 1; ++k) {
    Round r;
    r.steps.push_back({StepKind::kSend, right, chunks[mod(rank - k, size)], {}});
    r.steps.push_back({StepKind::kRecv, left, {}, chunks[mod(rank - k - 1, size)]});
    s.rounds.push_back(std::move(r));
  }
  return s;
}

Schedule ringAllreduce(int rank, int size, size_t count) {
  Schedule s = ringReduceScatter(rank, size, count);
  appendRounds(s, ringAllgatherInPlace(rank, size, count));
  return s;
}

Schedule ringAllgather(int rank, int size, size_t count) {
  Schedule s{"ring", rank, size, {}};
  if (count == 0) return s;
  auto block = [&](int r) { return Chunk{BufferId::kData, static_cast<size_t>(r) * count, count}; };
  Round first;
  first.steps.push_back({StepKind::kCopy, -1, {BufferId::kInput, 0, count}, block(rank)});
  s.rounds.push_back(std::move(first));
  const int right = mod(rank + 1, size), left = mod(rank - 1, size);
  for (int k = 0; k < size - 1; ++k) {
    Round r;
    r.steps.push_back({StepKind::kSend, right, block(mod(rank - k, size)), {}});
    r.steps.push_back({StepKind::kRecv, left, {}, block(mod(rank - k - 1, size))});
    s.rounds.push_back(std::move(r));
  }
  return s;
}

}  // namespace dtrain
