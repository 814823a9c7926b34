#include "engine/executor.h"

#include <cstring>

#include "common/error.h"
#include "kernels/cpu/reduce.h"

namespace dtrain {

namespace {
uint8_t* resolve(const Buffers& b, const Chunk& c, size_t es) {
  uint8_t* base = c.buffer == BufferId::kData    ? b.data
                  : c.buffer == BufferId::kInput ? const_cast<uint8_t*>(b.input)
                                                 : b.scratch;
  return base + c.offset * es;
}
}  // namespace

void Executor::run(const Schedule& s, Transport& t, const Buffers& bufs, DType dtype,
                   ReduceOp op, const Deadline& deadline, AbortWatch* abort) {
  const size_t es = dtypeSize(dtype);
  Buffers b = bufs;
  if (s.scratchElems) {
    if (snapshot_.size() < s.scratchElems * es) snapshot_.resize(s.scratchElems * es);
    b.scratch = snapshot_.data();
  }
  for (const Round& round : s.rounds) {
    size_t staging = 0;
    for (const Step& st : round.steps) {
      if (st.kind == StepKind::kCopy) {
        std::memmove(resolve(b, st.dst, es), resolve(b, st.src, es), st.src.count * es);
      } else if (st.kind == StepKind::kRecvReduce) {
        staging += st.dst.count * es;
      }
    }
    if (scratch_.size() < staging) scratch_.resize(staging);
    transfers_.clear();
    size_t stagingOff = 0;
    for (const Step& st : round.steps) {
      switch (st.kind) {
        case StepKind::kCopy:
        case StepKind::kReduce:
          break;
        case StepKind::kSend:
          transfers_.push_back({Transfer::kSend, st.peer, resolve(b, st.src, es),
                                st.src.count * es, es, {}});
          break;
        case StepKind::kRecv:
          transfers_.push_back({Transfer::kRecv, st.peer, resolve(b, st.dst, es),
                                st.dst.count * es, es, {}});
          break;
        case StepKind::kRecvReduce: {
          uint8_t* dst = resolve(b, st.dst, es);
          Sink sink = [dst, dtype, op, es](const uint8_t* src, size_t offset, size_t n) {
            reduceInto(dtype, op, dst + offset, src, n / es);
          };
          transfers_.push_back({Transfer::kRecv, st.peer, scratch_.data() + stagingOff,
                                st.dst.count * es, es, std::move(sink)});
          stagingOff += st.dst.count * es;
          break;
        }
      }
    }
    if (!transfers_.empty()) t.run(transfers_, deadline, abort);
    for (const Step& st : round.steps) {
      if (st.kind == StepKind::kReduce) {
        reduceInto(dtype, op, resolve(b, st.dst, es), resolve(b, st.src, es), st.src.count);
      }
    }
  }
}

}  // namespace dtrain
