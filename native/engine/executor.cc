#include "engine/executor.h"

#include <cstring>

#include "common/error.h"

namespace dtrain {

namespace {
uint8_t* resolve(const Buffers& b, const Chunk& c, size_t es) {
  uint8_t* base = c.buffer == BufferId::kData    ? b.data
                  : c.buffer == BufferId::kInput ? const_cast<uint8_t*>(b.input)
                                                 : b.scratch;
  return base + c.offset * es;
}
}  // namespace

void Executor::run(const Schedule& s, Transport& t, const Buffers& bufs, DType dtype, ReduceOp op,
                   const Deadline& deadline, AbortWatch* abort) {
  own_.round = 0;
  own_.inRound = false;
  resume(s, t, bufs, dtype, op, deadline, deadline, abort, &own_);
}

bool Executor::resume(const Schedule& s, Transport& t, const Buffers& bufs, DType dtype,
                      ReduceOp op, const Deadline& deadline, const Deadline& soft,
                      AbortWatch* abort, ExecState* state) {
  const size_t es = dtypeSize(dtype);
  Buffers b = bufs;
  if (s.scratchElems) {
    // Only grows, so a resumed run finds its scratch where it left it.
    if (snapshot_.size() < s.scratchElems * es) snapshot_.resize(s.scratchElems * es);
    b.scratch = snapshot_.data();
  }
  const bool softer = soft.at < deadline.at;
  std::vector<Transfer>& transfers = state->transfers;
  for (; state->round < s.rounds.size(); ++state->round) {
    const Round& round = s.rounds[state->round];
    if (!state->inRound) {
      size_t staging = 0;
      for (const Step& st : round.steps) {
        if (st.kind == StepKind::kCopy) {
          std::memmove(resolve(b, st.dst, es), resolve(b, st.src, es), st.src.count * es);
        } else if (st.kind == StepKind::kRecvReduce) {
          staging += st.dst.count * es;
        }
      }
      if (scratch_.size() < staging) scratch_.resize(staging);
      transfers.clear();
      size_t stagingOff = 0;
      for (const Step& st : round.steps) {
        switch (st.kind) {
          case StepKind::kCopy:
          case StepKind::kReduce:
            break;
          case StepKind::kSend:
            transfers.push_back(
                {Transfer::kSend, st.peer, resolve(b, st.src, es), st.src.count * es, es, {}});
            break;
          case StepKind::kRecv:
            transfers.push_back(
                {Transfer::kRecv, st.peer, resolve(b, st.dst, es), st.dst.count * es, es, {}});
            break;
          case StepKind::kRecvReduce: {
            uint8_t* dst = resolve(b, st.dst, es);
            const Reducer& red = reducer_;
            Sink sink = [&red, dst, dtype, op, es](const uint8_t* src, size_t offset, size_t n) {
              red.reduce(dtype, op, dst + offset, src, n / es);
            };
            transfers.push_back({Transfer::kRecv, st.peer, scratch_.data() + stagingOff,
                                 st.dst.count * es, es, std::move(sink)});
            stagingOff += st.dst.count * es;
            break;
          }
        }
      }
      state->inRound = true;
    }
    if (!transfers.empty()) {
      try {
        t.run(transfers, softer ? soft : deadline, abort);
      } catch (const Error& e) {
        // Peers slower than the caller can wait for: the transfers keep their progress.
        if (e.code() == ErrorCode::kTimeout && softer && !deadline.passed()) return false;
        throw;
      }
      // Counted once the round's transfers are all done (a resumed round counts when it ends).
      uint64_t sent = 0;
      for (const Transfer& tr : transfers) sent += tr.kind == Transfer::kSend ? tr.bytes : 0;
      bytesSent_.fetch_add(sent, std::memory_order_relaxed);
    }
    for (const Step& st : round.steps) {
      if (st.kind == StepKind::kReduce) {
        reducer_.reduce(dtype, op, resolve(b, st.dst, es), resolve(b, st.src, es), st.src.count);
      }
    }
    state->inRound = false;
  }
  return true;
}

}  // namespace dtrain
