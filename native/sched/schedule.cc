#include "sched/schedule.h"

namespace dtrain {

size_t Schedule::elementsSent() const {
  size_t n = 0;
  for (const Round& r : rounds)
    for (const Step& s : r.steps)
      if (s.kind == StepKind::kSend) n += s.src.count;
  return n;
}

void appendRounds(Schedule& s, Schedule&& more) {
  for (Round& r : more.rounds) s.rounds.push_back(std::move(r));
  if (more.scratchElems > s.scratchElems) s.scratchElems = more.scratchElems;
}

Chunk spanOf(const std::vector<Chunk>& chunks, size_t lo, size_t hi) {
  if (lo >= hi) return Chunk{chunks.empty() ? BufferId::kData : chunks[0].buffer, 0, 0};
  return Chunk{chunks[lo].buffer, chunks[lo].offset,
               chunks[hi - 1].offset + chunks[hi - 1].count - chunks[lo].offset};
}

std::vector<Chunk> splitEven(size_t count, int parts, BufferId buffer, size_t base) {
  std::vector<Chunk> out(parts);
  size_t q = count / parts, r = count % parts, off = base;
  for (int i = 0; i < parts; ++i) {
    size_t n = q + (static_cast<size_t>(i) < r ? 1 : 0);
    out[i] = {buffer, off, n};
    off += n;
  }
  return out;
}

}  // namespace dtrain
